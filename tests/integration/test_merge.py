#!/usr/bin/env python3
"""Fleet coverage across kernel builds (issue 17).

A git repository of a miniature kernel tree is made here, with commits that
insert, delete and change lines, remove a function, move one, add a file and
remove one. Each commit is compiled with clang (-fsanitize-coverage=trace-pc
-g) into a vmlinux-like executable and imported with --git/--rev (and some
with --source or without source); chosen PCs are pushed for each build.
Expected points come from llvm-objdump and llvm-addr2line, expected line
mappings from Python's difflib over the two texts (every code line is
unique, so any sound diff agrees), never from kcovd.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from kcovlib import KCOVD, Server, check, run_tests, skipped, tmpdir

MKFRAME = os.environ.get("KC_MKFRAME")
FIXSRC = os.environ.get("KC_FIX_SOURCE")
LINK = 0xFFFFFFFF81000000
KFLAGS = ["-O2", "-g", "-fno-pic", "-mcmodel=kernel", "-ffreestanding", "-fno-builtin",
          "-fno-stack-protector", "-fno-asynchronous-unwind-tables"]


def tool(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


CLANG = tool("clang", "clang-14")
LLD = tool("ld.lld", "ld.lld-14")
OBJDUMP = tool("llvm-objdump", "llvm-objdump-14")
ADDR2LINE = tool("llvm-addr2line", "llvm-addr2line-14")
STATE = {}


def sh(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    check(p.returncode == 0, "%s failed (%d): %s" % (args[0], p.returncode, p.stderr[-2000:]))
    return p.stdout


# ---- the miniature kernel and its history ----------------------------------

def func(name, base, n, sink):
    """A function of unique lines: n conditional stores (real branches)."""
    lines = ["int %s(int x) {" % name]
    for j in range(n):
        lines.append("\tif (x > %d) %s += %d;" % ((base + j) % 89, sink, base + j))
    lines.append("\treturn x + %d; }" % (base + 99))
    return lines


def cfile(path, funcs):
    sink = "sink_" + re.sub(r"\W", "_", path)
    out = ["/* %s */" % path, "int %s;" % sink]
    for f in funcs:
        out += func(f[0], f[1], f[2], sink)
    return out


def start_c(names):
    out = ["/* kernel/start.c */"]
    out += ["int %s(int x);" % n for n in names]
    out += ["void start(void) {", "\tint v = 1;"]
    out += ["\tv = %s(v);" % n for n in names]
    out += ["\t(void)v; }"]
    return out


def tree(sched, util, extra):
    files = {"kernel/sched.c": cfile("kernel/sched.c", sched),
             "lib/util.c": cfile("lib/util.c", util)}
    files.update(extra)
    names = [f[0] for f in sched + util]
    for path, lines in extra.items():
        names += [re.match(r"int (\w+)\(", ln).group(1) for ln in lines
                  if re.match(r"int \w+\(int x\) \{", ln)]
    files["kernel/start.c"] = start_c(names)
    files["README"] = ["miniature kernel for test_merge.py"]
    return files


def history():
    """[(message, {path: [lines]})] of the repository's commits."""
    tick, fork, exit_, yld = ("sched_tick", 100, 5), ("sched_fork", 200, 5), \
        ("sched_exit", 300, 5), ("sched_yield", 400, 2)
    umin, umax, uclamp = ("util_min", 500, 3), ("util_max", 600, 3), ("util_clamp", 700, 3)
    gone = {"kernel/gone.c": cfile("kernel/gone.c", [("gone_a", 800, 3)])}
    c1 = tree([tick, fork, exit_, yld], [umin, umax, uclamp], dict(gone))
    # c2: lines inserted (sched_tick), deleted (sched_fork), changed (sched_exit)
    c2 = {k: list(v) for k, v in c1.items()}
    s = c2["kernel/sched.c"]
    i = s.index("\tif (x > %d) sink_kernel_sched_c += %d;" % (102 % 89, 102))
    s[i + 1:i + 1] = ["\tif (x > 41) sink_kernel_sched_c += 151;",
                      "\tif (x > 42) sink_kernel_sched_c += 152;"]
    s.remove("\tif (x > %d) sink_kernel_sched_c += %d;" % (203 % 89, 203))
    j = s.index("\tif (x > %d) sink_kernel_sched_c += %d;" % (301 % 89, 301))
    s[j] = "\tif (x > 77) sink_kernel_sched_c += 3011;"
    # c3: util_clamp removed, sched_yield moved to the top, kernel/new.c added
    c3 = {k: list(v) for k, v in c2.items()}
    y = func(*yld, "sink_kernel_sched_c")
    s = c3["kernel/sched.c"]
    k = s.index(y[0])
    del s[k:k + len(y)]
    s[2:2] = y
    u = c3["lib/util.c"]
    cl = func(*uclamp, "sink_lib_util_c")
    k = u.index(cl[0])
    del u[k:k + len(cl)]
    c3["kernel/new.c"] = cfile("kernel/new.c", [("new_a", 900, 3)])
    c3["kernel/start.c"] = [ln for ln in c3["kernel/start.c"] if "util_clamp" not in ln]
    c3["kernel/start.c"].insert(-1, "\tv = new_a(v);")
    c3["kernel/start.c"].insert(1, "int new_a(int x);")
    # c4: kernel/gone.c removed, one line of lib/util.c changed
    c4 = {k: list(v) for k, v in c3.items() if k != "kernel/gone.c"}
    c4["kernel/start.c"] = [ln for ln in c4["kernel/start.c"] if "gone_a" not in ln]
    u = c4["lib/util.c"]
    u[u.index("\tif (x > %d) sink_lib_util_c += %d;" % (501 % 89, 501))] = \
        "\tif (x > 13) sink_lib_util_c += 5011;"
    return [("c1: initial tree", c1), ("c2: insert, delete, change lines", c2),
            ("c3: remove util_clamp, move sched_yield, add kernel/new.c", c3),
            ("c4: remove kernel/gone.c, change lib/util.c", c4)]


def write_tree(root, files):
    for path, lines in files.items():
        p = os.path.join(root, path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("\n".join(lines) + "\n")


def git(repo, *args):
    return sh(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org"] +
              list(args))


def make_repo(root):
    """The repository (non-bare) and a bare clone; commit ids in order."""
    repo = os.path.join(root, "linux")
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    revs = []
    for msg, files in history():
        for path in git(repo, "ls-files").split():
            os.unlink(os.path.join(repo, path))
        write_tree(repo, files)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", msg)
        revs.append(git(repo, "rev-parse", "HEAD").strip())
    bare = os.path.join(root, "linux.git")
    sh(["git", "clone", "-q", "--bare", repo, bare])
    return repo, bare, revs


def compile_build(root, name, files):
    """Compile a tree (a checkout in root/name/src) into root/name/vmlinux."""
    d = os.path.join(root, name)
    src = os.path.join(d, "src")
    write_tree(src, files)
    objs = []
    for path in sorted(p for p in files if p.endswith(".c")):
        o = os.path.join(d, path.replace("/", "_") + ".o")
        sh([CLANG] + KFLAGS + ["-fsanitize-coverage=trace-pc", "-c", path, "-o", o], cwd=src)
        objs.append(o)
    cov = os.path.join(d, "cov.o")
    sh([CLANG] + KFLAGS + ["-c", os.path.join(FIXSRC, "cov.c"), "-o", cov])
    vmlinux = os.path.join(d, "vmlinux")
    sh([LLD, "-static", "--build-id=sha1", "-T", os.path.join(FIXSRC, "vmlinux.lds"),
        cov, "-o", vmlinux] + objs)
    build_id = re.search(r"Build ID: ([0-9a-f]+)", sh(["readelf", "-n", vmlinux])).group(1)
    return {"name": name, "dir": d, "src": src, "vmlinux": vmlinux, "build_id": build_id,
            "files": files}


def blob_id(text):
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def import_cli(b, *args):
    out = sh([KCOVD, "import-build", "--data-dir", STATE["srv"].data_dir, "--vmlinux",
              b["vmlinux"]] + list(args))
    return json.loads(out)


def api(b, what, **params):
    import urllib.parse
    q = urllib.parse.urlencode(params, doseq=True)
    return STATE["srv"].get("/api/v1/builds/%s/%s%s" % (b["build_id"], what,
                                                         "?" + q if q else ""))


def text_of(files, path):
    return "\n".join(files[path]) + "\n"


# ---- tests -------------------------------------------------------------------

def setup():
    root = tmpdir("kcov-merge-")
    repo, bare, revs = make_repo(root)
    hist = history()
    builds = [compile_build(root, "b%d" % (i + 1), files) for i, (_, files) in enumerate(hist)]
    for b, rev in zip(builds, revs):
        b["rev"] = rev
    srv = Server().start()
    STATE.update(root=root, repo=repo, bare=bare, revs=revs, builds=builds, srv=srv,
                 admin=srv.token("admin", "admin"), push=srv.token("push", "pusher"))


def test_import_from_git():
    """--git/--rev reads every file at that revision (no checkout: the work
    tree is at the last commit, and a bare clone works the same), over the
    command line and over HTTP; the summary names the commit."""
    b1, b2, b3, b4 = STATE["builds"]
    s = import_cli(b1, "--git", STATE["repo"], "--rev", b1["rev"][:10])
    check(s["rev"] == b1["rev"] and s["git"] == STATE["repo"], "summary: %s" % s)
    check(s["sources"] == s["files"] == len([p for p in b1["files"] if p.endswith(".c")]),
          "sources: %s" % s)
    s = import_cli(b2, "--git", STATE["bare"], "--rev", "main~2")
    check(s["rev"] == b2["rev"], "main~2 is %s, got %s" % (b2["rev"], s["rev"]))
    body = json.dumps({"vmlinux": b3["vmlinux"], "git": STATE["bare"], "rev": b3["rev"]})
    status, ans = STATE["srv"].request("POST", "/api/v1/builds", body.encode(),
                                       {"Content-Type": "application/json"}, STATE["admin"])
    check(status == 200 and json.loads(ans)["rev"] == b3["rev"], "HTTP: %d %s" % (status, ans))
    s = import_cli(b4, "--git", STATE["repo"])  # HEAD
    check(s["rev"] == b4["rev"], "HEAD: %s" % s)
    for b in (b1, b2, b3, b4):
        for path in b["files"]:
            if not path.endswith(".c"):
                continue
            got = api(b, "files/" + path)["source"]
            check(got == text_of(b["files"], path), "%s %s: source differs" % (b["name"], path))


def test_texts_stored_once():
    """Each distinct content is stored once, keyed by its git blob id."""
    import sqlite3
    want = set()
    for b in STATE["builds"]:
        want |= {blob_id(text_of(b["files"], p)) for p in b["files"] if p.endswith(".c")}
    con = sqlite3.connect(os.path.join(STATE["srv"].data_dir, "kcovd.db"), timeout=30)
    got = {r[0] for r in con.execute("SELECT hash FROM source_texts")}
    nfiles = con.execute("SELECT count(*) FROM files WHERE text_id IS NOT NULL").fetchone()[0]
    con.close()
    check(got == want, "stored %d texts, want %d: %s" % (len(got), len(want), got ^ want))
    check(nfiles > len(want), "no text is shared (%d files, %d texts)" % (nfiles, len(want)))


def test_source_dir_shares_texts():
    """--source texts get the same content ids as git's (a re-import with
    --source of b4 stores no new text), and re-imports drop unused texts."""
    import sqlite3
    b4 = STATE["builds"][3]
    db = os.path.join(STATE["srv"].data_dir, "kcovd.db")
    count = lambda: sqlite3.connect(db, timeout=30).execute(
        "SELECT count(*) FROM source_texts").fetchone()[0]
    before = count()
    s = import_cli(b4, "--source", b4["src"])
    check(s["sources"] == s["files"] and "git" not in s, "summary: %s" % s)
    check(count() == before, "--source stored new texts: %d -> %d" % (before, count()))
    got = api(b4, "files/lib/util.c")["source"]
    check(got == text_of(b4["files"], "lib/util.c"), "source of --source import")
    # b1 without source: its texts no other build has are dropped
    import_cli(STATE["builds"][0])
    blobs = lambda b: {blob_id(text_of(b["files"], p)) for p in b["files"] if p.endswith(".c")}
    only_b1 = blobs(STATE["builds"][0]) - set().union(*map(blobs, STATE["builds"][1:]))
    check(only_b1, "b1 has no text of its own")
    con = sqlite3.connect(db, timeout=30)
    left = {r[0] for r in con.execute("SELECT hash FROM source_texts")}
    con.close()
    check(not (only_b1 & left) and count() < before, "unused texts kept: %d" % count())
    check(api(STATE["builds"][0], "files/kernel/gone.c")["source"] is None, "b1 has no source")
    # back to git for the merge tests
    import_cli(STATE["builds"][0], "--git", STATE["repo"], "--rev", STATE["builds"][0]["rev"])


def test_import_errors():
    b1 = STATE["builds"][0]
    for args, msg in ((["--git", STATE["root"]], "not a git repository"),
                      (["--git", STATE["repo"], "--rev", "nosuchrev"], "unknown revision"),
                      (["--rev", "main"], "needs a git repository"),
                      (["--git", STATE["repo"], "--source", b1["src"]], "not both")):
        p = subprocess.run([KCOVD, "import-build", "--data-dir", STATE["srv"].data_dir,
                            "--vmlinux", b1["vmlinux"]] + args, capture_output=True, text=True)
        check(p.returncode == 1 and msg in p.stderr, "%s: %d %s" % (args, p.returncode, p.stderr))
    hdr = {"Content-Type": "application/json"}
    for body, msg in (({"git": "relative"}, "absolute"), ({"git": STATE["repo"], "rev": 5}, "rev"),
                      ({"git": STATE["repo"], "rev": "x" * 300}, "rev"),
                      ({"git": STATE["repo"], "rev": "nosuchrev"}, "unknown revision")):
        body["vmlinux"] = b1["vmlinux"]
        status, ans = STATE["srv"].request("POST", "/api/v1/builds", json.dumps(body).encode(),
                                           hdr, STATE["admin"])
        check(status == 400 and msg in json.loads(ans)["error"], "%s: %d %s" % (body, status, ans))


def main():
    missing = [n for n, v in (("clang", CLANG), ("ld.lld", LLD), ("llvm-objdump", OBJDUMP),
                              ("llvm-addr2line", ADDR2LINE), ("git", tool("git")),
                              ("KC_MKFRAME", MKFRAME), ("KC_FIX_SOURCE", FIXSRC)) if not v]
    if missing:
        if skipped("coverage", "missing " + ", ".join(missing)):
            sys.exit(0)
        print("FAIL: missing " + ", ".join(missing) + " (scripts/install-deps.sh installs them)")
        sys.exit(1)
    setup()
    try:
        run_tests([test_import_from_git, test_texts_stored_once, test_source_dir_shares_texts,
                   test_import_errors])
    finally:
        shutil.rmtree(STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
