"""Data for the browser tests: a kcovd serving web/ (--web-dir) on a free
127.0.0.1 port, loaded with coverage that the real kcov-collect collected
on emulated test machines (the KCOV stand-in) and pushed over HTTP, and,
when this kcovd can import builds, a real imported build (the symbolize
test fixtures) with coverage pushed against it.

Prints one JSON line describing what it loaded, then keeps kcovd running
until its standard input closes (the node test runner owns it).

Environment: what tests/integration/kcovlib.py needs (KCOVD, KCOV_COLLECT,
STANDIN_*), plus WEB_DIR and, for the imported build, SYM_FIXTURE_DIR (the
built vmlinux/.ko of tests/symbolize) when present.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from kcovlib import KCOVD, Machine, Server, check  # noqa: E402

BASES_A = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}
BASES_B = {"standin_net": 0xFFFFFFFFC0230000, "standin_fs": 0xFFFFFFFFC0120000}

# name, kaslr, module bases, boot id, [(label, mode, syscalls)]
MACHINES = [
    ("ci-vm-01", 0x1E000000, BASES_A, "11111111-aaaa-4bbb-8ccc-000000000001",
     [("ltp", "unique", ["read", "write", "open", "close"]), ("ltp", "unique", ["stat", "mmap"])]),
    ("ci-vm-02", 0x0A400000, BASES_B, "22222222-aaaa-4bbb-8ccc-000000000002",
     [("kselftest", "unique", ["getpid", "sendmsg"]), ("kselftest", "trace-small", ["poll_loop"])]),
    ("fuzz-07", 0x26200000, BASES_A, "33333333-aaaa-4bbb-8ccc-000000000003",
     [("syzkaller", "unique", ["futex_loop", "open", "sendmsg"]), ("syzkaller", "trace-small", ["futex_loop"])]),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load_fleet(srv, token):
    out = []
    for name, kaslr, bases, boot, runs in MACHINES:
        m = Machine(name, kaslr, bases, boot)
        for label, mode, syscalls in runs:
            # "trace-small": trace mode with a buffer the loops overflow.
            words = "512" if mode == "trace-small" else "4096"
            m.run(syscalls, label=label, extra=["--mode", mode.split("-")[0], "--words", words,
                                                "--bitmap-words", "64"])
        p = m.push(srv.url, token)
        check(p.returncode == 0, "push of %s failed: %s" % (name, p.stderr))
        out.append({"name": name, "reports": len(runs), "dir": m.dir})
    return out


def import_build(srv):
    """Import the symbolize fixtures' vmlinux (+ modules, sources) when this
    kcovd has an import command. Returns a description or None."""
    fixture = os.environ.get("SYM_FIXTURE_DIR")
    if not fixture or not os.path.isdir(fixture):
        return None
    helptext = subprocess.run([KCOVD, "--help"], capture_output=True, text=True)
    if "import" not in helptext.stdout + helptext.stderr:
        return None
    return {"fixture": fixture}


def web_copy(src, data_dir):
    """A copy of web/ (without node_modules) plus the traps the static file
    tests need: symlinks out of the directory, one inside it, a file over
    kcovd's size limit."""
    dst = os.path.join(data_dir, "web")
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("node_modules"))
    os.symlink("/etc/passwd", os.path.join(dst, "escape.txt"))
    os.symlink("/etc", os.path.join(dst, "escape-dir"))
    os.symlink("app.css", os.path.join(dst, "inside.css"))
    with open(os.path.join(dst, "big.txt"), "wb") as f:
        f.truncate(9 << 20)
    return dst


def main():
    data_dir = tempfile.mkdtemp(prefix="kcovd-web-")
    web_dir = web_copy(os.environ["WEB_DIR"], data_dir)
    srv = Server(data_dir=data_dir, extra=["--web-dir", web_dir]).start()
    machines = []
    try:
        token = srv.token("push", "web-tests")
        machines[:] = load_fleet(srv, token)
        # The writer commits in groups: wait until every report is visible.
        want = sum(m["reports"] for m in machines)
        for _ in range(200):
            got = sum(m["reports"] for m in srv.get("/api/v1/machines")["machines"])
            if got >= want:
                break
            time.sleep(0.05)
        build = import_build(srv)
        print(json.dumps({"url": srv.url, "data_dir": srv.data_dir, "web_dir": web_dir,
                          "machines": machines,
                          "import": build}), flush=True)
        sys.stdin.read()
    finally:
        srv.stop()
        for m in machines:
            shutil.rmtree(m["dir"], ignore_errors=True)
        shutil.rmtree(srv.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
