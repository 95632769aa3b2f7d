"""Data for the browser tests: a kcovd serving web/ (--web-dir) on a free
127.0.0.1 port, loaded with coverage that the real kcov-collect collected
on emulated test machines (the KCOV stand-in) and pushed over HTTP, and,
when this kcovd can import builds, a real imported build (the symbolize
test fixtures) with coverage pushed against it.

Prints one JSON line describing what it loaded, then keeps kcovd running
until its standard input closes (the node test runner owns it).

Environment: what tests/integration/kcovlib.py needs (KCOVD, KCOV_COLLECT,
STANDIN_*; KC_DB_BACKEND=pg: kcovd on a throw-away PostgreSQL server that
pgserver.py starts here and removes at exit), plus WEB_DIR and, for the imported build, SYM_SOURCE_DIR (the
sources of tests/symbolize/fixture, compiled here with clang and ld.lld
into a miniature kernel with kernel-like directories).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import kcovlib  # noqa: E402
import test_syzkaller  # noqa: E402
import wiregen  # noqa: E402
from kcovlib import LINK_TEXT, Machine, Server, check  # noqa: E402

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
        m.delivered(srv.url, token)
        out.append({"name": name, "reports": len(runs), "dir": m.dir})
    return out


def tool(*names):
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    return None


def call_sites_by_function(objdump, binary, relocatable):
    """(function, offset) of every call site of the coverage callback in the
    .text section: offsets from _text for the vmlinux, from the start of
    .text for a module (whose calls are relocations at call + 1)."""
    args = [objdump, "-d", "--no-show-raw-insn"] + (["-r"] if relocatable else []) + [binary]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    sites, section, func = [], None, None
    for line in out.splitlines():
        m = re.match(r"Disassembly of section (\S+):", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"[0-9a-f]+ <([^>]+)>:", line)
        if m:
            func = m.group(1)
            continue
        if section != ".text" or "__sanitizer_cov_trace_pc" not in line:
            continue
        if relocatable:
            m = re.match(r"\s*([0-9a-f]+):\s+R_X86_64_\w+\s+__sanitizer_cov_trace_pc", line)
            if m:
                sites.append((func, int(m.group(1), 16) - 1))
        else:
            m = re.match(r"\s*([0-9a-f]+):\s+call", line)
            if m:
                sites.append((func, int(m.group(1), 16) - LINK_TEXT))
    return sites


def call_sites(objdump, binary, relocatable):
    """The sorted distinct call-site offsets (call_sites_by_function)."""
    return sorted({s for _, s in call_sites_by_function(objdump, binary, relocatable)})


def build_id(readelf, binary):
    out = subprocess.run([readelf, "-n", binary], check=True, capture_output=True, text=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


# Where the symbolize fixture's sources go in the miniature kernel tree.
LAYOUT = {"alpha.c": "kernel/sched/alpha.c", "beta.c": "fs/beta.c", "start.c": "init/start.c",
          "modmain.c": "drivers/mini/modmain.c", "helpers.h": "include/helpers.h",
          "cov.c": "arch/x86/cov.c"}


def gen_source(n, later=False, f7=None):
    """lib/gen.c: n small branchy functions, so one file has many lines.
    later: the file of a later build (merge tests): a branch inserted into
    gen_f3, one line of gen_f7 changed (f7: that change, default later;
    the git history of the changes page has the two apart)."""
    f7 = later if f7 is None else f7
    out = ["/* gen.c - generated for the web UI tests: small branchy functions. */",
           '#include "helpers.h"', ""]
    for i in range(n):
        out += ["int gen_f%d(int x)" % i, "{"]
        if later and i == 3:
            out += ["\tif (x == 333)", "\t\treturn gen_f2(x) + 333;"]
        out += ["\tif (x > %d)" % i, "\t\treturn x - %d;" % (i if not (f7 and i == 7) else 70),
                "\tif (x & 1)", "\t\treturn pick_max(x, %d);" % i,
                "\treturn x * %d;" % (i + 2), "}", ""]
    return "\n".join(out) + "\n"


def build_kernel(src_fix, work, later=False):
    """Compile the symbolize fixture's sources, laid out in kernel-like
    directories plus lib/gen.c, into a vmlinux and a module with clang and
    ld.lld exactly like tests/symbolize does (trace-pc flavour). Returns
    (vmlinux, module, source root) or None without the tools."""
    clang, lld = tool("clang", "clang-14"), tool("ld.lld", "ld.lld-14")
    if not (clang and lld and os.path.isdir(src_fix)):
        return None
    root = os.path.join(work, "linux")
    for name, rel in LAYOUT.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        shutil.copy(os.path.join(src_fix, name), os.path.join(root, rel))
    os.makedirs(os.path.join(root, "lib"))
    with open(os.path.join(root, "lib", "gen.c"), "w") as f:
        f.write(gen_source(60, later))
    kflags = ["-O2", "-g", "-fno-pic", "-mcmodel=kernel", "-ffreestanding", "-fno-builtin",
              "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-Iinclude"]
    objs = {}
    for rel in ["arch/x86/cov.c", "kernel/sched/alpha.c", "fs/beta.c", "init/start.c",
                "drivers/mini/modmain.c", "lib/gen.c"]:
        o = os.path.join(work, os.path.basename(rel) + ".o")
        cov = [] if rel.endswith("cov.c") else ["-fsanitize-coverage=trace-pc"]
        subprocess.run([clang] + kflags + cov + ["-c", rel, "-o", o], cwd=root, check=True)
        objs[os.path.basename(rel)] = o
    vmlinux, module = os.path.join(work, "vmlinux"), os.path.join(work, "minimod.ko")
    subprocess.run([lld, "-static", "--build-id=sha1", "-T", os.path.join(src_fix, "vmlinux.lds"),
                    objs["alpha.c"], objs["beta.c"], objs["start.c"], objs["gen.c"], objs["cov.c"],
                    "-o", vmlinux], check=True)
    os.makedirs(os.path.join(work, "modules"))
    subprocess.run([lld, "-r", "--build-id=sha1", "-T", os.path.join(src_fix, "module.lds"),
                    objs["alpha.c"], objs["beta.c"], objs["modmain.c"],
                    "-o", os.path.join(work, "modules", "minimod.ko")], check=True)
    return vmlinux, os.path.join(work, "modules", "minimod.ko"), root


def import_build(srv, data_dir, name="kernel", later=False):
    """Build a miniature kernel from the symbolize fixture's sources, import
    it through POST /api/v1/builds (vmlinux, module, sources), and write a
    KCOV stand-in description of it whose syscalls run chosen subsets of its
    real call sites, so the real kcov-collect can cover it. Returns a
    description, or None when this kcovd or machine cannot."""
    objdump = tool("llvm-objdump", "llvm-objdump-14")
    readelf = tool("readelf", "llvm-readelf", "llvm-readelf-14")
    work = os.path.join(data_dir, name)
    os.makedirs(work)
    built = objdump and readelf and build_kernel(os.environ.get("SYM_SOURCE_DIR", ""), work, later)
    check(built, "web fixture: no clang/ld.lld/llvm-objdump/readelf or fixture sources "
          "(scripts/install-deps.sh installs them; SYM_SOURCE_DIR names the sources)")
    vmlinux, module, source = built
    # Subsystems: a directory, a file, a directory without '/', an N: regex;
    # init/start.c is in none.
    with open(os.path.join(source, "MAINTAINERS"), "w") as f:
        f.write("SCHEDULER\nF:\tkernel/sched/\n\nFILESYSTEMS\nF:\tfs/\nF:\tinclude/helpers.h\n\n"
                "MINI DRIVER\nF:\tdrivers/mini\nN:\tgen\n")
    admin = srv.token("admin", "web-tests-admin")
    status, body = srv.request("POST", "/api/v1/builds",
                               json.dumps({"vmlinux": vmlinux, "modules": os.path.dirname(module),
                                           "source": source}).encode(),
                               {"Content-Type": "application/json"}, admin)
    check(status == 200, "import: %d %s" % (status, body[:500]))
    summary = json.loads(body)
    vm_sites = call_sites(objdump, vmlinux, False)
    mod_sites = call_sites(objdump, module, True)
    tokens = ["vmlinux+0x%x" % s for s in vm_sites] + ["minimod+0x%x" % s for s in mod_sites]
    pick = {
        "cov_a": [t for i, t in enumerate(tokens) if i % 3 == 1],
        "cov_b": [t for i, t in enumerate(tokens) if i % 3 == 2],
        "cov_c": [t for i, t in enumerate(tokens) if i % 5 == 0],
        "cov_all": tokens,
    }
    desc = os.path.join(data_dir, "fixture-%s.desc" % name)
    with open(desc, "w") as f:
        f.write("kernel build_id=%s release=6.1.0-webtest link_text=0x%x text_size=0x200000\n"
                % (build_id(readelf, vmlinux), LINK_TEXT))
        f.write("module name=minimod build_id=%s core_size=65536 text_offset=0x100\n"
                % build_id(readelf, module))
        for name, sites in pick.items():
            f.write("syscall %s %s\n" % (name, " ".join(sites)))
    return {"build_id": build_id(readelf, vmlinux), "summary": summary, "desc": desc,
            "sites": len(tokens), "vm_sites": vm_sites, "vmlinux": vmlinux, "modules": os.path.dirname(module),
            "source": source}


# The git history of the changes page: the main build's tree, then the
# two changes of the later build's lib/gen.c by two other authors.
HISTORY = [("base tree", "Ada Base", None), ("gen: early return in gen_f3", "Bo Gen", False),
           ("gen: change gen_f7", "Cy Gen", True)]


def import_git(srv, data_dir, build, later):
    """A git repository of the two builds' sources (HISTORY; its last
    commit is the later build's tree, checked), and both builds imported
    again from it (--git/--rev through POST /api/v1/builds), the main one
    at the first commit and the later one at the last. Returns the
    commits' ids, oldest first."""
    repo = os.path.join(data_dir, "git")
    shutil.copytree(build["source"], repo)

    def git(*args, env=None):
        return subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                              text=True, env={**os.environ, **(env or {})}).stdout

    git("init", "-q", "-b", "main")
    revs = []
    for i, (subject, author, f7) in enumerate(HISTORY):
        if f7 is not None:
            with open(os.path.join(repo, "lib", "gen.c"), "w") as f:
                f.write(gen_source(60, True, f7))
        git("add", "-A")
        mail = author.split()[0].lower() + "@example.org"
        date = "2026-02-%02dT10:00:00Z" % (i + 1)
        git("commit", "-q", "-m", subject, env={
            "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": mail, "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": mail,
            "GIT_COMMITTER_DATE": date})
        revs.append(git("rev-parse", "HEAD").strip())
    check(subprocess.run(["diff", "-r", "-x", ".git", repo, later["source"]]).returncode == 0,
          "the last commit is not the later build's tree")
    admin = srv.token("admin", "web-tests-git")
    # the later build first, so that the main one stays the newest import
    for b, rev in ((later, revs[-1]), (build, revs[0])):
        status, body = srv.request("POST", "/api/v1/builds", json.dumps(
            {"vmlinux": b["vmlinux"], "modules": b["modules"], "git": repo, "rev": rev}).encode(),
            {"Content-Type": "application/json"}, admin)
        check(status == 200, "import from git: %d %s" % (status, body[:500]))
        b["rev"] = rev
    return revs


MACHINES_IMPORTED = [
    ("web-a", 0x12000000, 0xFFFFFFFFC0300000, "44444444-aaaa-4bbb-8ccc-000000000004",
     [("ltp", ["cov_a", "cov_c"])]),
    ("web-b", 0x04000000, 0xFFFFFFFFC0700000, "55555555-aaaa-4bbb-8ccc-000000000005",
     [("syzkaller", ["cov_b"])]),
]
# The later build: one machine covers all of it (merge tests).
MACHINES_LATER = [
    ("web-c", 0x08000000, 0xFFFFFFFFC0500000, "66666666-aaaa-4bbb-8ccc-000000000006",
     [("ltp", ["cov_all"])]),
]


def load_imported(srv, token, imp, machines=MACHINES_IMPORTED):
    """Machines booted on the imported kernel push coverage: on the first,
    ltp covers cov_a and cov_c, syzkaller cov_b; on the later one, ltp
    covers everything."""
    kcovlib.KERNEL_DESC = imp["desc"]
    out = []
    for name, kaslr, base, boot, runs in machines:
        m = Machine(name, kaslr, {"minimod": base}, boot)
        for label, syscalls in runs:
            m.run(syscalls, label=label, extra=["--mode", "unique"])
        m.delivered(srv.url, token)
        out.append({"name": name, "reports": len(runs), "dir": m.dir})
    return out


HISTORY_DAYS_AGO = (9, 5, 2)


def load_history(srv, token, imp, data_dir):
    """Reports taken on earlier days (wire frames with their `created`,
    the day they belong to), from one more machine on the main build:
    subsets of what ltp covers today (cov_a), so every all-time, per-label
    and this-week figure stays what it was, and the trend chart and the
    heatmap have several days with different coverage."""
    name, boot = "web-hist", "77777777-aaaa-4bbb-8ccc-000000000007"
    status, body = srv.post_frame("/api/v1/boots", wiregen.addrmap(name, boot, imp["build_id"]),
                                  token)
    check(status == 200, "history address map: %d %s" % (status, body))
    cov_a = [s for i, s in enumerate(imp["vm_sites"]) if i % 3 == 1]
    now = int(time.time())
    for n, ago in enumerate(HISTORY_DAYS_AGO):
        offs = [s + 5 for j, s in enumerate(cov_a) if j % (len(HISTORY_DAYS_AGO) - n) == 0]
        uid, frame = wiregen.report(name, boot, offs, label="ltp", created=now - ago * 86400)
        status, body = srv.post_frame("/api/v1/reports", frame, token)
        check(status == 200, "history report: %d %s" % (status, body))
    d = os.path.join(data_dir, name)
    os.makedirs(d)
    return {"name": name, "reports": len(HISTORY_DAYS_AGO), "dir": d}


# The syzkaller instance: every fourth call site of the main build in its
# corpus, 400 programs of which 250 overflowed (150 in openat, 100 in mmap).
SYZ_NAME, SYZ_EXECS, SYZ_OVERFLOWS = "web-syz", 400, {"openat": 150, "mmap": 100}


def load_syzkaller(srv, token, imp):
    """A syzkaller fleet through the bridge: the integration test's fake
    syz-manager (tests/integration/test_syzkaller.py, byte for byte what
    syzkaller serves) with part of the main build's corpus coverage, and
    one poll of the real `kcov-collect syzkaller` pushing it to kcovd.
    The main build has no KASLR in this picture (as syzbot runs it), so
    /rawcover prints link-time call-instruction addresses."""
    mgr = test_syzkaller.Manager(SYZ_NAME)
    mgr.modules = [{"Name": "", "Addr": kcovlib.LINK_TEXT, "Size": 0x200000,
                    "Path": imp["vmlinux"]}]
    sites = [s for i, s in enumerate(imp["vm_sites"]) if i % 4 == 0]
    mgr.pcs = {kcovlib.LINK_TEXT + s for s in sites}
    mgr.execs = SYZ_EXECS
    mgr.overflows.update(SYZ_OVERFLOWS)
    http = test_syzkaller.serve(mgr)
    spool = tempfile.mkdtemp(prefix="kcov-web-syz-")
    try:
        p = kcovlib.collect(["syzkaller", "--manager", "http://127.0.0.1:%d" % http.server_address[1],
                             "--name", SYZ_NAME, "--vmlinux", imp["vmlinux"], "--modules",
                             imp["modules"], "--spool", spool, "--once", "--server", srv.url,
                             "--token", token, "--max-attempts", "1"])
        check(p.returncode == 0 and not [f for f in os.listdir(spool) if f.startswith("r.")],
              "syzkaller bridge: %d %s" % (p.returncode, p.stderr))
    finally:
        http.shutdown()
        http.server_close()
    # Acknowledged means committed: the bridge's reports are all visible.
    reports = {m["name"]: m["reports"] for m in srv.get("/api/v1/machines")["machines"]}
    return ({"name": SYZ_NAME, "reports": reports.get(SYZ_NAME, 0), "dir": spool},
            {"machine": SYZ_NAME, "label": "syzkaller/" + SYZ_NAME, "build_id": imp["build_id"],
             "points": len(sites), "runs": SYZ_EXECS, "overflowed": sum(SYZ_OVERFLOWS.values())})


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
    # SIGTERM (a timeout killing the run) unwinds like the end of stdin: the
    # kcovd processes stop and, on PostgreSQL, pgserver's exit handler
    # removes the throw-away server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir = tempfile.mkdtemp(prefix="kcovd-web-")
    web_dir = web_copy(os.environ["WEB_DIR"], data_dir)
    srv = Server(data_dir=data_dir, extra=["--web-dir", web_dir]).start()
    log("fixture: kcovd on %s" % ("PostgreSQL, " + srv.db if srv.db else "SQLite"))
    machines = []
    auth = None
    try:
        token = srv.token("push", "web-tests")
        machines[:] = load_fleet(srv, token)
        # a later build of the same tree (lib/gen.c changed), pushed first
        # so that the main build stays the newest
        later = import_build(srv, data_dir, "later", later=True)
        machines.extend(load_imported(srv, token, later, MACHINES_LATER))
        build = import_build(srv, data_dir)
        machines.extend(load_imported(srv, token, build))
        revs = import_git(srv, data_dir, build, later)
        machines.append(load_history(srv, token, build, data_dir))
        syz_machine, syzkaller = load_syzkaller(srv, token, build)
        machines.append(syz_machine)
        # The writer commits in groups: wait until every report is visible.
        want = sum(m["reports"] for m in machines)
        for _ in range(200):
            got = sum(m["reports"] for m in srv.get("/api/v1/machines")["machines"])
            if got >= want:
                break
            time.sleep(0.05)
        # A second kcovd that wants read tokens: on SQLite on a copy of the
        # database (`kcovd backup`: one kcovd serves one database file), on
        # PostgreSQL a second node on the same database.
        auth_dir = os.path.join(data_dir, "auth")
        os.makedirs(auth_dir)
        if not srv.db:
            subprocess.run([kcovlib.KCOVD, "backup", os.path.join(auth_dir, "kcovd.db"),
                            "--data-dir", data_dir], check=True, capture_output=True)
        auth = Server(data_dir=auth_dir, db=srv.db,
                      extra=["--web-dir", web_dir, "--read-auth"]).start()
        read_token = auth.token("read", "web-tests-read")
        print(json.dumps({"url": srv.url, "backend": "pg" if srv.db else "sqlite",
                          "data_dir": srv.data_dir, "web_dir": web_dir,
                          "machines": machines, "import": build, "later": later, "revs": revs,
                          "auth_url": auth.url, "read_token": read_token,
                          "syzkaller": syzkaller}), flush=True)
        sys.stdin.read()
    finally:
        # kcovlib's stop(): exit 0 on SIGTERM and no sanitizer report in the
        # log.
        problems = []
        for s in (auth, srv):
            try:
                if s:
                    s.stop()
            except kcovlib.Failure as e:
                problems.append(str(e))
        for m in machines:
            shutil.rmtree(m["dir"], ignore_errors=True)
        shutil.rmtree(srv.data_dir, ignore_errors=True)
    if problems:
        log("kcovd failed at shutdown:\n" + "\n".join(problems))
        sys.exit(1)


if __name__ == "__main__":
    main()
