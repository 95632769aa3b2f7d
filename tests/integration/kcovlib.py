"""Shared helpers for the integration tests: start kcovd on an ephemeral
127.0.0.1 port with a temporary database, make tokens, and run the real
kcov-collect against the KCOV stand-in on emulated test machines.

Binary paths come from the environment set by CMake (see CMakeLists.txt).
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

KCOVD = os.environ["KCOVD"]
COLLECT = os.environ["KCOV_COLLECT"]
STANDIN_LIB = os.environ["STANDIN_LIB"]
WORKLOAD = os.environ["STANDIN_WORKLOAD"]
# libfaketime (Debian faketime): Machine.days_ago runs the collector on an earlier day.
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
MKSYSROOT = os.environ["STANDIN_MKSYSROOT"]
KERNEL_DESC = os.environ["STANDIN_KERNEL"]
LINK_TEXT = 0xFFFFFFFF81000000


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print
# when they find something (the ASan tree runs with -fno-sanitize-recover,
# but a report must fail the test even when the process exits 0).
SANITIZER = re.compile(r"ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|"
                       r"runtime error:|SUMMARY: \w+Sanitizer")
# kcov-collect and kcovd run with leak detection on in the ASan tree; only a
# process with the LD_PRELOAD KCOV stand-in needs verify_asan_link_order=0
# (the stand-in library is loaded before the ASan runtime).
ASAN_ENV = "detect_leaks=1:abort_on_error=0"


def sanitizer_report(text):
    """The sanitizer report in a process's output, or None."""
    m = SANITIZER.search(text or "")
    return None if m is None else text[max(0, m.start() - 200):][:4000]


def check_output(what, p):
    """Fail on a sanitizer report in a finished process's stderr/stdout."""
    rep = sanitizer_report((p.stderr or "") + (p.stdout or ""))
    check(rep is None, "%s printed a sanitizer report:\n%s" % (what, rep))
    return p


def collect(args, env=None, **kw):
    """Run kcov-collect ARGS (a list without the binary) to completion and
    fail on a sanitizer report in its output; returns the CompletedProcess."""
    e = dict(env or os.environ)
    e.setdefault("ASAN_OPTIONS", ASAN_ENV)
    p = subprocess.run([COLLECT] + list(args), env=e, capture_output=True, text=True, **kw)
    return check_output("kcov-collect " + (args[0] if args else ""), p)


def require_tools(part, tools):
    """tools: (name, path or None) pairs. Returns when every one is there;
    otherwise exits: 0 when KC_SKIP names part (skipped(), loudly), else 1
    with a message naming the missing ones."""
    missing = [n for n, v in tools if not v]
    if not missing:
        return
    if skipped(part, "missing " + ", ".join(missing)):
        sys.exit(0)
    print("FAIL: missing " + ", ".join(missing) + " (scripts/install-deps.sh installs them)")
    sys.exit(1)


def skipped(part, why):
    """True when the documented variable KC_SKIP (comma-separated part names,
    docs/testing.md) asks to skip PART: says so loudly and records it in
    $KC_SKIP_LOG, so the test command ends "incomplete". False otherwise:
    the caller must then fail, never skip silently."""
    if part not in os.environ.get("KC_SKIP", "").split(","):
        return False
    msg = "SKIPPED %s (KC_SKIP): %s" % (part, why)
    print(msg, flush=True)
    log = os.environ.get("KC_SKIP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(msg + "\n")
    return True


def free_port():
    """A 127.0.0.1 TCP port nothing listens on (for a server that must come
    back on the same address, or an address that must refuse)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tmpdir(prefix="kcov-it-"):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp"))


SERVERS = []  # every Server started by this test process, checked by run_tests

# The database backend the suites run on (docs/testing.md): "sqlite" (the
# default: DATA_DIR/kcovd.db) or "pg": one throw-away PostgreSQL server
# (pgserver.py) for the test process and a fresh database on it for each
# Server, given to kcovd as KCOVD_DB.
BACKEND = os.environ.get("KC_DB_BACKEND", "sqlite")
_PG = []  # the test process's PgServer, started on first use
_PG_DBS = [0]


def pg_database():
    """A new empty database on the test process's PostgreSQL server: its
    libpq URL."""
    import pgserver
    if not _PG:
        _PG.append(pgserver.PgServer().start())
    _PG_DBS[0] += 1
    name = "kcov_it_%d" % _PG_DBS[0]
    _PG[0].psql("CREATE DATABASE %s" % name)
    return _PG[0].url.rsplit("/", 1)[0] + "/" + name


def pg_server():
    """The test process's PgServer (for stop/start tests); None on SQLite."""
    return _PG[0] if _PG else None


class Server:
    """A kcovd process on a free port with its own data directory.

    Every started server is checked: stop() fails when kcovd exits non-zero
    on SIGTERM, and stop(), kill() and run_tests() fail on a sanitizer
    report in its log."""

    def __init__(self, data_dir=None, extra=(), db=None):
        self.data_dir = data_dir or tmpdir("kcovd-")
        self.extra = list(extra)
        # db: a libpq URL (several nodes on one database); else a new
        # database when the suite runs on PostgreSQL, else the data dir's
        # SQLite file.
        self.db = db or (pg_database() if BACKEND == "pg" and "--db" not in self.extra
                         else None)
        # HTTPS when kcovd serves TLS; request() then needs an ssl context.
        self.scheme = "https" if "--tls-cert" in self.extra else "http"
        self.proc = None
        self.port = None

    def start(self):
        port_file = os.path.join(self.data_dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(os.path.join(self.data_dir, "kcovd.log"), "ab")
        self.proc = subprocess.Popen(
            [KCOVD, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
             "--port-file", port_file] + self.extra,
            stdout=self.log, stderr=self.log, env=self.env())
        if self not in SERVERS:
            SERVERS.append(self)
        deadline = time.time() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                # A refusal to start is what some tests want: not checked
                # again at shutdown, but a sanitizer report still fails.
                self.proc = None
                self.check_log()
                raise Failure("kcovd exited at start: " + self.log_text())
            check(time.time() < deadline, "kcovd did not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        return self

    def log_text(self, whole=False):
        try:
            text = open(os.path.join(self.data_dir, "kcovd.log"), errors="replace").read()
        except OSError:
            return ""
        return text if whole else text[-3000:]

    def check_log(self):
        rep = sanitizer_report(self.log_text(whole=True))
        check(rep is None, "kcovd (%s) printed a sanitizer report:\n%s" % (self.data_dir, rep))

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self, sig=signal.SIGTERM):
        """Stop kcovd with SIG (SIGTERM: it must exit 0) and check its log."""
        rc = None
        if self.proc:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=30)
            rc = self.proc.returncode
        self.proc = None
        self.check_log()
        check(rc is None or sig != signal.SIGTERM or rc == 0,
              "kcovd exited with %s at shutdown: %s" % (rc, self.log_text()))

    def kill(self):
        self.stop(signal.SIGKILL)

    def env(self):
        """The environment of a kcovd command on this server's database
        (KCOVD_DB set when it is not the data dir's SQLite file)."""
        e = {"ASAN_OPTIONS": ASAN_ENV, **os.environ}
        if self.db:
            e["KCOVD_DB"] = self.db
        return e

    def query(self, sql, params=()):
        """Run one SQL statement on this server's database, whichever the
        backend: the rows as tuples (a write is committed and gives []).
        params: ints and strs for the `?` of sql. SQLite through the sqlite3
        module on DATA_DIR/kcovd.db; PostgreSQL through psql on self.db,
        the params written into the text as literals, where every value
        comes back as text and is turned into an int when it is one, an
        empty value into None (the tests' queries count and compare
        numbers). Write SQL both accept ("binary" quoted: a reserved word
        on PostgreSQL)."""
        if not self.db:
            import sqlite3
            con = sqlite3.connect(os.path.join(self.data_dir, "kcovd.db"), timeout=30)
            try:
                rows = [tuple(r) for r in con.execute(sql, params)]
                con.commit()
                return rows
            finally:
                con.close()
        parts = sql.split("?")
        check(len(parts) == len(params) + 1, "query %r: %d params" % (sql, len(params)))
        lit = [str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'"
               for v in params]
        sql = parts[0] + "".join(v + p for v, p in zip(lit, parts[1:]))
        import csv
        import io
        import pgserver
        out = subprocess.run([os.path.join(pgserver.pg_bindir(), "psql"), "-X", "-q", "-t",
                              "--csv", "-v", "ON_ERROR_STOP=1", "-d", self.db, "-c", sql],
                             capture_output=True, text=True)
        check(out.returncode == 0, "psql %r: %s" % (sql, out.stderr.strip()))

        def value(v):
            if v == "":
                return None
            try:
                return int(v)
            except ValueError:
                return v
        return [tuple(value(v) for v in rec) for rec in csv.reader(io.StringIO(out.stdout))]

    def token(self, scope="push", name="test"):
        out = subprocess.run([KCOVD, "token", "add", name, "--scope", scope,
                              "--data-dir", self.data_dir],
                             check=True, capture_output=True, text=True, env=self.env())
        return out.stdout.strip()

    def request(self, method, path, body=None, headers=None, token=None, context=None,
                base=None):
        """Returns (status, body bytes). context: an ssl.SSLContext for
        HTTPS; base: another base URL than self.url (a host name)."""
        req = urllib.request.Request((base or self.url) + path, data=body, method=method,
                                     headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=60, context=context) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path, token=None):
        status, body = self.request("GET", path, token=token)
        check(status == 200, "GET %s: %d %s" % (path, status, body[:300]))
        return json.loads(body)

    def post_frame(self, path, frame, token, ctype="application/x-kcov"):
        return self.request("POST", path, frame, {"Content-Type": ctype}, token)

    def pcs(self, build_id):
        """{binary name: set of canonical offsets}"""
        j = self.get("/api/v1/builds/%s/pcs" % build_id)
        return {b["name"]: set(b["offsets"]) for b in j["binaries"] if b["offsets"]}


LEFTOVERS = []  # servers and processes to kill if a test fails half-way


def started(x):
    """Register a Server or Popen to be killed when the test process exits."""
    LEFTOVERS.append(x)
    return x


@atexit.register
def _kill_leftovers():
    for x in LEFTOVERS:
        if isinstance(x, Server):
            x.kill()
        elif x.poll() is None:
            x.kill()
            x.wait()


def parse_kernel(path=KERNEL_DESC):
    """The stand-in kernel: build id, modules and the sites of each syscall."""
    k = {"modules": {}, "syscalls": {}, "remote": {}}
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "kernel":
            kv = dict(w.split("=", 1) for w in words[1:])
            k["build_id"] = kv["build_id"]
            k["release"] = kv["release"]
        elif words[0] == "module":
            kv = dict(w.split("=", 1) for w in words[1:])
            k["modules"][kv["name"]] = kv
        elif words[0] in ("syscall", "remote"):
            sites = []
            for tok in words[2:]:
                m = re.fullmatch(r"([A-Za-z0-9_]+)\+0x([0-9a-f]+)(?:\*(\d+))?", tok)
                sites.append((m.group(1), int(m.group(2), 16)))
            k["syscalls" if words[0] == "syscall" else "remote"][words[1]] = sites
    return k


KERNEL = parse_kernel()


def expected(syscalls, remote=False):
    """Canonical coverage the syscalls must produce: {binary: offsets}.
    A kcov PC is the call site + 5; canonical offsets keep that PC."""
    out = {}
    for s in syscalls:
        sites = list(KERNEL["syscalls"][s])
        if remote:
            sites += KERNEL["remote"].get(s, [])
        for binary, off in sites:
            out.setdefault(binary, set()).add(off + 5)
    return out


class Machine:
    """An emulated test machine: a boot (sysroot snapshot with its own KASLR
    offset and module bases), a stand-in kcov device and a spool."""

    def __init__(self, name, kaslr, module_bases, boot_id, unique="yes"):
        self.name = name
        self.dir = tmpdir("machine-%s-" % name)
        self.sysroot = os.path.join(self.dir, "sysroot")
        self.state = os.path.join(self.dir, "state")
        self.spool = os.path.join(self.dir, "spool")
        self.device = os.path.join(self.dir, "kcov")
        os.makedirs(self.state)
        self.unique = unique
        self.days_ago = 0  # run() as on that many days before today (env())
        args = [MKSYSROOT, KERNEL_DESC, self.sysroot, "--kaslr", hex(kaslr), "--boot-id", boot_id]
        for mod, base in module_bases.items():
            args += ["--module", "%s=%s" % (mod, hex(base))]
        subprocess.run(args, check=True)

    def env(self):
        e = dict(os.environ)
        e.update({
            "LD_PRELOAD": STANDIN_LIB,
            "KCOV_STANDIN_KERNEL": KERNEL_DESC,
            "KCOV_STANDIN_SYSROOT": self.sysroot,
            "KCOV_STANDIN_STATE": self.state,
            "KCOV_STANDIN_DEVICE": self.device,
            "ASAN_OPTIONS": "verify_asan_link_order=0:" + ASAN_ENV,
        })
        if self.unique != "yes":
            e["KCOV_STANDIN_UNIQUE"] = self.unique
        if self.days_ago:
            # A machine that ran days ago: its clock (libfaketime) puts
            # that day into the reports' `created`.
            e["LD_PRELOAD"] += ":" + FAKETIME_LIB
            e["FAKETIME"] = "-%dd" % self.days_ago
            e["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        return e

    def run(self, syscalls, label="ltp", extra=(), server=None, token=None, check_rc=True):
        args = [COLLECT, "run", "--spool", self.spool, "--machine", self.name,
                "--label", label, "--device", self.device, "--sysroot", self.sysroot,
                "--words", "65536", "--bitmap-words", "1024"] + list(extra)
        if server:
            args += ["--server", server, "--max-attempts", "1"]
        if token:
            args += ["--token", token]
        args += ["--", WORKLOAD] + list(syscalls)
        p = check_output("kcov-collect run", subprocess.run(
            args, env=self.env(), capture_output=True, text=True))
        if check_rc:
            check(p.returncode == 0, "kcov-collect run failed (%d): %s" % (p.returncode, p.stderr))
        return p

    def push(self, server_url, token, extra=()):
        return collect(["push", "--spool", self.spool, "--server", server_url,
                        "--token", token, "--backoff", "0.05"] + list(extra))

    def delivered(self, server_url, token, extra=()):
        """Push the whole spool and fail unless every report was delivered:
        exit 0, nothing left in the spool and nothing moved to rejected/."""
        p = self.push(server_url, token, extra)
        rejected = os.path.join(self.spool, "rejected")
        rej = os.listdir(rejected) if os.path.isdir(rejected) else []
        check(p.returncode == 0 and self.reports() == [] and rej == [],
              "%s: push did not deliver everything (exit %d, left %s, rejected %s): %s"
              % (self.name, p.returncode, self.reports(), rej, p.stderr[-500:]))
        return p

    def reports(self):
        return sorted(f for f in os.listdir(self.spool) if f.startswith("r."))

    def show(self, name):
        """Parse `kcov-collect show` of a spooled report."""
        p = collect(["show", os.path.join(self.spool, name)])
        check(p.returncode == 0, "kcov-collect show %s: %s" % (name, p.stderr))
        out = p.stdout
        rep = {"pcs": set(), "runs": []}
        for line in out.splitlines():
            key, _, rest = line.partition(" ")
            if key == "pc":
                rep["pcs"].add(int(rest, 16))
            elif key == "run":
                rep["runs"].append(dict(kv.split("=", 1) for kv in rest.split()))
            else:
                rep[key] = rest
        return rep

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _check_servers(final):
    """Sanitizer reports in every server's log; at the end, stop the servers
    a test left running (they must exit 0). Returns the failure messages."""
    problems = []
    for s in list(SERVERS):
        try:
            if final and s.proc is not None:
                s.stop()
            else:
                s.check_log()
        except Failure as e:
            problems.append(str(e))
        if final or s.proc is None:
            SERVERS.remove(s)
    return problems


def run_tests(tests):
    """Run test functions, print a plain summary line, exit non-zero on
    failure. A test fails too when a kcovd it started printed a sanitizer
    report, and the run fails when a server left running does not stop
    cleanly. Exits non-zero when no test ran."""
    passed = failed = 0
    for t in tests:
        try:
            t()
            problems = _check_servers(final=False)
            check(not problems, "; ".join(problems))
            passed += 1
            print("ok   %s" % t.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure kind
            _check_servers(final=False)
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
    for msg in _check_servers(final=True):
        failed += 1
        print("FAIL shutdown: %s" % msg, flush=True)
    print("%d passed, %d failed" % (passed, failed))
    raise SystemExit(1 if failed or not passed else 0)
