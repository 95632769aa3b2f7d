"""The run command's demo fleet: a generated kernel-like source tree in a git
repository with two revisions and a MAINTAINERS file, each revision compiled
with clang (trace-pc, like a KCOV kernel) into a vmlinux and an e1000e
module, imported into kcovd through POST /api/v1/builds, and 24 emulated
test machines (the KCOV stand-in driven by the real kcov-collect) that run
"programs" of synthetic syscalls on either build and push them. So the
report has hundreds of files and tens of thousands of points, and the
overflow page looks like a real fleet's: trace mode with small buffers on
some machines (they overflow in most programs), trace mode with syzkaller's
buffer and unique mode on the others.

Every figure the demo shows is computed by kcovd from what kcov-collect
pushed; nothing is written into the database by hand. Deterministic: the
same seed gives the same tree, the same programs and the same figures.

Used by scripts/demo.py; the compiled objects are cached in KC_DEMO_CACHE
(default ~/.cache/kcov-demo), see compile_tree.
"""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "web"))

import fixture  # noqa: E402
import kcovlib  # noqa: E402
from kcovlib import LINK_TEXT, Machine, check  # noqa: E402

FIX = os.path.join(HERE, "..", "tests", "symbolize", "fixture")
# Where the demo's objects say they were compiled (compile_tree).
DEMO_SRC = "/usr/src/demo-linux"
DEMO_OBJ = "/usr/src/demo-linux-obj"
SEED = 20261201

# directory -> file stems (each becomes DIR/STEM.c). Real top-level layout.
TREE = {
    "kernel": ["fork", "exit", "signal", "sys", "workqueue", "panic", "cred", "pid", "kthread"],
    "kernel/sched": ["core", "fair", "rt", "deadline", "idle", "wait", "completion"],
    "kernel/locking": ["mutex", "rwsem", "spinlock", "lockdep", "semaphore"],
    "kernel/time": ["timer", "hrtimer", "clocksource", "posix-timers", "timekeeping"],
    "kernel/bpf": ["syscall", "verifier", "core", "hashtab", "arraymap"],
    "mm": ["memory", "mmap", "page_alloc", "slub", "vmscan", "filemap", "rmap", "swap",
           "mprotect", "mremap", "gup", "madvise", "shmem"],
    "fs": ["namei", "open", "read_write", "inode", "dcache", "file_table", "pipe", "select",
           "exec", "stat", "ioctl", "fcntl", "splice", "eventpoll"],
    "fs/ext4": ["inode", "extents", "namei", "super", "balloc", "xattr", "dir", "file", "ialloc"],
    "fs/proc": ["base", "generic", "meminfo", "array", "task_mmu", "root"],
    "fs/btrfs": ["ctree", "extent-tree", "inode", "volumes", "disk-io", "transaction"],
    "fs/fuse": ["dev", "dir", "file", "inode"],
    "net/core": ["dev", "skbuff", "sock", "filter", "neighbour", "rtnetlink", "datagram"],
    "net/ipv4": ["tcp", "tcp_input", "tcp_output", "udp", "ip_output", "route", "arp", "icmp",
                 "af_inet", "ip_input"],
    "net/ipv6": ["ip6_output", "route", "addrconf", "ndisc", "af_inet6", "udp"],
    "net/netlink": ["af_netlink", "genetlink"],
    "net/unix": ["af_unix", "garbage"],
    "net/packet": ["af_packet"],
    "drivers/base": ["core", "bus", "dd", "platform", "firmware"],
    "drivers/block": ["loop", "virtio_blk", "null_blk"],
    "drivers/tty": ["tty_io", "n_tty", "pty", "tty_buffer"],
    "drivers/char": ["mem", "random", "misc"],
    "drivers/usb/core": ["hub", "urb", "message", "driver", "devio"],
    "drivers/gpu/drm": ["drm_ioctl", "drm_gem", "drm_atomic", "drm_file"],
    "drivers/net": ["loopback", "tun", "veth", "macvlan"],
    "drivers/input": ["input", "evdev"],
    "block": ["blk-core", "blk-mq", "bio", "genhd", "ioctl"],
    "ipc": ["msg", "sem", "shm", "mqueue", "util"],
    "security/selinux": ["hooks", "avc", "services"],
    "crypto": ["api", "algapi", "sha256_generic", "aes_generic", "skcipher"],
    "lib": ["string", "bitmap", "rbtree", "radix-tree", "kobject", "vsprintf", "iov_iter",
            "scatterlist"],
    "init": ["main", "do_mounts"],
    "arch/x86/kernel": ["traps", "process", "signal", "setup", "irq"],
    "arch/x86/mm": ["fault", "init", "pgtable", "tlb"],
    "sound/core": ["pcm", "control", "timer"],
    "virt/kvm": ["kvm_main", "eventfd"],
}
MODULE_DIR = "drivers/net/ethernet/intel/e1000e"
MODULE_FILES = ["netdev", "ethtool", "ich8lan", "phy", "param"]
HEADERS = ["list", "spinlock", "slab", "fs", "sched", "skbuff", "mm", "kernel"]

# name, directories whose code the syscall reaches
SYSCALLS = [
    ("read", ["fs", "mm", "fs/ext4", "block", "lib"]),
    ("write", ["fs", "fs/ext4", "mm", "block"]),
    ("openat", ["fs", "fs/ext4", "security/selinux", "kernel"]),
    ("mmap", ["mm", "arch/x86/mm", "fs"]),
    ("clone", ["kernel", "kernel/sched", "mm", "arch/x86/kernel"]),
    ("execve", ["fs", "mm", "kernel", "security/selinux"]),
    ("futex", ["kernel/locking", "kernel/sched", "kernel/time"]),
    ("socket", ["net/core", "net/ipv4", "net/ipv6", "net/unix", "security/selinux"]),
    ("sendmsg", ["net/core", "net/ipv4", "drivers/net", "net/netlink"]),
    ("recvmsg", ["net/core", "net/ipv4", "net/unix"]),
    ("ioctl_tty", ["drivers/tty", "fs", "drivers/char"]),
    ("ioctl_loop", ["drivers/block", "block", "fs"]),
    ("ioctl_drm", ["drivers/gpu/drm", "mm"]),
    ("usb_submit", ["drivers/usb/core", "drivers/base"]),
    ("bpf", ["kernel/bpf", "net/core", "kernel"]),
    ("msgsnd", ["ipc", "kernel/sched"]),
    ("proc_read", ["fs/proc", "kernel", "mm"]),
    ("btrfs_ioctl", ["fs/btrfs", "block", "fs"]),
    ("fuse_dev", ["fs/fuse", "fs"]),
    ("packet", ["net/packet", "net/core", "drivers/net"]),
    ("keyctl", ["crypto", "security/selinux"]),
    ("kvm_run", ["virt/kvm", "arch/x86/kernel", "arch/x86/mm"]),
    ("evdev_read", ["drivers/input", "fs"]),
    ("snd_pcm", ["sound/core", "mm"]),
    ("e1000e_xmit", [MODULE_DIR, "net/core", "drivers/net"]),
]
# Loops: in trace mode every iteration records its PCs again (an overflow
# without new coverage); unique mode records each PC once.
LOOPS = [("poll_loop", ["fs", "kernel/time"], 3000), ("epoll_loop", ["fs", "kernel/sched"], 4000)]

# machine name, label, mode, trace words, bitmap words, build (0 old, 1 new),
# chance that a program runs a loop
FLEET = (
    [("fuzz-%02d" % i, "syzkaller", "trace", 1024, 0, 1, 0.5) for i in range(1, 5)] +
    [("fuzz-%02d" % i, "syzkaller", "trace", 524288, 0, 1, 0.12) for i in range(5, 9)] +
    [("fuzz-%02d" % i, "syzkaller", "unique", 524288, 4096, 1, 0.12) for i in range(9, 13)] +
    [("ci-ltp-%02d" % i, "ltp", "trace", 65536, 0, i % 2, 0.1) for i in range(1, 5)] +
    [("ci-ltp-%02d" % i, "ltp", "unique", 65536, 2048, i % 2, 0.1) for i in range(5, 7)] +
    [("ci-kst-%02d" % i, "kselftest", "trace", 131072, 0, 0, 0.1) for i in range(1, 4)] +
    [("ci-kst-%02d" % i, "kselftest", "unique", 65536, 2048, 0, 0.1) for i in range(4, 6)] +
    [("kunit-01", "kunit", "unique", 16384, 1024, 1, 0.0)]
)
PROGRAMS = 12  # per machine
HISTORY_DAYS = 7  # per build: the fleet's runs span 2 x 7 days (run_fleet)


def log(*a):
    print("demo:", *a, file=sys.stderr, flush=True)


def tag(path):
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")


def gen_function(rng, name, helpers, rev_salt):
    """A branchy function: every `if` is a basic block, so a coverage
    point; the constants make every line unique."""
    k = rng.randint(3, 9)
    body = ["int %s(int x, int y)" % name, "{", "\tint r = %d;" % rng.randint(0, 99), ""]
    for i in range(k):
        c = rng.randint(1, 1 << 12) + rev_salt
        h = rng.choice(helpers)
        body += ["\tif ((x ^ %d) & %d)" % (c, 1 << (i % 12)),
                 "\t\tr += %s(x, %d);" % (h, c),
                 "\telse if (y > %d)" % (c % 97),
                 "\t\tr -= %d;" % (c % 89)]
    body += ["\treturn r;", "}", ""]
    return body


def gen_file(rng, rel, helpers, rev_salt, nfuncs):
    t = tag(rel[:-2])
    out = ["// SPDX-License-Identifier: GPL-2.0", "/* %s - generated for the kcovd demo. */" % rel]
    incs = rng.sample(HEADERS, 2)
    out += ['#include <linux/%s.h>' % h for h in incs] + [""]
    hs = [h for h in helpers if h.split("_")[0] in incs] or helpers
    for f in range(nfuncs):
        out += gen_function(rng, "%s_op%d" % (t, f), hs, rev_salt)
    return "\n".join(out)


def gen_header(h):
    out = ["#ifndef _LINUX_%s_H" % h.upper(), "#define _LINUX_%s_H" % h.upper(), ""]
    for i in range(3):
        out += ["static inline int %s_helper%d(int x, int c)" % (h, i), "{",
                "\tif (x > c + %d)" % i, "\t\treturn x - c;",
                "\treturn c + %d;" % (i + 1), "}", ""]
    return "\n".join(out + ["#endif"]) + "\n"


def maintainers(dirs):
    out = ["List of maintainers (generated for the kcovd demo)",
           "===================================================", "",
           "Maintainers List", "----------------", ""]
    for d in sorted(dirs):
        out += ["%s SUBSYSTEM" % d.upper().replace("/", " "),
                "M:\tDemo Maintainer <%s@example.org>" % tag(d),
                "S:\tMaintained", "F:\t%s/" % d, ""]
    out += ["THE REST", "M:\tLinus Torvalds <torvalds@linux-foundation.org>", "S:\tBuried alive in reporters",
            "F:\t*", "F:\t*/", ""]
    return "\n".join(out)


def write_tree(root, rev):
    """Write revision rev (0 or 1) of the tree: rev 1 changes a few files
    (fs/ext4/inode.c, net/ipv4/tcp.c, mm/mmap.c), adds mm/memfd.c and
    removes lib/scatterlist.c, as a week of kernel churn would."""
    tree = {d: list(f) for d, f in TREE.items()}
    if rev:
        tree["mm"].append("memfd")
        tree["lib"].remove("scatterlist")
    changed = {"fs/ext4/inode.c", "net/ipv4/tcp.c", "mm/mmap.c"}
    helpers = ["%s_helper%d" % (h, i) for h in HEADERS for i in range(3)]
    os.makedirs(os.path.join(root, "include", "linux"), exist_ok=True)
    for h in HEADERS:
        with open(os.path.join(root, "include", "linux", h + ".h"), "w") as f:
            f.write(gen_header(h))
    units = {}
    for d, stems in list(tree.items()) + [(MODULE_DIR, MODULE_FILES)]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
        for s in stems:
            rel = "%s/%s.c" % (d, s)
            rng = random.Random("%d:%s" % (SEED, rel))
            salt = 7 if rev and rel in changed else 0
            with open(os.path.join(root, rel), "w") as f:
                f.write(gen_file(rng, rel, helpers, salt, rng.randint(8, 16)))
            units.setdefault(d, []).append(rel)
    with open(os.path.join(root, "init", "start.c"), "w") as f:
        f.write("void start(void);\nvoid start(void)\n{\n}\n")
    units["init"].append("init/start.c")
    with open(os.path.join(root, "MAINTAINERS"), "w") as f:
        f.write(maintainers(list(tree) + [MODULE_DIR]))
    with open(os.path.join(root, "Makefile"), "w") as f:
        f.write("# generated for the kcovd demo\nVERSION = 6\nPATCHLEVEL = 1\n")
    return units


def unit_key(root, files):
    """What a unit's object depends on: its files' and the headers' text."""
    h = hashlib.sha1()
    for rel in files + sorted("include/linux/%s.h" % x for x in HEADERS):
        with open(os.path.join(root, rel), "rb") as f:
            h.update(rel.encode() + b"\0" + f.read())
    return h.hexdigest()


def compile_tree(root, units, out, clang, lld, cache):
    """One translation unit per directory (it #includes the directory's
    files, so clang starts 40 times, not 300), in parallel. The objects are
    cached in the directory cache, keyed by the unit's text (unit_key), the
    flags and clang's version: both revisions share the units that did not
    change, and every later load (the test command loads the demo three
    times) all of them. So an object may come from another load's
    directory: the source and object paths in its DWARF are mapped to fixed
    ones (DEMO_SRC, DEMO_OBJ), as a build machine's paths differ from the
    server's; the import finds the source root below DEMO_SRC."""
    kflags = ["-O2", "-g", "-fno-pic", "-mcmodel=kernel", "-ffreestanding", "-fno-builtin",
              "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-Iinclude", "-I.",
              "-fdebug-prefix-map=%s=%s" % (os.path.realpath(root), DEMO_SRC),
              "-fdebug-prefix-map=%s=%s" % (os.path.realpath(out), DEMO_OBJ)]
    if os.path.realpath(out) != os.path.abspath(out):
        kflags.append("-fdebug-prefix-map=%s=%s" % (os.path.abspath(out), DEMO_OBJ))
    os.makedirs(out, exist_ok=True)
    os.makedirs(cache, exist_ok=True)
    version = subprocess.run([clang, "--version"], capture_output=True, text=True).stdout
    procs, objs, fresh = [], {}, []
    for d, files in units.items():
        unit = os.path.join(out, "unit_%s.c" % tag(d))
        with open(unit, "w") as f:
            f.write("".join('#include "%s"\n' % rel for rel in files))
        o = unit[:-2] + ".o"
        objs[d] = o
        key = hashlib.sha1("\0".join([unit_key(root, files), tag(d), version, DEMO_SRC, DEMO_OBJ] +
                                      [f for f in kflags if "prefix-map" not in f]).encode()
                           ).hexdigest()
        cached = os.path.join(cache, key + ".o")
        if os.path.exists(cached):
            shutil.copy(cached, o)
            continue
        fresh.append((o, cached))
        procs.append(subprocess.Popen([clang] + kflags + ["-fsanitize-coverage=trace-pc", "-c",
                                                         unit, "-o", o], cwd=root))
        if len(procs) >= (os.cpu_count() or 2):
            check(procs.pop(0).wait() == 0, "demo: clang failed")
    for p in procs:
        check(p.wait() == 0, "demo: clang failed")
    for o, cached in fresh:
        tmp = "%s.%d.tmp" % (cached, os.getpid())
        shutil.copy(o, tmp)
        os.replace(tmp, cached)
    cov = os.path.join(out, "cov.o")
    subprocess.run([clang] + kflags + ["-c", os.path.join(FIX, "cov.c"), "-o", cov], check=True)
    vmlinux = os.path.join(out, "vmlinux")
    subprocess.run([lld, "-static", "--build-id=sha1", "-T", os.path.join(FIX, "vmlinux.lds")] +
                   [o for d, o in objs.items() if d != MODULE_DIR] + [cov, "-o", vmlinux],
                   check=True)
    mods = os.path.join(out, "modules")
    os.makedirs(mods, exist_ok=True)
    ko = os.path.join(mods, "e1000e.ko")
    subprocess.run([lld, "-r", "--build-id=sha1", "-T", os.path.join(FIX, "module.lds"),
                    objs[MODULE_DIR], "-o", ko], check=True)
    return vmlinux, ko


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="Demo Dev", GIT_AUTHOR_EMAIL="dev@example.org",
               GIT_COMMITTER_NAME="Demo Dev", GIT_COMMITTER_EMAIL="dev@example.org",
               GIT_AUTHOR_DATE="2026-11-23T10:00:00Z", GIT_COMMITTER_DATE="2026-11-23T10:00:00Z")
    return subprocess.run(["git", "-C", repo] + list(args), check=True, env=env,
                          capture_output=True, text=True).stdout.strip()


def build_revisions(work):
    """Both revisions: committed to the git repository work/linux (kcovd
    reads each build's sources from it at the build's revision), compiled."""
    clang, lld = fixture.tool("clang", "clang-14"), fixture.tool("ld.lld", "ld.lld-14")
    check(clang and lld, "demo: clang and ld.lld are needed (scripts/install-deps.sh)")
    repo = os.path.join(work, "linux")
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "master")
    revs = []
    cache = os.environ.get("KC_DEMO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "kcov-demo")
    for rev in (0, 1):
        for e in os.listdir(repo):
            if e != ".git":
                p = os.path.join(repo, e)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        units = write_tree(repo, rev)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "demo revision %d" % (rev + 1))
        vmlinux, ko = compile_tree(repo, units, os.path.join(work, "obj-%d" % rev), clang, lld,
                                   cache)
        revs.append({"rev": git(repo, "rev-parse", "HEAD"), "git": repo, "vmlinux": vmlinux,
                     "ko": ko})
    return repo, revs


def sites_by_dir(objdump, binary, relocatable):
    """{directory: {function: [site offsets]}} from the disassembly (the
    function names carry their file's path, see gen_file)."""
    owner = {}
    for d, stems in list(TREE.items()) + [(MODULE_DIR, MODULE_FILES), ("mm", ["memfd"])]:
        for st in stems + (["start"] if d == "init" else []):
            owner[tag("%s/%s" % (d, st))] = d
    out = {}
    for func, site in fixture.call_sites_by_function(objdump, binary, relocatable):
        d = owner.get(re.sub(r"_op\d+$", "", func or ""))
        if d:
            out.setdefault(d, {}).setdefault(func, []).append(site)
    return out


def syscall_sites(rng, by_dir, dirs, budget):
    """The sites one syscall runs: in each of its directories a few
    functions, each from its entry up to some branch (a plausible path)."""
    out = []
    for d in dirs:
        funcs = sorted(by_dir.get(d, {}).items())
        for _, sites in rng.sample(funcs, min(len(funcs), rng.randint(6, 18))):
            out += sorted(sites)[:rng.randint(2, len(sites))]
    return out[:budget]


def write_desc(path, build_id, ko_build_id, text_size, by_dir, kernel_salt):
    rng = random.Random("%d:desc:%d" % (SEED, kernel_salt))
    with open(path, "w") as f:
        f.write("kernel build_id=%s release=6.1.0-demo%d link_text=0x%x text_size=0x%x\n"
                % (build_id, kernel_salt, LINK_TEXT, text_size))
        f.write("module name=e1000e build_id=%s core_size=262144 text_offset=0x100\n" % ko_build_id)

        def tok(d, s):
            return ("e1000e+0x%x" if d == MODULE_DIR else "vmlinux+0x%x") % s
        for name, dirs in SYSCALLS:
            picked = syscall_sites(rng, by_dir, dirs, 3000)
            owner = {s: d for d in dirs for fs in by_dir.get(d, {}).values() for s in fs}
            f.write("syscall %s %s\n" % (name, " ".join(tok(owner[s], s) for s in picked)))
        for name, dirs, n in LOOPS:
            picked = syscall_sites(rng, by_dir, dirs, 200)
            f.write("syscall %s %s\n" % (name, " ".join("vmlinux+0x%x*%d" % (s, n) for s in picked)))


def text_size(readelf, vmlinux):
    out = subprocess.run([readelf, "-S", "-W", vmlinux], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"\s\.text\s+PROGBITS\s+\S+\s+\S+\s+([0-9a-f]+)", out)
    return (int(m.group(1), 16) + 0xfffff) & ~0xfffff


def import_revisions(srv, work):
    """Build (or reuse) both revisions, import them in order (the newest
    last, so the report opens on it) and write their stand-in
    descriptions. Returns [{build_id, desc, ...}] oldest first."""
    objdump = fixture.tool("llvm-objdump", "llvm-objdump-14")
    readelf = fixture.tool("readelf", "llvm-readelf", "llvm-readelf-14")
    repo, revs = build_revisions(work)
    admin = srv.token("admin", "demo-admin")
    for i, r in enumerate(revs):
        status, body = srv.request("POST", "/api/v1/builds",
                                   json.dumps({"vmlinux": r["vmlinux"],
                                               "modules": os.path.dirname(r["ko"]),
                                               "git": r["git"], "rev": r["rev"]}).encode(),
                                   {"Content-Type": "application/json"}, admin)
        check(status == 200, "demo import: %d %s" % (status, body[:300]))
        r["build_id"] = fixture.build_id(readelf, r["vmlinux"])
        by_dir = sites_by_dir(objdump, r["vmlinux"], False)
        by_dir.update(sites_by_dir(objdump, r["ko"], True))
        r["desc"] = os.path.join(work, "kernel-%d.desc" % i)
        write_desc(r["desc"], r["build_id"], fixture.build_id(readelf, r["ko"]),
                   text_size(readelf, r["vmlinux"]), by_dir, i)
        r["points"] = sum(len(s) for fs in by_dir.values() for s in fs.values())
        log("imported revision %d (%s, %d coverage points)" % (i + 1, r["build_id"][:12],
                                                            r["points"]))
    return revs


def run_fleet(srv, token, revs):
    """The 24 machines: each boots its build (own KASLR and module base),
    runs PROGRAMS programs of 1-4 syscalls (sometimes a loop), each on its
    day of the last two weeks (the collector's clock set back with
    libfaketime, so the reports say when they were taken), and pushes its
    spool. Returns {machine: programs}."""
    names = [s for s, _ in SYSCALLS]
    done = {}
    for n, (name, label, mode, words, bitmap, build, p_loop) in enumerate(FLEET):
        rng = random.Random("%d:%s" % (SEED, name))
        kcovlib.KERNEL_DESC = revs[build]["desc"]
        m = Machine(name, 0x01000000 + 0x200000 * rng.randint(0, 200),
                    {"e1000e": 0xFFFFFFFFC0000000 + 0x100000 * rng.randint(1, 60)},
                    "d%07x-0000-4000-8000-%012x" % (n, n))
        extra = ["--mode", mode, "--words", str(words)] + (
            ["--bitmap-words", str(bitmap)] if bitmap else [])
        for i in range(PROGRAMS):
            # Two weeks of history: the older build's machines ran 13 to 7
            # days ago, the newer build's 6 days ago to today.
            m.days_ago = (0 if build else 7) + (PROGRAMS - 1 - i) * HISTORY_DAYS // PROGRAMS
            prog = rng.sample(names, rng.randint(1, 4))
            if rng.random() < p_loop:
                prog.append(rng.choice(LOOPS)[0])
            m.run(prog, label=label, extra=extra)
        m.delivered(srv.url, token)
        shutil.rmtree(m.dir, ignore_errors=True)
        done[name] = PROGRAMS
    return done
