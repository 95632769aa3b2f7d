"""Reliability of kcovd and kcov-collect under failure (issue 9):

- crash durability: pushers (direct POSTs of wire frames, and the real
  kcov-collect over the KCOV stand-in) keep pushing while kcovd is killed
  with SIGKILL at random moments and restarted, 100 times. Afterwards every
  acknowledged report is there, nothing is counted twice, coverage is the
  union of the reports, and the database passes PRAGMA integrity_check;
- collector crash: `kcov-collect push` is SIGKILLed at random points while
  it delivers a spool; pushing again delivers every report exactly once;
- outage: a fleet of `kcov-collect push --watch` collectors keeps running
  workloads while kcovd is down; afterwards every report arrived once;
- disk full: with --max-db-size kcovd answers 503 with a message, keeps
  serving reads, nothing half-written is visible, and once there is room
  again (restart with a larger cap) everything is delivered exactly once.
  When the test runs as root and can mount a tmpfs, the same is checked on
  a real full file system (ENOSPC), recovering without a restart.

Figures are printed as "figure NAME VALUE" lines (docs/reliability.md).
"""
import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time

from kcovlib import (ASAN_ENV, BACKEND, COLLECT, KERNEL, Machine, Server, check, expected,
                     free_port, run_tests, sanitizer_report, skipped, started, tmpdir)
import wiregen


BUILD = KERNEL["build_id"]
KILLS = int(os.environ.get("KC_RELIABILITY_KILLS", "100"))
FIGURES = {}


def figure(name, value):
    FIGURES[name] = value
    print("figure %s %s" % (name, value), flush=True)


def post(port, path, body, token, timeout=30):
    """(status, parsed JSON or None); status None when the server is not
    reachable or the connection broke (killed server)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body,
                     headers={"Content-Type": "application/x-kcov",
                              "Authorization": "Bearer " + token})
        r = conn.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, None
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()


class Pusher(threading.Thread):
    """Pushes fresh synthetic reports of one machine, each with its own
    random vmlinux PCs, and re-sends a report until it gets a 2xx, as a
    collector does. Records what was acknowledged."""

    def __init__(self, srv, token, machine, max_reports=3000, keep_refused=False, npcs=(5, 60)):
        super().__init__(daemon=True)
        self.keep_refused = keep_refused  # on 503 keep the report aside and go on
        self.refused = []                 # (uid, frame, offsets) answered 503
        self.npcs = npcs
        self.srv, self.token, self.machine = srv, token, machine
        self.boot = "%08x-0000-4000-8000-%012x" % (random.getrandbits(32), random.getrandbits(48))
        self.max_reports = max_reports
        self.acked = {}          # upload id -> offsets
        self.duplicates = 0      # acks that said duplicate: committed before a kill
        self.retries = 0         # attempts that failed (server down, broken connection, 503)
        self.errors = []         # unexpected answers
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def send_map(self):
        status, body = post(self.srv.port, "/api/v1/boots",
                            wiregen.addrmap(self.machine, self.boot, BUILD), self.token)
        check(status == 200, "address map of %s: %s %s" % (self.machine, status, body))

    def count(self):
        with self.lock:
            return len(self.acked)

    def run(self):
        rng = random.Random()
        while not self.stop.is_set() and len(self.acked) < self.max_reports:
            offsets = set(rng.randrange(wiregen.TEXT_SIZE) for _ in range(rng.randint(*self.npcs)))
            uid, frame = wiregen.report(self.machine, self.boot, offsets)
            while True:
                status, body = post(self.srv.port, "/api/v1/reports", frame, self.token)
                if status == 200:
                    with self.lock:
                        self.acked[uid] = offsets
                        self.duplicates += bool(body and body.get("duplicate"))
                    break
                if status == 503 and self.keep_refused:
                    with self.lock:
                        self.refused.append((uid, frame, offsets))
                    break
                if status is None or status == 503:
                    self.retries += 1
                    time.sleep(0.01)  # back off, then re-send the same report
                    continue
                self.errors.append((status, body))
                return


class CollectorLoop(threading.Thread):
    """The real kcov-collect: run a workload (spooled), try to push the spool
    once, repeat. Pushes fail while kcovd is down; the spool keeps them."""

    SYSCALLS = ["read", "open", "sendmsg"]

    def __init__(self, srv, token):
        super().__init__(daemon=True)
        self.srv, self.token = srv, token
        self.m = Machine("crash-collector", 0x0A400000,
                         {"standin_net": 0xFFFFFFFFC0230000, "standin_fs": 0xFFFFFFFFC0120000},
                         "cccccccc-0000-4000-8000-00000000000c")
        self.runs = 0
        self.stop = threading.Event()

        self.error = None  # what ended the loop early, checked by finish()

    def run(self):
        try:
            while not self.stop.is_set():
                self.m.run(self.SYSCALLS)
                self.runs += 1
                self.m.push(self.srv.url, self.token, extra=["--max-attempts", "1"])
        except Exception as e:  # noqa: BLE001 - handed to the test by finish()
            self.error = "%s: %s" % (type(e).__name__, e)

    def check_alive(self):
        """Fail when the loop died before it was asked to stop."""
        check(self.error is None and (self.is_alive() or self.stop.is_set()),
              "kcov-collect loop died mid-test: %s" % self.error)

    def finish(self):
        self.stop.set()
        self.join(120)
        check(not self.is_alive(), "the kcov-collect loop did not finish")
        check(self.error is None, "kcov-collect loop failed: %s" % self.error)
        check(self.runs > 0, "the kcov-collect loop never ran")

    def drain(self):
        self.m.delivered(self.srv.url, self.token, extra=["--max-attempts", "10"])


def machines_of(srv):
    return {m["name"]: m for m in srv.get("/api/v1/machines")["machines"]}


def stored_ids(srv, machine):
    reps = srv.get("/api/v1/reports?machine=%s&limit=10000" % machine)["reports"]
    return [r["upload_id"] for r in reps]


def integrity(srv):
    """SQLite: PRAGMA integrity_check of the file the killed kcovd wrote.
    PostgreSQL: a SIGKILLed kcovd is only a client that went away, the
    server keeps its pages (its own crash safety, not ours to re-check);
    what is checked is that the database still answers a read of the
    reports, and the exactly-once checks below run the same on both."""
    if srv.db:
        srv.query("SELECT count(*) FROM reports")
        return "ok"
    return srv.query("PRAGMA integrity_check")[0][0]


def check_pushers(srv, pushers, extra_vmlinux=frozenset()):
    """Every acknowledged report present exactly once, counts and coverage
    equal to what was acknowledged."""
    machines = machines_of(srv)
    want_cov = set(extra_vmlinux)
    for p in pushers:
        check(not p.errors, "%s got unexpected answers: %s" % (p.machine, p.errors[:3]))
        ids = stored_ids(srv, p.machine)
        check(len(ids) == len(set(ids)), "%s: an upload id is stored twice" % p.machine)
        missing = set(p.acked) - set(ids)
        check(not missing, "%s: %d acknowledged reports lost, e.g. %s"
              % (p.machine, len(missing), sorted(missing)[:3]))
        check(set(ids) == set(p.acked), "%s: %d stored reports were never acknowledged"
              % (p.machine, len(set(ids) - set(p.acked))))
        m = machines[p.machine]
        check(m["reports"] == len(p.acked),
              "%s: report count %d, acknowledged %d" % (p.machine, m["reports"], len(p.acked)))
        pcs = sum(len(o) for o in p.acked.values())
        check(m["pcs"] == pcs, "%s: %d PCs counted, %d acknowledged" % (p.machine, m["pcs"], pcs))
        for offs in p.acked.values():
            want_cov |= offs
    got = srv.pcs(BUILD).get("vmlinux", set())
    check(got == want_cov, "coverage differs from the union of the reports: %d missing, %d extra"
          % (len(want_cov - got), len(got - want_cov)))


def test_sigkill_durability():
    srv = Server().start()
    started(srv)
    tok = srv.token()
    pushers = [Pusher(srv, tok, "crash-%d" % i) for i in range(4)]
    for p in pushers:
        p.send_map()
    collector = CollectorLoop(srv, tok)
    for t in pushers + [collector]:
        t.start()
    rng = random.Random()
    survived = 0
    for k in range(KILLS):
        # Let every pusher get at least one report through this incarnation,
        # then kill at a random moment of the ingest stream.
        base = [p.count() for p in pushers]
        deadline = time.time() + 60
        while any(p.count() <= b for p, b in zip(pushers, base)):
            check(time.time() < deadline, "pushers made no progress after restart %d" % k)
            check(all(p.is_alive() or p.errors == [] for p in pushers), "a pusher failed")
            collector.check_alive()
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))
        snapshot = {p.machine: p.count() for p in pushers}
        srv.kill()
        check(integrity(srv) == "ok", "integrity_check after kill %d: %s" % (k + 1, integrity(srv)))
        srv.start()
        survived += 1
        machines = machines_of(srv)
        for name, n in snapshot.items():
            check(machines[name]["reports"] >= n, "after kill %d: %s has %d reports, %d were "
                  "acknowledged before the kill" % (k + 1, name, machines[name]["reports"], n))
    for t in pushers:
        t.stop.set()
    collector.finish()
    for t in pushers:
        t.join(120)
        check(not t.is_alive(), "a pusher did not finish")
    collector.drain()
    # One more crash, then look at the file as SQLite recovers it.
    srv.kill()
    check(integrity(srv) == "ok", "integrity_check: %s" % integrity(srv))
    srv.start()
    want = expected(CollectorLoop.SYSCALLS)
    check_pushers(srv, pushers, want["vmlinux"])
    got = srv.pcs(BUILD)
    for mod in ("standin_net", "standin_fs"):
        check(got.get(mod, set()) == want.get(mod, set()), "%s coverage differs" % mod)
    col = machines_of(srv)["crash-collector"]
    check(col["reports"] == collector.runs, "kcov-collect: %d runs, %d reports stored"
          % (collector.runs, col["reports"]))
    figure("sigkill_kills_survived", survived)
    figure("sigkill_reports_acknowledged", sum(len(p.acked) for p in pushers) + collector.runs)
    figure("sigkill_acks_as_duplicate_after_crash", sum(p.duplicates for p in pushers))
    figure("sigkill_failed_attempts_retried", sum(p.retries for p in pushers))
    figure("sigkill_collector_reports", collector.runs)
    figure("sigkill_reports_lost", 0)
    srv.stop()
    collector.m.cleanup()


def test_collector_killed_mid_push():
    """kcov-collect push killed with SIGKILL at random moments while it
    delivers a spool of 30 reports, then run again, until the spool is
    empty: every report stored exactly once, none left behind."""
    srv = Server().start()
    started(srv)
    tok = srv.token()
    m = Machine("killed-pusher", 0x1E000000, {"standin_net": 0xFFFFFFFFC0010000,
                                              "standin_fs": 0xFFFFFFFFC0040000},
                "99999999-0000-4000-8000-000000000099")
    calls = [["read"], ["open"], ["stat"], ["sendmsg"], ["close"], ["mmap"]]
    for i in range(30):
        m.run(calls[i % len(calls)])
    rng = random.Random()
    kills = 0
    while m.reports() and kills < 200:
        p = started(subprocess.Popen(
            [COLLECT, "push", "--spool", m.spool, "--server", srv.url,
             "--token", tok], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={"ASAN_OPTIONS": ASAN_ENV, **os.environ}))
        # Kill it once it has delivered 0..3 more reports (polling the spool),
        # i.e. at a random point of its work.
        target = len(m.reports()) - rng.randint(0, 3)
        while p.poll() is None and len(m.reports()) > target:
            time.sleep(0.0005)
        if p.poll() is None:
            p.kill()
            kills += 1
        _, err = p.communicate()
        check(sanitizer_report(err) is None, "kcov-collect push: " + str(sanitizer_report(err)))
    p = m.push(srv.url, tok)
    check(p.returncode == 0 and m.reports() == [], "spool not drained: " + p.stderr[-300:])
    check(not os.path.isdir(os.path.join(m.spool, "rejected")) or
          not os.listdir(os.path.join(m.spool, "rejected")), "reports were rejected")
    mach = machines_of(srv)["killed-pusher"]
    check(kills >= 5, "only %d pushes were killed mid-way" % kills)
    check(mach["reports"] == 30, "30 reports spooled, %d stored" % mach["reports"])
    figure("collector_push_reports_delivered_once", 30)
    ids = stored_ids(srv, "killed-pusher")
    check(len(ids) == len(set(ids)) == 30, "stored upload ids: %d" % len(ids))
    check(srv.pcs(BUILD) == expected(sorted({c for cs in calls for c in cs})),
          "coverage differs from the workloads")
    figure("collector_push_kills", kills)
    srv.stop()
    m.cleanup()


def test_outage_fleet():
    port = free_port()
    srv = Server(extra=["--listen", "127.0.0.1:%d" % port]).start()
    started(srv)
    tok = srv.token()
    fleet = []
    for i in range(4):
        m = Machine("fleet-%d" % i, 0x1E000000 + i * 0x200000,
                    {"standin_net": 0xFFFFFFFFC0010000 + i * 0x100000,
                     "standin_fs": 0xFFFFFFFFC0040000 + i * 0x100000},
                    "dddddddd-0000-4000-8000-%012d" % i)
        os.makedirs(m.spool)
        w = subprocess.Popen([COLLECT, "push", "--spool", m.spool,
                              "--server", srv.url, "--token", tok, "--watch",
                              "--interval", "0.2", "--backoff", "0.05"],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(m.dir, "push.log"), "wb"),
                             env={"ASAN_OPTIONS": ASAN_ENV, **os.environ})
        started(w)
        fleet.append((m, w))
    workloads = [["read"], ["open", "stat"], ["sendmsg"], ["write", "close"]]
    runs = {m.name: 0 for m, _ in fleet}
    syscalls = set()

    def work(rounds):
        for r in range(rounds):
            for i, (m, _) in enumerate(fleet):
                calls = workloads[(i + r) % len(workloads)]
                m.run(calls)
                runs[m.name] += 1
                syscalls.update(calls)

    def wait_delivered(what):
        deadline = time.time() + 120
        while any(m.reports() for m, _ in fleet):
            check(time.time() < deadline, "%s: spools not drained: %s"
                  % (what, {m.name: len(m.reports()) for m, _ in fleet}))
            time.sleep(0.1)

    work(2)
    wait_delivered("before the outage")
    srv.kill()
    work(3)  # kcovd is down: every report stays spooled
    spooled = sum(len(m.reports()) for m, _ in fleet)
    check(spooled == 3 * len(fleet), "spooled during the outage: %d" % spooled)
    # Down for a while longer, then back on the same address.
    time.sleep(2)
    srv.start()
    work(1)
    wait_delivered("after the outage")
    for m, w in fleet:
        log = lambda: open(os.path.join(m.dir, "push.log"), errors="replace").read()
        check(w.poll() is None, "%s: push --watch exited: %s" % (m.name, log()[-300:]))
        w.terminate()
        w.wait(30)
        # --watch has no exit of its own: SIGTERM ends it (status -15)
        check(w.returncode == -signal.SIGTERM and sanitizer_report(log()) is None,
              "%s: push --watch exit %d on SIGTERM: %s" % (m.name, w.returncode,
                                                          sanitizer_report(log()) or log()[-300:]))
    machines = machines_of(srv)
    for m, _ in fleet:
        check(machines[m.name]["reports"] == runs[m.name],
              "%s: %d runs, %d reports stored" % (m.name, runs[m.name], machines[m.name]["reports"]))
        check(not os.listdir(os.path.join(m.spool, "rejected"))
              if os.path.isdir(os.path.join(m.spool, "rejected")) else True,
              "%s: reports rejected" % m.name)
    check(srv.pcs(BUILD) == expected(sorted(syscalls)), "fleet coverage differs from the workloads")
    figure("outage_reports_delivered", sum(runs.values()))
    figure("outage_reports_spooled_while_down", spooled)
    srv.stop()
    for m, _ in fleet:
        m.cleanup()


def fill_until_full(srv, pusher_machine, boot, tok, limit=5000):
    """Push fresh reports until the server answers 503, then smaller and
    smaller ones until even a one-PC report is refused (a real disk also
    takes small writes after refusing big ones). Returns the acknowledged
    {uid: offsets}, the refused [(uid, frame, offsets)] and the first 503
    body."""
    acked, refused, first = {}, [], None
    rng = random.Random(7)
    for size in (400, 50, 5, 1):
        for _ in range(limit):
            offsets = set(rng.randrange(wiregen.TEXT_SIZE) for _ in range(size))
            uid, frame = wiregen.report(pusher_machine, boot, offsets)
            status, body = post(srv.port, "/api/v1/reports", frame, tok)
            if status == 200:
                acked[uid] = offsets
                continue
            check(status == 503, "while filling: %s %s" % (status, body))
            refused.append((uid, frame, offsets))
            first = first or body
            break
        else:
            raise AssertionError("the database never filled up")
    return acked, refused, first


def test_disk_full_cap():
    srv = Server(extra=["--max-db-size", "2"]).start()
    started(srv)
    tok = srv.token()
    boot = "eeeeeeee-0000-4000-8000-00000000000e"
    status, _ = post(srv.port, "/api/v1/boots", wiregen.addrmap("full", boot, BUILD), tok)
    check(status == 200, "address map: %s" % status)
    m = Machine("full-collector", 0x1E000000, {"standin_net": 0xFFFFFFFFC0010000,
                                               "standin_fs": 0xFFFFFFFFC0040000},
                "ffffffff-0000-4000-8000-00000000000f")
    m.run(["read"])
    m.delivered(srv.url, tok)  # before the disk is full
    acked, refused, body = fill_until_full(srv, "full", boot, tok)
    check(body and "full" in body.get("error", ""), "503 without a disk-full message: %s" % body)
    # Full: more reports are refused, the collector keeps its spool, reads work.
    for _ in range(5):
        uid, frame = wiregen.report("full", boot, {random.randrange(wiregen.TEXT_SIZE)
                                                   for _ in range(400)})
        status, _ = post(srv.port, "/api/v1/reports", frame, tok)
        check(status == 503, "still full: %s" % status)
    # The collector keeps its report while the server refuses it. A refused
    # one-PC report of another machine does not prove that nothing fits: it
    # may have needed a fold of its union's delta rows, where the collector's
    # report only adds a small delta row. So the collector runs until one
    # report is refused; each one accepted before is stored and counted.
    runs = 1  # the run pushed before the disk was full
    for _ in range(20):
        m.run(["open", "stat"])
        runs += 1
        p = m.push(srv.url, tok, extra=["--max-attempts", "2"])
        if p.returncode != 0:
            break
        check(m.reports() == [], "accepted but kept: %s" % m.reports())
    check(p.returncode != 0 and len(m.reports()) == 1, "collector while full: %s %s"
          % (m.reports(), p.stderr[-300:]))
    figure("diskfull_cap_collector_reports_that_still_fit", runs - 2)
    check(srv.get("/healthz")["status"] == "ok", "healthz while full")
    before = machines_of(srv)["full"]
    check(before["reports"] == len(acked), "while full: %d stored, %d acknowledged"
          % (before["reports"], len(acked)))
    # Space returns: the same database with a larger cap.
    srv.stop()
    check(integrity(srv) == "ok", "integrity_check after disk full")
    srv.extra = ["--max-db-size", "256"]
    srv.start()
    for uid, frame, offsets in refused:
        status, body = post(srv.port, "/api/v1/reports", frame, tok)
        check(status == 200 and body["duplicate"] is False, "re-send after space returned: %s %s"
              % (status, body))
        acked[uid] = offsets
    m.delivered(srv.url, tok)  # after space returned
    pusher = Pusher(srv, tok, "full")
    pusher.acked = acked
    check_pushers(srv, [pusher], expected(["read", "open", "stat"])["vmlinux"])
    check(machines_of(srv)["full-collector"]["reports"] == runs,
          "collector reports not delivered once: %d of %d" % (
              machines_of(srv)["full-collector"]["reports"], runs))
    figure("diskfull_cap_reports_before_full", len(acked) - len(refused))
    figure("diskfull_cap_refused_then_delivered", len(refused))
    srv.stop()
    m.cleanup()


def test_disk_full_concurrent():
    """Concurrent pushers fill the capped database (group commits of several
    reports fail together); after space returns, every refused report is
    re-sent: all of them stored once, with all their coverage."""
    srv = Server(extra=["--max-db-size", "2"]).start()
    started(srv)
    tok = srv.token()
    pushers = [Pusher(srv, tok, "fullc-%d" % i, keep_refused=True, npcs=(100, 400))
               for i in range(4)]
    for p in pushers:
        p.send_map()
        p.start()
    deadline = time.time() + 240
    while any(len(p.refused) < 30 for p in pushers):
        check(time.time() < deadline, "the database never filled up")
        check(all(p.is_alive() for p in pushers), "a pusher stopped: %s"
              % [p.errors[:2] for p in pushers])
        time.sleep(0.05)
    for p in pushers:
        p.stop.set()
        p.join(60)
    srv.stop()
    check(integrity(srv) == "ok", "integrity_check after disk full")
    srv.extra = ["--max-db-size", "512"]
    srv.start()
    for p in pushers:
        for uid, frame, offsets in p.refused:
            status, body = post(srv.port, "/api/v1/reports", frame, tok)
            check(status == 200, "re-send after space returned: %s %s" % (status, body))
            p.acked[uid] = offsets
    check_pushers(srv, pushers)
    figure("diskfull_concurrent_refused_then_delivered", sum(len(p.refused) for p in pushers))
    figure("diskfull_concurrent_reports", sum(len(p.acked) for p in pushers))
    srv.stop()


def test_disk_full_tmpfs():
    """A real full file system: the data directory on a small tmpfs, filled
    up by a ballast file. Needs root (mount); reported as skipped otherwise."""
    mnt = tmpdir("kcovd-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0 and skipped("tmpfs", "cannot mount a tmpfs (%s)" % r.stderr.strip()):
        figure("diskfull_tmpfs", "skipped")
        return
    check(r.returncode == 0, "cannot mount a tmpfs (needs root; KC_SKIP=tmpfs skips this "
          "test): %s" % r.stderr.strip())
    try:
        srv = Server(data_dir=mnt).start()
        started(srv)
        tok = srv.token()
        boot = "abababab-0000-4000-8000-0000000000ab"
        status, _ = post(srv.port, "/api/v1/boots", wiregen.addrmap("tmpfs", boot, BUILD), tok)
        check(status == 200, "address map: %s" % status)
        # Fill the file system, leaving a little room, then push until 503.
        ballast = os.path.join(mnt, "ballast")
        st = os.statvfs(mnt)
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 256 * 1024))
        acked, refused, full = fill_until_full(srv, "tmpfs", boot, tok)
        check(full and "full" in full.get("error", ""), "503 without a disk-full message: %s"
              % full)
        check(srv.get("/healthz")["status"] == "ok", "healthz on a full disk")
        # Space returns, without a restart.
        os.unlink(ballast)
        for uid, frame, offsets in refused:
            status, body = post(srv.port, "/api/v1/reports", frame, tok)
            check(status == 200, "re-send after space returned: %s %s" % (status, body))
            acked[uid] = offsets
        for _ in range(20):
            offsets = {random.randrange(wiregen.TEXT_SIZE) for _ in range(100)}
            uid, frame = wiregen.report("tmpfs", boot, offsets)
            status, body = post(srv.port, "/api/v1/reports", frame, tok)
            check(status == 200, "after space returned: %s %s" % (status, body))
            acked[uid] = offsets
        pusher = Pusher(srv, tok, "tmpfs")
        pusher.acked = acked
        check_pushers(srv, [pusher])
        srv.kill()
        check(integrity(srv) == "ok", "integrity_check after ENOSPC")
        figure("diskfull_tmpfs_refused_then_delivered", len(refused))
        figure("diskfull_tmpfs_message", json.dumps(full.get("error")))
    finally:
        if 'srv' in locals():
            srv.stop()
            srv.log.close()
        subprocess.run(["umount", mnt], check=True)
        os.rmdir(mnt)


if __name__ == "__main__":
    tests = [test_sigkill_durability, test_collector_killed_mid_push, test_outage_fleet]
    # The disk-full tests are SQLite-only: --max-db-size caps the SQLite
    # file and the tmpfs holds it; a PostgreSQL server's disk is its own
    # (it refuses writes itself when full).
    if BACKEND == "pg":
        print("note: the disk-full tests are SQLite-only (--max-db-size, the data dir's file)",
              flush=True)
    else:
        tests += [test_disk_full_cap, test_disk_full_concurrent, test_disk_full_tmpfs]
    run_tests(tests)
