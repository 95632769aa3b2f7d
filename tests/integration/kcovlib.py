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
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

KCOVD = os.environ["KCOVD"]
COLLECT = os.environ["KCOV_COLLECT"]
STANDIN_LIB = os.environ["STANDIN_LIB"]
WORKLOAD = os.environ["STANDIN_WORKLOAD"]
MKSYSROOT = os.environ["STANDIN_MKSYSROOT"]
KERNEL_DESC = os.environ["STANDIN_KERNEL"]
LINK_TEXT = 0xFFFFFFFF81000000


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def tmpdir(prefix="kcov-it-"):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp"))


class Server:
    """A kcovd process on a free port with its own data directory."""

    def __init__(self, data_dir=None, extra=()):
        self.data_dir = data_dir or tmpdir("kcovd-")
        self.extra = list(extra)
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
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while not os.path.exists(port_file):
            check(self.proc.poll() is None, "kcovd exited at start: " + self.log_text())
            check(time.time() < deadline, "kcovd did not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        return self

    def log_text(self):
        try:
            return open(os.path.join(self.data_dir, "kcovd.log")).read()[-3000:]
        except OSError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def token(self, scope="push", name="test"):
        out = subprocess.run([KCOVD, "token", "add", name, "--scope", scope,
                              "--data-dir", self.data_dir],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def request(self, method, path, body=None, headers=None, token=None):
        """Returns (status, body bytes)."""
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
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
            "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0",
        })
        if self.unique != "yes":
            e["KCOV_STANDIN_UNIQUE"] = self.unique
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
        p = subprocess.run(args, env=self.env(), capture_output=True, text=True)
        if check_rc:
            check(p.returncode == 0, "kcov-collect run failed (%d): %s" % (p.returncode, p.stderr))
        return p

    def push(self, server_url, token, extra=()):
        args = [COLLECT, "push", "--spool", self.spool, "--server", server_url,
                "--token", token, "--backoff", "0.05"] + list(extra)
        return subprocess.run(args, capture_output=True, text=True,
                              env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})

    def reports(self):
        return sorted(f for f in os.listdir(self.spool) if f.startswith("r."))

    def show(self, name):
        """Parse `kcov-collect show` of a spooled report."""
        out = subprocess.run([COLLECT, "show", os.path.join(self.spool, name)],
                             check=True, capture_output=True, text=True).stdout
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


def run_tests(tests):
    """Run test functions, print a plain summary line, exit non-zero on failure."""
    passed = failed = 0
    for t in tests:
        try:
            t()
            passed += 1
            print("ok   %s" % t.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure kind
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    raise SystemExit(1 if failed else 0)
