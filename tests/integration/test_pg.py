"""kcovd on PostgreSQL end to end (issue 19): `kcovd serve` with KCOVD_DB
set to a libpq URL of a throw-away server (pgserver.py), real
kcov-collect pushes over HTTP, and the database read back with psql.

- ingest: every pushed report is stored once, a re-push is a duplicate,
  the stored coverage is what the machine ran;
- the PostgreSQL server stopped (pg_ctl stop -m fast) and started again
  while pushers run: kcovd keeps running, ingest answers 503 meanwhile
  (the collector keeps the reports), and afterwards every report is
  stored exactly once without restarting kcovd;
- three kcovd nodes on one database, pushers spread over them, one node
  SIGKILLed at random moments and restarted (KC_PG_KILLS times, default
  30; KC_PG_PUSHERS pushers, default 32, the bar of issue 19): every
  report stored exactly once, and every node answers the same coverage,
  the union of what the machines ran;
- readers follow the other nodes: node B's cached coverage answers (the
  file query of an imported build, test_coverage.py's miniature kernel)
  take in what node A ingests within the poll interval of the database's
  generation (docs/scale-out.md), and a build A imports is B's at once;
  each node's /metrics names it (kcovd_node_info, its node_generations row);
- gc beside ingest: gc through node A, the command line and node B while B
  stores reports folding the same unions; every label's all-time coverage
  on both nodes is what was pushed;
- writers follow the other nodes: each node's writer keeps its decoded
  unions from one batch to the next only while no other node committed
  (the database's generation, docs/scale-out.md); reports for the same
  unions pushed to two nodes in turn are each stored at the first try
  (a writer that kept a stale union would write a delta row under a seq
  the other node took, and its batch would fail), and both nodes answer
  the union of what ran.
"""
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time

import kcovlib
from kcovlib import KERNEL, Machine, Server, check, expected, run_tests


def pg_count(sql):
    return int(kcovlib.pg_server().psql(sql).strip())


BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}


def machine(name, i):
    return Machine(name, 0x1E000000, BASES, "bbbbbbbb-0000-4000-8000-%012d" % i)


def test_ingest_and_duplicates():
    srv = Server(db=kcovlib.pg_database()).start()
    db = srv.db.rsplit("/", 1)[1]
    tok = srv.token()
    m = machine("pg-a", 1)
    try:
        m.run(["read", "write"])
        m.run(["open"])
        reps = m.reports()
        check(len(reps) == 2, "2 reports spooled: %s" % reps)
        m.delivered(srv.url, tok)
        pg = kcovlib.pg_server()
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        check(n == 2, "reports stored: %d, not 2" % n)
        # The same upload again (a collector that lost the answer): a
        # duplicate, nothing stored twice.
        m.run(["read"])
        name = m.reports()[0]
        data = open(os.path.join(m.spool, name), "rb").read()
        p = m.delivered(srv.url, tok)
        check(DELIVERED.search(p.stderr).groups() == ("1", "0"), p.stderr)
        with open(os.path.join(m.spool, name), "wb") as f:
            f.write(data)
        p = m.delivered(srv.url, tok)
        check(DELIVERED.search(p.stderr).groups() == ("1", "1"),
              "a re-sent upload is not a duplicate: " + p.stderr)
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        d = int(pg.psql_db(db, "SELECT count(DISTINCT upload_id) FROM reports").strip())
        check(n == 3 and d == 3, "after a re-push: %d rows, %d upload ids (want 3, 3)" % (n, d))
        # What the machine ran is the stored coverage.
        got = srv.pcs(KERNEL["build_id"])
        want = expected(["read", "write", "open"])
        check(got == want, "coverage on PostgreSQL %s, expected %s" % (got, want))
        h = srv.get("/healthz")
        check(h["status"] == "ok", "healthz: %s" % h)
    finally:
        srv.stop()
        m.cleanup()


DELIVERED = re.compile(r"delivered (\d+) report\(s\) \((\d+) duplicate\)")


def test_pg_restart_under_load():
    srv = Server(db=kcovlib.pg_database()).start()
    db = srv.db.rsplit("/", 1)[1]
    tok = srv.token()
    pg = kcovlib.pg_server()
    pid = srv.proc.pid
    stop = threading.Event()
    made = [0] * 4
    errors = []
    refused = [0]
    statuses = set()  # HTTP statuses the collector reported for failures
    machines = [machine("pg-load-%d" % i, 10 + i) for i in range(4)]

    def pusher(i):
        m = machines[i]
        try:
            while not stop.is_set():
                before = len(m.reports()) if os.path.isdir(m.spool) else 0
                m.run(["read"] if made[i] % 2 else ["write", "open"])
                check(len(m.reports()) == before + 1, "one report per run")
                made[i] += 1
                p = m.push(srv.url, tok)
                if p.returncode != 0:
                    refused[0] += 1
                statuses.update(re.findall(r"HTTP (\d{3})", p.stderr))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append("pusher %d: %s" % (i, e))

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        h = srv.get("/healthz")
        check(h["status"] == "ok" and h["database"] == "postgresql", "healthz: %s" % h)
        pg.stop_server()
        # /healthz reports the lost database (every call while it is down),
        # then recovers by itself once it is back.
        for _ in range(3):
            status, body = srv.request("GET", "/healthz")
            check(status == 503 and json.loads(body)["code"] == "database_unreachable",
                  "healthz with PostgreSQL down: %d %s" % (status, body[:200]))
        time.sleep(1.5)
        pg.start_server()
        deadline = time.time() + 20
        while srv.request("GET", "/healthz")[0] != 200:
            check(time.time() < deadline, "healthz did not recover after PostgreSQL came back")
            time.sleep(0.2)
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        check(not errors, "; ".join(errors))
        check(srv.proc is not None and srv.proc.poll() is None and srv.proc.pid == pid,
              "kcovd did not keep running across the PostgreSQL restart")
        # Everything still spooled goes in now, without restarting kcovd.
        for m in machines:
            m.delivered(srv.url, tok)
        total = sum(made)
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        d = int(pg.psql_db(db, "SELECT count(DISTINCT upload_id) FROM reports").strip())
        print("figure pg restart: %d reports made by 4 pushers, %d stored, %d distinct, "
              "%d pushes refused while the server was down" % (total, n, d, refused[0]),
              flush=True)
        check(refused[0] > 0, "no push was refused while PostgreSQL was down")
        check(n == total and d == total,
              "stored %d rows / %d upload ids for %d reports made" % (n, d, total))
        check("503" in statuses and not any(st.startswith("5") and st != "503"
                                            for st in statuses),
              "ingest while PostgreSQL was down answered %s, not 503 only" % sorted(statuses))
    finally:
        stop.set()
        srv.stop()
        for m in machines:
            m.cleanup()


def test_three_nodes_sigkill():
    url = kcovlib.pg_database()
    db = url.rsplit("/", 1)[1]
    pg = kcovlib.pg_server()
    nodes = [Server(db=url).start() for _ in range(3)]
    tok = nodes[0].token()
    kills_wanted = int(os.environ.get("KC_PG_KILLS", "30"))
    npushers = int(os.environ.get("KC_PG_PUSHERS", "32"))
    stop = threading.Event()
    lock = threading.Lock()
    made = [0] * npushers
    errors = []
    kills = [0]
    machines = [machine("pg-node-%d" % i, 100 + i) for i in range(npushers)]
    runs = [["read"], ["write"], ["open"], ["read", "open"]]

    def pusher(i):
        m = machines[i]
        try:
            while not stop.is_set():
                before = len(m.reports()) if os.path.isdir(m.spool) else 0
                m.run(runs[made[i] % len(runs)])
                check(len(m.reports()) == before + 1, "one report per run")
                made[i] += 1
                with lock:
                    node = nodes[(i + made[i]) % 3]
                    u = node.url if node.proc is not None else None
                if u:
                    m.push(u, tok)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append("pusher %d: %s" % (i, e))

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(npushers)]
    rnd = random.Random(19)
    t0 = time.time()
    try:
        for t in threads:
            t.start()
        while kills[0] < kills_wanted and not errors:
            time.sleep(rnd.uniform(0.1, 0.5))
            victim = nodes[rnd.randrange(3)]
            with lock:
                victim.kill()
            kills[0] += 1
            victim.start()
        stop.set()
        for t in threads:
            t.join(timeout=120)
        check(not errors, "; ".join(errors))
        for m in machines:
            m.delivered(nodes[kills[0] % 3].url, tok)
        total = sum(made)
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        d = int(pg.psql_db(db, "SELECT count(DISTINCT upload_id) FROM reports").strip())
        print("figure 3 nodes: %d SIGKILLs in %.0f s, %d pushers, %d reports made, %d stored, "
              "%d distinct upload ids" % (kills[0], time.time() - t0, npushers, total, n, d),
              flush=True)
        check(n == total and d == total,
              "stored %d rows / %d upload ids for %d reports made" % (n, d, total))
        want = expected(["read", "write", "open"])
        for k, node in enumerate(nodes):
            got = node.pcs(KERNEL["build_id"])
            check(got == want, "node %d answers %s, expected %s" % (k, got, want))
    finally:
        stop.set()
        for node in nodes:
            node.stop()
        for m in machines:
            m.cleanup()


KERNEL_FIX = {}


def cov_kernel():
    """test_coverage.py's miniature kernel, built once per run: (tc module,
    root, src, vmlinux, modules dir, ko, oracle points, build id, module id)."""
    import test_coverage as tc
    if not KERNEL_FIX:
        tc.require_build_tools()
        root, src, vmlinux, mods, ko = tc.build_kernel()
        tc.STATE.update(root=root)
        build_id = re.search(r"Build ID: ([0-9a-f]+)",
                             tc.sh(["readelf", "-n", vmlinux])).group(1)
        mod_id = re.search(r"Build ID: ([0-9a-f]+)", tc.sh(["readelf", "-n", ko])).group(1)
        KERNEL_FIX.update(tc=tc, root=root, src=src, vmlinux=vmlinux, mods=mods, ko=ko,
                          pts=tc.oracle(vmlinux, ko, src), build_id=build_id, mod_id=mod_id)
    return KERNEL_FIX


def cov_nodes(fx, n):
    """n kcovd nodes on one new database with fx's build imported through
    the first (its address map stored): (nodes, push token, admin token)."""
    tc = fx["tc"]
    url = kcovlib.pg_database()
    nodes = [Server(db=url).start() for _ in range(n)]
    push, admin = nodes[0].token("push", "p"), nodes[0].token("admin", "ops")
    frame = tc.mkframe("addrmap", tc.MACHINE, tc.BOOT, fx["build_id"],
                       "0x%x" % (tc.LINK + tc.KASLR), "0x%x" % (tc.LINK + tc.KASLR + 0x100000),
                       "0x%x" % tc.LINK, "module", "minimod", fx["mod_id"], "0x%x" % tc.MOD_BASE,
                       "0x%x" % tc.MOD_SIZE, "0x%x" % tc.MOD_TEXT)
    status, body = nodes[0].post_frame("/api/v1/boots", frame, push)
    check(status == 200, "address map: %d %s" % (status, body))
    return nodes, push, admin


def import_build(fx, node, admin):
    body = json.dumps({"vmlinux": fx["vmlinux"], "modules": fx["mods"],
                       "source": fx["src"]}).encode()
    status, ans = node.request("POST", "/api/v1/builds", body,
                               {"Content-Type": "application/json"}, admin)
    check(status == 200, "import on %s: %d %s" % (node.url, status, ans[:300]))


def test_readers_follow_other_nodes():
    fx = cov_kernel()
    tc, pts, build_id = fx["tc"], fx["pts"], fx["build_id"]
    path = "kernel/alpha.c"
    keys = sorted((k for k, v in pts.items() if k[0] == "vmlinux" and v[0] == path and v[1]),
                  key=lambda k: (pts[k][1], k))
    lines = sorted({pts[k][1] for k in keys})
    check(len(lines) >= 2, "%s has points on %d lines" % (path, len(lines)))
    first = [k for k in keys if pts[k][1] < lines[len(lines) // 2]]
    later = [k for k in keys if pts[k][1] >= lines[len(lines) // 2]]
    (a, b), push, admin = cov_nodes(fx, 2)
    fpath = "/api/v1/builds/%s/files/%s" % (build_id, path)

    def covered(node):
        status, body = node.request("GET", fpath)
        check(status == 200, "file query on %s: %d %s" % (node.url, status, body[:300]))
        return sorted(ln["line"] for ln in json.loads(body)["lines"] if ln["covered"])

    try:
        tc.push_report(a, push, "suiteA", 1, [tc.pc_of(k) for k in first])
        # A build node A imports: node B knows it on its next request.
        status, body = b.request("GET", fpath)
        check(status == 404, "B before the import: %d %s" % (status, body[:200]))
        import_build(fx, a, admin)
        want = sorted({pts[k][1] for k in first})
        got = covered(b)
        check(got == want, "B after A's import: %s, want %s" % (got, want))
        # B's coverage is cached now (the same answer twice), then A ingests.
        check(covered(b) == want, "B's second answer")
        tc.push_report(a, push, "suiteB", 2, [tc.pc_of(k) for k in later])
        want = lines
        check(covered(a) == want, "A after its ingest: %s, want %s" % (covered(a), want))
        # At most the poll interval (100 ms) later, B answers the same.
        time.sleep(0.2)
        got = covered(b)
        check(got == want, "B after A's ingest: %s, want %s (stale cache)" % (got, want))
        # Per label too (another cache key), and once more through B itself.
        status, body = b.request("GET", fpath + "?label=suiteB")
        got = sorted(ln["line"] for ln in json.loads(body)["lines"] if ln["covered"])
        check(status == 200 and got == sorted({pts[k][1] for k in later}),
              "B for suiteB: %d %s" % (status, got))
        polls = re.search(r"^kcovd_generation_polls_total (\d+)$",
                          b.request("GET", "/metrics")[1].decode(), re.M)
        check(polls and int(polls.group(1)) >= 2, "B's generation polls: %s" % polls)
        # /metrics per node: each names itself as its row of node_generations.
        names = []
        for node in (a, b):
            m = re.search(r'^kcovd_node_info\{node="([^"]+)"\} 1$',
                          node.request("GET", "/metrics")[1].decode(), re.M)
            check(m, "no kcovd_node_info on %s" % node.url)
            names.append(m.group(1))
        rows = {r[0] for r in a.query("SELECT node FROM node_generations")}
        check(names[0] != names[1] and names[0] in rows,
              "node_info %s, node_generations rows %s" % (names, rows))
    finally:
        a.stop()
        b.stop()


def test_gc_beside_ingest():
    """gc on PostgreSQL while another node ingests: node B stores today's
    reports of three of four labels (each first report of a label today
    folds its completed days, the rows and locks gc takes too) while node
    A's admin API, the command line and node B run gc over the same
    unions; after it every label's all-time coverage on both nodes is what
    was pushed (nothing lost to a race; the fourth label's old days reach
    its union through gc only), and no day row before the cutoff is left."""
    fx = cov_kernel()
    tc, pts, build_id = fx["tc"], fx["pts"], fx["build_id"]
    keys = sorted(k for k, v in pts.items() if k[0] == "vmlinux" and v[1])
    labels = ["g%d" % i for i in range(4)]
    sent = {l: set() for l in labels}
    (a, b), push, admin = cov_nodes(fx, 2)
    seed = [100]

    def send(node, label, ks):
        seed[0] += 1
        frame = tc.mkframe("report", tc.MACHINE, tc.BOOT, label, seed[0],
                           *[tc.pc_of(k) for k in ks])
        for _ in range(100):  # 503: a deadlock PostgreSQL broke, or a lock wait
            status, body = node.post_frame("/api/v1/reports", frame, push)
            if status != 503:
                break
            time.sleep(0.1)
        check(status == 200, "report %s: %d %s" % (label, status, body[:200]))
        sent[label] |= set(ks)

    def gc(node):
        for _ in range(100):
            status, body = node.request("POST", "/api/v1/admin/gc", b'{"keep_days": 3}',
                                        {"Content-Type": "application/json"}, admin)
            if status != 503:
                break
            time.sleep(0.1)
        check(status == 200, "gc on %s: %d %s" % (node.url, status, body[:200]))
        return json.loads(body)

    def lines(node, label):
        out = {}
        for path in ("kernel/alpha.c", "lib/beta.c", "include/helpers.h"):
            status, body = node.request("GET", "/api/v1/builds/%s/files/%s?label=%s"
                                        % (build_id, path, label))
            check(status == 200, "file %s on %s: %d" % (path, node.url, status))
            out[path] = {ln["line"]: ln["covered"] for ln in json.loads(body)["lines"]
                         if ln["covered"]}
        return out

    try:
        import_build(fx, a, admin)
        for i, l in enumerate(labels):
            send(b, l, keys[i::8])
        # Ten days pass.
        a.stop()
        b.stop()
        for sql in ("UPDATE coverage SET day = day - 10 WHERE day >= 0",
                    "UPDATE label_unions SET upto = upto - 10",
                    "UPDATE label_files SET first_day = first_day - 10, last_day = last_day - 10",
                    "UPDATE reports SET received = received - 10 * 86400"):
            a.query(sql)
        a.start()
        b.start()
        errors = []

        def pusher():
            try:
                for r in range(3):  # the last label gets none: only gc folds its days
                    for i, l in enumerate(labels[:-1]):
                        send(b, l, keys[4 + i + r::8][:6])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(str(e))

        t = threading.Thread(target=pusher)
        t.start()
        res = gc(a)
        check(res["day_rows_deleted"] > 0, "the first gc removed nothing: %s" % res)
        p = subprocess.run([kcovlib.KCOVD, "gc", "--keep-days", "3", "--data-dir", a.data_dir],
                           capture_output=True, text=True, env=a.env())
        check(p.returncode == 0, "CLI gc beside the nodes: %s" % p.stderr)
        gc(b)
        t.join(timeout=120)
        check(not errors, "; ".join(errors))
        gc(a)  # after the last report: nothing old may be left
        day = int(time.time()) // 86400
        left = a.query("SELECT count(*) FROM coverage WHERE day >= 0 AND day < ?", (day - 3,))
        check(left == [(0,)], "day rows before the cutoff: %s" % left)
        time.sleep(0.2)  # the poll interval
        for l in labels:
            want = {}
            for path in ("kernel/alpha.c", "lib/beta.c", "include/helpers.h"):
                exp, _ = tc.expect_file(pts, sent[l], path)
                want[path] = {ln: c for ln, (c, _t) in exp.items() if c}
            for node in (a, b):
                got = lines(node, l)
                check(got == want, "label %s on %s: %s, want %s" % (l, node.url, got, want))
    finally:
        a.stop()
        b.stop()


def test_writers_follow_other_nodes():
    url = kcovlib.pg_database()
    nodes = [Server(db=url).start() for _ in range(2)]
    tok = nodes[0].token()
    m = machine("pg-turns", 7)
    runs = [["read"], ["write"], ["open"], ["read", "write"], ["stat"], ["open", "stat"],
            ["read"], ["mmap"]]
    try:
        for i, syscalls in enumerate(runs):
            m.run(syscalls)
            # Twice to the same node, then twice to the other: the second
            # of each pair meets its own cache from the first.
            node = nodes[(i // 2) % 2]
            p = m.delivered(node.url, tok, ["--max-attempts", "1"])
            check(DELIVERED.search(p.stderr).groups() == ("1", "0"),
                  "run %d on node %d: %s" % (i, (i // 2) % 2, p.stderr[-300:]))
        want = expected(sorted({s for r in runs for s in r}))
        for k, node in enumerate(nodes):
            got = node.pcs(KERNEL["build_id"])
            check(got == want, "node %d answers %s, expected %s" % (k, got, want))
    finally:
        for node in nodes:
            node.stop()
        m.cleanup()


if __name__ == "__main__":
    try:
        run_tests([test_ingest_and_duplicates, test_pg_restart_under_load,
                   test_three_nodes_sigkill, test_readers_follow_other_nodes,
                   test_gc_beside_ingest, test_writers_follow_other_nodes])
    finally:
        if KERNEL_FIX:
            shutil.rmtree(KERNEL_FIX["root"], ignore_errors=True)
