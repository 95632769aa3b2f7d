"""kcov-collect syzkaller: the bridge against a fake syz-manager that serves
what syzkaller's own code prints, and a real kcovd.

The fixture formats follow syzkaller at commit
1e72964b0111319984575e60f266d1fa0a98abb5 (2026-08-17):

- /rawcover: pkg/manager/http.go httpRawCover -> httpCoverCover ->
  pkg/cover/html.go DoRawCover: the corpus PCs, each already moved back to
  the call instruction by CoverToPCs (pkg/manager/report_generator.go) =
  backend.PreviousInstructionPCs (pkg/cover/backend/pc.go, amd64: pc - 5),
  de-duplicated and sorted, written as fmt.Fprintf(buf, "0x%x\\n", pc);
  Content-Type text/plain; charset=utf-8. Before the fuzzer started:
  http.Error 500 "coverage is not ready, please try again later after
  fuzzer started".
- /modules?raw=1: pkg/manager/http.go modulesInfo -> jsonPage ->
  json.MarshalIndent(cover.Modules, "", "\\t") of []*vminfo.KernelModule
  (pkg/vminfo/vminfo.go: Name, Addr, Size, Path; Addr = .text with the
  KASLR offset removed by backend.FixModules, the core kernel as Name "").
  No trailing newline; a nil slice is "null".
- /metrics: promhttp over prometheus.DefaultGatherer: syz_exec_total is the
  GaugeFunc of stat.New("exec total", ..., stat.Prometheus("syz_exec_total"))
  (pkg/rpcserver/rpcserver.go), process_start_time_seconds comes from the
  process collector; values are strconv.AppendFloat(v, 'g', -1, 64)
  (1.2345678e+07 for 12345678), metric families sorted by name.
- /syscalls: pkg/manager/http.go httpSyscalls rendering
  pkg/manager/html/syscalls.html (reproduced below byte for byte) inside
  common.html (the page chrome, abbreviated here: the bridge reads only the
  table). "Cover overflows" is fuzzer.Syscalls[id].CoverOverflows
  (pkg/fuzzer/fuzzer.go handleCallInfo adds 1 to it and to the "cover
  overflows" stat of pkg/fuzzer/stats.go together).

Every handler is wrapped in gorilla handlers.CompressHandler
(pkg/manager/http.go handle()): the fixture gzips an answer when the
client's Accept-Encoding lists gzip, as that handler does.
"""
import decimal
import gzip
import http.server
import json
import os
import shutil
import subprocess
import threading
import time

from kcovlib import (ASAN_ENV, COLLECT, Server, check, collect, free_port, run_tests,
                     sanitizer_report, started, tmpdir)

TEXT = 0xFFFFFFFF81000000
TEXT_SIZE = 0x20000
MOD_ADDR = {"syz_net": 0xFFFFFFFFA0010000, "syz_fs": 0xFFFFFFFFA0040000}
MOD_SIZE = 0x1000


def build_kernel(d):
    """A vmlinux (_text, _etext, GNU build id) and two module .ko files."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True)
    with open(os.path.join(d, "v.s"), "w") as f:
        f.write(".text\n.globl _text\n_text:\n.skip %d, 0x90\n.globl _etext\n_etext:\n"
                ".byte 0xc3\n" % TEXT_SIZE)
    run("as", "-o", os.path.join(d, "v.o"), os.path.join(d, "v.s"))
    vmlinux = os.path.join(d, "vmlinux")
    run("ld", "-e", "0", "-Ttext=%#x" % TEXT, "--build-id=sha1", "-o", vmlinux,
        os.path.join(d, "v.o"))
    mods = os.path.join(d, "modules")
    os.makedirs(mods)
    ids = {}
    for name in MOD_ADDR:
        s = os.path.join(d, name + ".s")
        with open(s, "w") as f:
            f.write(".text\n.globl %s_fn\n%s_fn:\n.skip %d, 0x90\n" % (name, name, MOD_SIZE))
        run("as", "-o", s + ".o", s)
        ko = os.path.join(mods, name + ".ko")
        run("ld", "-r", "--build-id=sha1", "-o", ko, s + ".o")
        ids[name] = build_id(ko)
    return vmlinux, mods, build_id(vmlinux), ids


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split(":", 1)[1].strip()
    raise AssertionError("no build id in " + path)


def go_float(v):
    """strconv.FormatFloat(v, 'g', -1, 64) (what expfmt writes): the
    shortest digits; %e form when the exponent is < -4 or >= 6 (ftoa.go:
    "if shortest { eprec = 6 }"), with at least two exponent digits."""
    if v == 0:
        return "0"
    sign, digits, exp = decimal.Decimal(repr(float(v))).normalize().as_tuple()
    digs = "".join(map(str, digits))
    dp = len(digs) + exp
    x = dp - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = digs[0] + ("." + digs[1:] if len(digs) > 1 else "")
        return "%s%se%s%02d" % (neg, mant, "+" if x >= 0 else "-", abs(x))
    if exp >= 0:
        return neg + digs + "0" * exp
    if dp > 0:
        return neg + digs[:dp] + "." + digs[dp:]
    return neg + "0." + "0" * (-dp) + digs


SYSCALLS_TMPL = """<table class="list_table">
	<caption>Per-syscall coverage:</caption>
	<thead>
	<tr>
		<th><a onclick="return sortTable(this, 'Syscall', textSort)" href="#">Syscall</a></th>
		<th><a onclick="return sortTable(this, 'Inputs', numSort)" href="#" title="Number of inputs in the corpus added because of this syscall">Inputs</a></th>
		<th><a onclick="return sortTable(this, 'Total', numSort)" href="#" title="Total number of inputs in the corpus that contain this syscall">Total</a></th>
		<th><a onclick="return sortTable(this, 'Coverage', numSort)" href="#" title="Coverage achieved by this syscall">Coverage</a></th>
		<th><a onclick="return sortTable(this, 'Cover overflows', numSort)" href="#" title="Number of times coverage buffer has overflowed on this syscall">Cover overflows</a></th>
		<th><a onclick="return sortTable(this, 'Comps overflows', numSort)" href="#" title="Number of times comparisons buffer has overflowed on this syscall">Comps overflows</a></th>
		<th>Prio</th>
	</tr>
	</thead>
	<tbody>
	%s
	</tbody>
</table>"""

ROW_TMPL = """
	<tr>
		<td>%(name)s%(id)s</td>
		<td><a href='/corpus?call=%(qname)s'>%(inputs)d</a></td>
		<td>%(total)d</td>
		<td><a href='/cover?call=%(qname)s'>%(cover)d</a></td>
		<td>%(ovf)d</td>
		<td>%(comps)d</td>
		<td><a href='/prio?call=%(qname)s'>prio</a></td>
	</tr>
	"""

PAGE_TMPL = """
<!doctype html>
<html>
<head>
	<title>syzkaller syscalls</title>
	<style>/* pkg/html/pages style and script (abbreviated) */</style>
</head>
<body>
	<header id="topbar">
		<h1><a href="/">syzkaller</a>: %s</h1>
	</header>
	<br>
	%s
</body></html>"""

SYSCALL_IDS = {"openat": 257, "read": 0, "ioctl$KVM_RUN": 1042, "mmap": 9}


class Manager:
    """What the fake syz-manager serves now; tests change it between polls."""

    def __init__(self, name):
        self.name = name
        self.pcs = set()          # call-instruction PCs (as /rawcover prints)
        self.modules = [{"Name": "", "Addr": TEXT, "Size": TEXT_SIZE, "Path": "/k/vmlinux"}] + [
            {"Name": n, "Addr": a, "Size": MOD_SIZE, "Path": "/k/%s.ko" % n}
            for n, a in sorted(MOD_ADDR.items(), key=lambda kv: kv[1])]
        self.execs = 0
        self.start_time = 1764580000.25
        self.overflows = {c: 0 for c in SYSCALL_IDS}
        self.override = {}        # path -> (status, content type, body)
        self.requests = []
        self.gzipped = 0

    def rawcover(self):
        return "".join("0x%x\n" % pc for pc in sorted(self.pcs))

    def modules_json(self):
        # json.MarshalIndent(v, "", "\t"): Go's layout is Python's with these
        # separators; integers print in full (no exponent).
        return json.dumps(self.modules, indent="\t", separators=(",", ": "))

    def metrics(self):
        fams = [
            ("go_goroutines", "Number of goroutines that currently exist.", "gauge", 37),
            ("process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.", "gauge", self.start_time),
            ("syz_exec_total", "Total test program executions", "gauge", self.execs),
            ("syz_exec_total_other", "Total test program executions", "gauge", 12),
        ]
        out = []
        for name, help_, typ, v in sorted(fams):
            out.append("# HELP %s %s\n# TYPE %s %s\n%s %s\n" % (name, help_, name, typ, name,
                                                              go_float(v)))
        return "".join(out)

    def syscalls(self):
        rows = []
        for c in sorted(self.overflows):  # slices.SortFunc by Name
            rows.append(ROW_TMPL % {
                "name": c, "id": " [%d]" % SYSCALL_IDS[c] if c in SYSCALL_IDS else "",
                "qname": c.replace("$", "%24"), "inputs": 3, "total": 5, "cover": 40,
                "ovf": self.overflows[c], "comps": 1})
        return PAGE_TMPL % (self.name, SYSCALLS_TMPL % "".join(rows))

    def answer(self, path):
        self.requests.append(path)
        if path in self.override:
            return self.override[path]
        if path == "/rawcover":
            return 200, "text/plain; charset=utf-8", self.rawcover()
        if path == "/modules?raw=1":
            return 200, "text/plain; charset=utf-8", self.modules_json()
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics()
        if path == "/syscalls":
            return 200, "text/html; charset=utf-8", self.syscalls()
        return 404, "text/plain; charset=utf-8", "404 page not found\n"


def serve(mgr):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, ctype, body = mgr.answer(self.path)
            data = body.encode()
            encs = [e.strip() for e in self.headers.get("Accept-Encoding", "").split(",")]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            if "gzip" in encs:
                mgr.gzipped += 1
                data = gzip.compress(data)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Vary", "Accept-Encoding")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def http_error(msg):
    # http.Error: text/plain, X-Content-Type-Options, body msg + "\n"
    return 500, "text/plain; charset=utf-8", msg + "\n"


class Bridge:
    def __init__(self, name, kernel):
        self.name = name
        self.vmlinux, self.mods, self.build, self.mod_ids = kernel
        self.mgr = Manager(name)
        self.http = serve(self.mgr)
        self.spool = tmpdir("syzspool-")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http.server_address[1]

    def poll(self, server=None, token=None, extra=()):
        args = ["syzkaller", "--manager", self.url, "--name", self.name, "--vmlinux",
                self.vmlinux, "--modules", self.mods, "--spool", self.spool, "--once"]
        if server:
            args += ["--server", server.url, "--token", token, "--max-attempts", "1"]
        return collect(args + list(extra))

    def ok(self, server=None, token=None):
        p = self.poll(server, token)
        check(p.returncode == 0, "bridge poll failed (%d): %s" % (p.returncode, p.stderr))
        return p

    def reports(self):
        return sorted(f for f in os.listdir(self.spool) if f.startswith("r."))

    def show(self, name):
        p = collect(["show", os.path.join(self.spool, name)])
        check(p.returncode == 0, p.stderr)
        rep = {"pcs": set(), "runs": []}
        for line in p.stdout.splitlines():
            k, _, rest = line.partition(" ")
            if k == "pc":
                rep["pcs"].add(int(rest, 16))
            elif k == "run":
                rep["runs"].append(dict(kv.split("=", 1) for kv in rest.split()))
            else:
                rep[k] = rest
        return rep

    def state(self):
        path = os.path.join(self.spool, "syzkaller.%s.state" % self.name)
        return open(path).read() if os.path.exists(path) else None

    def close(self):
        self.http.shutdown()
        self.http.server_close()
        shutil.rmtree(self.spool, ignore_errors=True)


def vm_pcs(offsets):
    return {TEXT + o for o in offsets}


def mod_pcs(name, offsets):
    return {MOD_ADDR[name] + o for o in offsets}


def canonical(pcs):
    """{binary: offsets} as kcovd reports them: kcov PC (call + 5) minus
    the binary's text base."""
    out = {}
    for pc in pcs:
        if TEXT <= pc < TEXT + TEXT_SIZE:
            out.setdefault("vmlinux", set()).add(pc + 5 - TEXT)
        else:
            for n, a in MOD_ADDR.items():
                if a <= pc < a + MOD_SIZE:
                    out.setdefault(n, set()).add(pc + 5 - a)
    return out


KERNEL = None


def kernel():
    global KERNEL
    if KERNEL is None:
        KERNEL = build_kernel(tmpdir("syzkernel-"))
    return KERNEL


def overflow(srv, group):
    return srv.get("/api/v1/stats/overflow?group=%s&limit=1000" % group)


def test_coverage_and_overflow_counts_reach_the_api():
    srv = Server().start()
    tok = srv.token()
    b = Bridge("ci-1", kernel())
    m = b.mgr
    first = vm_pcs([0x10, 0x40, 0x1230]) | mod_pcs("syz_net", [0x8, 0x100])
    m.pcs = set(first)
    m.execs = 1000
    m.overflows.update({"openat": 3, "ioctl$KVM_RUN": 2})
    p = b.ok(srv, tok)
    check("5 PCs on the manager, 5 new; 1000 programs, 5 overflowed" in p.stderr, p.stderr)
    check(m.gzipped == 4 and m.requests == ["/rawcover", "/modules?raw=1", "/metrics",
                                            "/syscalls"], "requests %s" % m.requests)
    check(b.reports() == [], "spool not delivered: %s" % b.reports())
    check(srv.pcs(b.build) == canonical(first), "pcs %s != %s" % (srv.pcs(b.build),
                                                                 canonical(first)))
    j = srv.get("/api/v1/builds/%s/pcs" % b.build)
    ids = {x["name"]: x["build_id"] for x in j["binaries"]}
    check(ids.get("syz_net") == b.mod_ids["syz_net"], "module build id: %s" % ids)

    # The manager grows: only the new PCs and the programs since are sent.
    grown = first | vm_pcs([0x2000]) | mod_pcs("syz_fs", [0x20])
    m.pcs = set(grown)
    m.execs = 1500
    m.overflows["openat"] = 4
    p = b.ok()
    reps = b.reports()
    check(len(reps) == 1, "one report per poll: %s" % reps)
    r = b.show(reps[0])
    check(r["pcs"] == {pc + 5 for pc in grown - first}, "only new PCs: %s" % r["pcs"])
    check(len(r["runs"]) == 500 and sum(x["overflowed"] == "1" for x in r["runs"]) == 1,
          "runs %d" % len(r["runs"]))
    check([x["workload"] for x in r["runs"] if x["overflowed"] == "1"] == ["openat"],
          "overflowed workload")
    check(r["label"] == "syzkaller/ci-1" and r["machine"] == "ci-1", "identity %s" % r)
    check(all(x["mode"] == "trace" and x["capacity"] == "524287" for x in r["runs"]),
          "run shape %s" % r["runs"][0])
    ovf = [x for x in r["runs"] if x["overflowed"] == "1"][0]
    check(ovf["used"] == "524287", "overflowed run is full: %s" % ovf)

    # A bridge restart (same state) sends nothing again.
    p = b.ok(srv, tok)
    check("0 new; 0 programs" in p.stderr and b.reports() == [], p.stderr)

    # Manager restart: coverage comes back smaller, counters from 0.
    m.start_time += 3600
    m.pcs = set(vm_pcs([0x10, 0x40]))
    m.execs = 200
    m.overflows = {c: 0 for c in SYSCALL_IDS}
    m.overflows["read"] = 1
    p = b.ok(srv, tok)
    check("manager restarted" in p.stderr and "2 PCs on the manager, 0 new; 200 programs, "
          "1 overflowed" in p.stderr, p.stderr)
    check(srv.pcs(b.build) == canonical(grown), "restart changed nothing")
    # ... and grows again past what was sent.
    again = set(m.pcs) | vm_pcs([0x3000])
    m.pcs = again
    m.execs = 300
    p = b.ok(srv, tok)
    check("1 new; 100 programs, 0 overflowed" in p.stderr, p.stderr)
    check(srv.pcs(b.build) == canonical(grown | again), "growth after restart")

    # A second instance overflowing in most programs.
    b2 = Bridge("ci-2", kernel())
    b2.mgr.pcs = vm_pcs([0x10])
    b2.mgr.execs = 10
    b2.mgr.overflows["mmap"] = 6
    b2.mgr.overflows["openat"] = 1
    b2.ok(srv, tok)

    o = overflow(srv, "machine")
    by = {g["machine"]: g for g in o["groups"]}
    check(by["ci-1"]["runs"] == 1500 + 200 + 100 and by["ci-1"]["overflowed"] == 5 + 1 + 1,
          "ci-1: %s" % by["ci-1"])
    check(by["ci-2"]["runs"] == 10 and by["ci-2"]["overflowed"] == 7, "ci-2: %s" % by["ci-2"])
    f = o["fleet"]
    rate1, rate2 = 7 / 1800, 0.7
    check(f["machines"] == 2 and f["machines_overflow_ge_50pct"] == 1, "fleet %s" % f)
    check(abs(f["median_machine_rate"] - (rate1 + rate2) / 2) < 1e-9, "median %s" % f)
    check(f["trace"]["runs"] == 1810 and f["unique"]["runs"] == 0, "modes %s" % f)
    w = {g["workload"]: g for g in overflow(srv, "workload")["groups"]}
    check(w["openat"]["overflowed"] == 5 and w["ioctl$KVM_RUN"]["overflowed"] == 2 and
          w["mmap"]["overflowed"] == 6 and w["read"]["overflowed"] == 1, "by workload %s" % w)
    check(w[""]["overflowed"] == 0 and w[""]["runs"] == 1810 - 14, "rest %s" % w[""])
    lab = {g["label"]: g for g in overflow(srv, "label")["groups"]}
    check(lab["syzkaller/ci-1"]["runs"] == 1800 and lab["syzkaller/ci-2"]["runs"] == 10,
          "labels %s" % lab)

    machines = {x["name"]: x for x in srv.get("/api/v1/machines")["machines"]}
    check(machines["ci-1"]["pcs"] == len(grown | again) and machines["ci-1"]["unknown_pcs"] == 0,
          "machines %s" % machines["ci-1"])
    check(machines["ci-2"]["pcs"] == 1, "ci-2 %s" % machines["ci-2"])
    labels = {x["name"] for x in srv.get("/api/v1/labels")["labels"]}
    check({"syzkaller/ci-1", "syzkaller/ci-2"} <= labels, "labels %s" % labels)
    b.close()
    b2.close()
    srv.stop()


def test_unreachable_manager():
    b = Bridge("down", kernel())
    url = "http://127.0.0.1:%d" % free_port()
    p = collect(["syzkaller", "--manager", url, "--vmlinux", b.vmlinux, "--spool", b.spool,
                 "--name", "down", "--once"])
    check(p.returncode == 125, "exit %d" % p.returncode)
    check(("GET %s/rawcover: " % url) in p.stderr and "onnect" in p.stderr, p.stderr)
    check(p.stderr.count("\n") == 1, "one line: %r" % p.stderr)
    check(b.reports() == [] and b.state() is None, "nothing spooled")
    # Not ready yet (before the fuzzer started): the manager's own message.
    b.mgr.override["/rawcover"] = http_error(
        "coverage is not ready, please try again later after fuzzer started")
    p = b.poll()
    check(p.returncode == 125 and "HTTP 500: coverage is not ready" in p.stderr, p.stderr)
    check(b.reports() == [] and b.state() is None, "nothing spooled")
    b.close()


def test_malformed_answers_push_nothing_twice():
    srv = Server().start()
    tok = srv.token()
    b = Bridge("bad", kernel())
    m = b.mgr
    m.pcs = vm_pcs([0x10, 0x20])
    m.execs = 50
    m.overflows["read"] = 2
    b.ok(srv, tok)
    state = b.state()
    m.pcs |= vm_pcs([0x30])
    m.execs = 80
    good = m.rawcover()
    cases = [
        ("/rawcover", (200, "text/plain", good.replace("0x%x\n" % (TEXT + 0x20), "0xZZ\n")),
         "/rawcover line 2: '0xZZ' is not a PC"),
        ("/rawcover", (200, "text/plain", good.rstrip("\n")), "/rawcover line 3"),
        ("/rawcover", (200, "text/plain", good.upper().replace("0X", "0x")), "line 1"),
        ("/modules?raw=1", (200, "text/plain", m.modules_json().replace('"Addr": ', '"Addr": "')
                            .replace(',\n\t\t"Size"', '",\n\t\t"Size"')), "/modules: entry 0"),
        ("/modules?raw=1", (200, "text/plain", m.modules_json()[:-3]), "/modules: not JSON"),
        ("/metrics", (200, "text/plain", m.metrics().replace("syz_exec_total 80", "syz_exec_total x")),
         "/metrics line"),
        ("/metrics", (200, "text/plain", "# nothing\n"), "no syz_exec_total"),
        ("/syscalls", (200, "text/html", m.syscalls().replace("<td>2</td>", "<td>2x</td>")),
         "/syscalls: row"),
        ("/syscalls", (200, "text/html", "<html></html>"), "no per-syscall coverage table"),
        ("/syscalls", (200, "text/html", m.syscalls().replace("<td>1</td>", "", 1)),
         "expected 7 <td> cells"),
        ("/modules?raw=1", (200, "text/plain", json.dumps(m.modules + m.modules[1:2],
                                                          indent="\t")), "listed twice"),
        ("/modules?raw=1", (200, "text/plain", m.modules_json().replace('"Path"', '"Extra": 1,'
                                                                       ' "Path"', 1)),
         "/modules: entry 0"),
        ("/metrics", (200, "text/plain", m.metrics().replace("syz_exec_total 80",
                                                             "syz_exec_total 80.5")),
         "/metrics line"),
        ("/rawcover", (404, "text/plain; charset=utf-8", "404 page not found\n"),
         "/rawcover: HTTP 404: 404 page not found"),
    ]
    for path, ans, msg in cases:
        m.override = {path: ans}
        p = b.poll(srv, tok)
        check(p.returncode == 125 and msg in p.stderr, "%s: %d %s" % (msg, p.returncode, p.stderr))
        check(b.reports() == [] and b.state() == state, "%s: state or spool changed" % msg)
    m.override = {}
    p = b.ok(srv, tok)
    check("3 PCs on the manager, 1 new; 30 programs" in p.stderr, p.stderr)
    g = {x["machine"]: x for x in overflow(srv, "machine")["groups"]}["bad"]
    check(g["runs"] == 80 and g["overflowed"] == 2, "nothing twice: %s" % g)
    check(srv.pcs(b.build) == canonical(m.pcs), "pcs")
    b.close()
    srv.stop()


def test_many_programs_split_into_reports():
    """A poll's runs are split into reports of 1024 (a frame of more nearly
    identical runs would compress beyond the decoder's 256x bomb limit);
    kcovd accepts every one."""
    srv = Server().start()
    tok = srv.token()
    b = Bridge("busy", kernel())
    b.mgr.pcs = vm_pcs([0x10])
    b.mgr.execs = 3000
    b.mgr.overflows["mmap"] = 3
    p = b.ok()
    check("3000 programs, 3 overflowed; 3 report(s)" in p.stderr, p.stderr)
    reps = [b.show(r) for r in b.reports()]
    check(sorted(len(r["runs"]) for r in reps) == [952, 1024, 1024], "split")
    check(sum(len(r["pcs"]) for r in reps) == 1, "PCs sent once")
    p = collect(["push", "--spool", b.spool, "--server", srv.url, "--token", tok])
    check(p.returncode == 0 and b.reports() == [], "push: %s" % p.stderr)
    g = {x["machine"]: x for x in overflow(srv, "machine")["groups"]}["busy"]
    check(g["runs"] == 3000 and g["overflowed"] == 3, "busy %s" % g)
    b.close()
    srv.stop()


def test_daemon_retries_next_poll():
    """Without --once a failed poll is reported and retried at the next one."""
    b = Bridge("daemon", kernel())
    b.mgr.override["/metrics"] = http_error("metrics not ready")
    b.mgr.pcs = vm_pcs([0x10])
    b.mgr.execs = 3
    p = started(subprocess.Popen(
        [COLLECT, "syzkaller", "--manager", b.url, "--name", "daemon", "--vmlinux", b.vmlinux,
         "--spool", b.spool, "--interval", "1"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "ASAN_OPTIONS": ASAN_ENV}))
    deadline = time.time() + 30
    while b.mgr.requests.count("/metrics") < 1 and time.time() < deadline:
        time.sleep(0.05)
    check(b.state() is None and b.reports() == [], "failed poll spooled something")
    b.mgr.override = {}
    while b.state() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    p.terminate()
    err = p.communicate(timeout=30)[1]
    check(sanitizer_report(err) is None, "sanitizer report: %s" % err)
    check("HTTP 500: metrics not ready (will retry)" in err, err)
    check("1 PCs on the manager, 1 new; 3 programs, 0 overflowed; 1 report(s)" in err, err)
    check(len(b.reports()) == 1, "one report: %s" % b.reports())
    b.close()


def test_kernel_without_modules():
    """A manager without modules prints null (a nil slice): the map has no
    modules; a module missing from --modules has an unknown build id."""
    srv = Server().start()
    tok = srv.token()
    b = Bridge("nomod", kernel())
    b.mgr.modules = None
    b.mgr.pcs = vm_pcs([0x10, 0x18])
    b.mgr.execs = 4
    b.ok(srv, tok)
    check(srv.pcs(b.build) == canonical(b.mgr.pcs), "pcs")
    b.close()
    b = Bridge("onemod", kernel())
    b.mgr.modules.append({"Name": "no_ko", "Addr": 0xFFFFFFFFA0080000, "Size": 0x100,
                          "Path": "/k/no_ko.ko"})
    b.mgr.pcs = {0xFFFFFFFFA0080010}
    b.ok(srv, tok)
    bins = {x["name"]: x for x in srv.get("/api/v1/builds/%s/pcs" % b.build)["binaries"]}
    check(bins["no_ko"]["offsets"] == [0x15] and bins["no_ko"]["build_id"] in ("", None),
          "module without .ko: %s" % bins.get("no_ko"))
    b.close()
    srv.stop()


def test_help_documents_every_option():
    p = collect(["syzkaller", "--help"])
    check(p.returncode == 0, p.stderr)
    for opt in ["--manager", "--vmlinux", "--name", "--modules", "--spool", "--server",
                "--token", "--token-file", "--once", "--interval", "--arch", "--cover-words",
                "--timeout", "--max-attempts", "--backoff", "--help"]:
        check(("  " + opt + " ") in p.stdout, "%s missing from --help" % opt)
    p = collect(["syzkaller", "--manager", "http://x"])
    check(p.returncode == 2 and "--vmlinux" in p.stderr, p.stderr)
    p = collect(["syzkaller", "--manager", "http://127.0.0.1:1", "--vmlinux", "/nonexistent",
                 "--once", "--spool", tmpdir()])
    check(p.returncode == 125 and "/nonexistent" in p.stderr, p.stderr)


if __name__ == "__main__":
    run_tests([test_help_documents_every_option, test_unreachable_manager,
               test_coverage_and_overflow_counts_reach_the_api,
               test_malformed_answers_push_nothing_twice, test_many_programs_split_into_reports,
               test_kernel_without_modules, test_daemon_retries_next_poll])
