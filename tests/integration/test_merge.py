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
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess

from kcovlib import KCOVD, Server, check, run_tests, tmpdir
# the miniature kernel of test_coverage.py: its tools, flags and oracle pieces
from test_coverage import (CLANG, FIXSRC, KFLAGS, LINK, LLD, MKFRAME, call_sites, expect_file,
                           frames, require_build_tools, sh)
STATE = {}
NGEN = 34


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
    # more files than KC_BITSET_MIN_FILES, so that walks take the bitset path
    gen = {"lib/gen/g%02d.c" % i: cfile("lib/gen/g%02d.c" % i, [("gen_%02d" % i, 1000 + 10 * i, 2)])
           for i in range(NGEN)}
    c1 = tree([tick, fork, exit_, yld], [umin, umax, uclamp], {**gone, **gen})
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
    # The server's environment: its database whichever the backend.
    out = sh([KCOVD, "import-build", "--data-dir", STATE["srv"].data_dir, "--vmlinux",
              b["vmlinux"]] + list(args), env=STATE["srv"].env())
    return json.loads(out)


def api(b, what, **params):
    import urllib.parse
    q = urllib.parse.urlencode(params, doseq=True)
    return STATE["srv"].get("/api/v1/builds/%s/%s%s" % (b["build_id"], what,
                                                         "?" + q if q else ""))


def text_of(files, path):
    return "\n".join(files[path]) + "\n"


# ---- the oracle ----------------------------------------------------------------

def points_of(b):
    """{offset: (file, line, function or None)} from llvm-objdump and
    llvm-addr2line (a point's function counts when declared in its file)."""
    offs = call_sites(b["vmlinux"], False)
    check(offs, "no coverage points in " + b["vmlinux"])
    decl = {"start": "kernel/start.c"}
    for path, lines in b["files"].items():
        for ln in lines:
            m = re.match(r"int (\w+)\(int x\) \{", ln)
            if m:
                decl[m.group(1)] = path
    return {o: (file, line, func if decl.get(func) == file else None)
            for o, (file, line, func) in zip(offs, frames(b["vmlinux"], [LINK + o for o in offs],
                                                           b["src"])) if file != "??"}


def own(b, path):
    """Per line [covered, points] and per function [covered, points] of b."""
    return expect_file(b["pts"], b["cov"], path)


def state(c, t):
    return 2 if c == t else 1 if c else 0


NAMES = ["uncovered", "partial", "covered"]


def line_map(s, t, path):
    """{S line: T line} of the unchanged lines (difflib), or None when a
    side has no stored text."""
    if not s["text"] or not t["text"] or path not in t["files"]:
        return None
    a, b = s["files"][path], t["files"][path]
    if a == b:
        return {i + 1: i + 1 for i in range(len(a))}
    m = {}
    for blk in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for j in range(blk.size):
            m[blk.a + j + 1] = blk.b + j + 1
    return m


def expect_merged(t, merged, path):
    """The merged view of path in t: lines {line: (state, covered, points,
    builds)}, functions {name: (hit, builds)}, lost {build: (reason, [lines])}."""
    tl, tf = own(t, path)
    lines = {ln: [state(c, n), c, n, {t["build_id"]} if c else set()]
             for ln, (c, n) in tl.items()}
    funcs = {f: [c > 0, {t["build_id"]} if c else set()] for f, (c, n) in tf.items()}
    lost = {}
    for s in merged:
        sl, sf = own(s, path)
        if not any(c for c, n in sl.values()) and not any(c for c, n in sf.values()):
            continue
        m = line_map(s, t, path)
        for ln, (c, n) in sorted(sl.items()):
            if not c:
                continue
            to = m.get(ln) if m is not None else None
            if to is None:
                lost.setdefault(s["build_id"], ("changed" if m is not None else "no_source",
                                                []))[1].append(ln)
            elif to in lines:
                lines[to][0] = max(lines[to][0], state(c, n))
                lines[to][3].add(s["build_id"])
        for f, (c, n) in sf.items():
            if c and f in funcs:
                funcs[f][0] = True
                funcs[f][1].add(s["build_id"])
    return lines, funcs, lost


def merge_arg(merged):
    return ",".join(b["build_id"] for b in merged)


def check_file(t, merged, path, **params):
    lines, funcs, lost = expect_merged(t, merged, path)
    j = api(t, "files/" + path, merge=merge_arg(merged), **params)
    got = {x["line"]: [NAMES.index(x["state"]), x["covered"], x["points"], set(x["builds"])]
           for x in j["lines"]}
    check(got == lines, "%s <- %s %s lines:\n got  %s\n want %s" % (
        t["name"], [b["name"] for b in merged], path, got, lines))
    gotf = {x["name"]: [x["hit"], set(x["builds"])] for x in j["functions"]}
    check(gotf == funcs, "%s %s functions: %s, want %s" % (t["name"], path, gotf, funcs))
    gotl = {x["build_id"]: (x["reason"], x["lines"]) for x in j["lost"]}
    check(gotl == lost, "%s %s lost: %s, want %s" % (t["name"], path, gotl, lost))
    nlost = sum(len(v[1]) for v in lost.values())
    want_t = (sum(1 for v in lines.values() if v[0] == 2),
              sum(1 for v in lines.values() if v[0] == 1),
              sum(1 for v in funcs.values() if v[0]), nlost,
              sum(c for c, n in own(t, path)[0].values()))
    got_t = (j["lines_covered"], j["lines_partial"], j["functions_covered"], j["lost_lines"],
             j["points_covered"] - sum(1 for off, (f, ln, fn) in t["pts"].items()
                                       if f == path and not ln and off in t["cov"]))
    check(got_t == want_t, "%s %s totals %s, want %s" % (t["name"], path, got_t, want_t))
    check({x for x in j["merge"]["builds"]} == {b["build_id"] for b in merged
                                                 if b is not t},
          "merge object: %s" % j["merge"])
    return nlost


def lacking(t, merged):
    """{(path, build): lost lines} of files of merged builds that t lacks."""
    tfiles = {f for f, ln, fn in t["pts"].values()}
    out = {}
    for s in merged:
        for path in {f for f, ln, fn in s["pts"].values()} - tfiles:
            n = sum(1 for c, tot in own(s, path)[0].values() if c)
            if n:
                out[(path, s["build_id"])] = n
    return out


def check_all(t, merged, **params):
    """Every file of t, the tree, the summary and the function list."""
    total = 0
    per_dir = {}
    for path in sorted({f for f, ln, fn in t["pts"].values()}):
        n = check_file(t, merged, path, **params)
        total += n
        per_dir[path.split("/")[0]] = per_dir.get(path.split("/")[0], 0) + n
    tree = api(t, "tree", merge=merge_arg(merged), **params)
    check(api(t, "tree", merge=merge_arg(merged), **params) == tree,
          "the merged tree from the totals cache differs from the walked one")
    check(tree["lost_lines"] == total and
          {c["name"]: c["lost_lines"] for c in tree["children"]} == per_dir,
          "tree lost: %s %s, want %d %s" % (tree["lost_lines"], tree["children"], total, per_dir))
    summ = api(t, "summary", merge=merge_arg(merged), **params)
    lack = lacking(t, merged)
    check(summ["lost_lines"] == total + sum(lack.values()),
          "summary lost %s, want %d + %s" % (summ["lost_lines"], total, lack))
    check({(x["path"], x["build_id"]): x["lost_lines"] for x in summ["lost_files"]} == lack,
          "lost files: %s, want %s" % (summ["lost_files"], lack))
    fl = api(t, "functions", merge=merge_arg(merged), limit=10000, **params)
    want = {}
    for path in {f for f, ln, fn in t["pts"].values()}:
        for f, (hit, who) in expect_merged(t, merged, path)[1].items():
            want[(path, f)] = hit
    got = {(x["file"], x["name"]): x["hit"] for x in fl["functions"]}
    check(got == want, "functions list: %s, want %s" % (got, want))
    return total, sum(lack.values())


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
    # chosen coverage: a deterministic ~half of each build's points, so
    # that covered, partial and uncovered lines all occur
    for i, b in enumerate(builds):
        b["pts"] = points_of(b)
        b["cov"] = {o for o in b["pts"] if (o * 2654435761 + i * 97) % 7 < 4}
        b["text"] = True


def push_coverage(b, seed, release="6.1.0-test"):
    frame = mkframe("addrmap", "m-" + b["name"], "00000000-0000-4000-8000-%012d" % seed,
                    b["build_id"], "0x%x" % LINK, "0x%x" % (LINK + 0x100000), "0x%x" % LINK,
                    env={"KC_RELEASE": release})
    status, body = STATE["srv"].post_frame("/api/v1/boots", frame, STATE["push"])
    check(status == 200, "address map: %d %s" % (status, body))
    frame = mkframe("report", "m-" + b["name"], "00000000-0000-4000-8000-%012d" % seed,
                    "fleet", seed, *["0x%x" % (LINK + o + 5) for o in sorted(b["cov"])])
    status, body = STATE["srv"].post_frame("/api/v1/reports", frame, STATE["push"])
    check(status == 200, "report: %d %s" % (status, body))


def mkframe(kind, *args, env=None):
    path = os.path.join(STATE["root"], "frame-%d" % len(os.listdir(STATE["root"])))
    sh([MKFRAME, kind, path] + [str(a) for a in args], env={**os.environ, **(env or {})})
    return open(path, "rb").read()


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
    want = set()
    for b in STATE["builds"]:
        want |= {blob_id(text_of(b["files"], p)) for p in b["files"] if p.endswith(".c")}
    q = STATE["srv"].query  # either backend
    got = {str(r[0]) for r in q("SELECT hash FROM source_texts")}
    nfiles = q("SELECT count(*) FROM files WHERE text_id IS NOT NULL")[0][0]
    check(got == want, "stored %d texts, want %d: %s" % (len(got), len(want), got ^ want))
    check(nfiles > len(want), "no text is shared (%d files, %d texts)" % (nfiles, len(want)))


def test_source_dir_shares_texts():
    """--source texts get the same content ids as git's (a re-import with
    --source of b4 stores no new text), and re-imports drop unused texts."""
    b4 = STATE["builds"][3]
    q = STATE["srv"].query  # either backend
    count = lambda: q("SELECT count(*) FROM source_texts")[0][0]
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
    left = {str(r[0]) for r in q("SELECT hash FROM source_texts")}
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
                            "--vmlinux", b1["vmlinux"]] + args, capture_output=True, text=True,
                           env=STATE["srv"].env())
        check(p.returncode == 1 and msg in p.stderr, "%s: %d %s" % (args, p.returncode, p.stderr))
    hdr = {"Content-Type": "application/json"}
    for body, msg in (({"git": "relative"}, "absolute"), ({"git": STATE["repo"], "rev": 5}, "rev"),
                      ({"git": STATE["repo"], "rev": "x" * 300}, "rev"),
                      ({"git": STATE["repo"], "rev": "nosuchrev"}, "unknown revision")):
        body["vmlinux"] = b1["vmlinux"]
        status, ans = STATE["srv"].request("POST", "/api/v1/builds", json.dumps(body).encode(),
                                           hdr, STATE["admin"])
        check(status == 400 and msg in json.loads(ans)["error"], "%s: %d %s" % (body, status, ans))


def test_merged_lines_and_lost():
    """Every merged line state, lost line and merged function of every file,
    onto the newest build and onto an older one, against difflib."""
    b1, b2, b3, b4 = STATE["builds"]
    for i, b in enumerate(STATE["builds"]):
        push_coverage(b, i + 1)
    lost, lack = check_all(b4, [b1, b2, b3])
    check(lost > 0 and lack > 0, "the history loses nothing (%d, %d)" % (lost, lack))
    # the fixture exercises every case: partial lines, lines and functions
    # only other builds covered, and both loss reasons' "changed" kind
    views = [expect_merged(b4, [b1, b2, b3], p) for p in b4["files"] if p.endswith(".c")]
    others = sum(1 for ln, fn, lo in views for v in ln.values() if v[0] and not v[1])
    partial = sum(1 for ln, fn, lo in views for v in ln.values() if v[0] == 1)
    ofuncs = sum(1 for ln, fn, lo in views for f, (hit, who) in fn.items()
                 if hit and b4["build_id"] not in who)
    check(others and partial and ofuncs, "fixture too weak: %d lines only others covered, "
          "%d partial, %d functions only others hit" % (others, partial, ofuncs))
    print("     b4 <- b1,b2,b3: %d lost, %d in files b4 lacks, %d lines only others covered, "
          "%d partial, %d functions only others hit" % (lost, lack, others, partial, ofuncs))
    check_all(b2, [b4, b1, b3, b2])  # the target in the list is ignored
    check_all(b1, [b3])


def test_unmerged_answers_unchanged():
    """Without merge= no answer carries a merge field."""
    b4 = STATE["builds"][3]
    for what in ("tree", "files/kernel/sched.c", "functions", "summary"):
        text = json.dumps(api(b4, what))
        for key in ('"merge"', '"lost_lines"', '"builds"', '"hit"', '"lost_files"'):
            check(key not in text, "%s without merge= has %s" % (what, key))
    csv = STATE["srv"].request("GET", "/api/v1/builds/%s/files.csv" % b4["build_id"])[1]
    check(b"LostLines" not in csv, "files.csv without merge=")


def test_merge_window():
    """merge=window takes every build with reports in the days; release=
    restricts it to one kernel line; an unimported build is skipped."""
    b1, b2, b3, b4 = STATE["builds"]
    today = __import__("time").strftime("%Y-%m-%d", __import__("time").gmtime())
    j = api(b4, "files/kernel/sched.c", merge="window", since=today, until=today)
    want = api(b4, "files/kernel/sched.c", merge=merge_arg([b1, b2, b3]))
    check(j["lines"] == want["lines"] and j["lost"] == want["lost"],
          "window differs from the explicit list")
    none = api(b4, "files/kernel/sched.c", merge="window", since="2000-01-01",
               until="2000-01-02")
    check(none["merge"]["builds"] == [] and none["lost"] == [] and
          all(x["builds"] == ([b4["build_id"]] if x["covered"] else []) for x in none["lines"]),
          "empty window: %s" % none["merge"])
    fake = {"name": "fake", "build_id": "ab" * 20, "cov": {0x10}}
    push_coverage(fake, 99, release="5.15.0-old")
    j = api(b4, "summary", merge="window")
    check(j["merge"]["skipped"] == [{"build_id": fake["build_id"], "reason": "not_imported"}]
          and sorted(j["merge"]["builds"]) == sorted(b["build_id"] for b in (b1, b2, b3)),
          "window: %s" % j["merge"])
    j = api(b4, "summary", merge="window", release="6.1")
    check(j["merge"]["skipped"] == [] and len(j["merge"]["builds"]) == 3, "release=6.1")
    j = api(b4, "summary", merge="window", release="5.15")
    check(j["merge"]["builds"] == [] and len(j["merge"]["skipped"]) == 1, "release=5.15")


def test_merge_exports():
    """LCOV, files.csv and functions.csv of a merged query."""
    b1, b2, b3, b4 = STATE["builds"]
    path = "kernel/sched.c"
    lines, funcs, lost = expect_merged(b4, [b1, b2, b3], path)
    st, body = STATE["srv"].request("GET", "/api/v1/builds/%s/lcov?prefix=kernel&merge=%s" % (
        b4["build_id"], merge_arg([b1, b2, b3])))
    check(st == 200, "lcov %d" % st)
    rec = body.decode().split("SF:%s\n" % path)[1].split("end_of_record")[0]
    da = {int(a): int(c) for a, c in re.findall(r"^DA:(\d+),(\d+)$", rec, re.M)}
    want = {ln: (v[1] if v[1] else 1 if v[0] else 0) for ln, v in lines.items()}
    check(da == want, "DA: %s, want %s" % (da, want))
    lh = int(re.search(r"^LH:(\d+)$", rec, re.M).group(1))
    check(lh == sum(1 for v in lines.values() if v[0]), "LH %d" % lh)
    st, body = STATE["srv"].request("GET", "/api/v1/builds/%s/files.csv?merge=%s" % (
        b4["build_id"], merge_arg([b1, b2, b3])))
    rows = body.decode().splitlines()
    check(rows[0].endswith(",LostLines"), rows[0])
    row = [r for r in rows if r.startswith(path + ",")][0].split(",")
    check(int(row[-1]) == sum(len(v[1]) for v in lost.values()) and
          int(row[1]) == sum(1 for v in lines.values() if v[0]), "files.csv row %s" % row)
    st, body = STATE["srv"].request("GET", "/api/v1/builds/%s/functions.csv?merge=%s" % (
        b4["build_id"], merge_arg([b1, b2, b3])))
    got = {r.split(",")[1]: r.split(",")[-1] for r in body.decode().splitlines()[1:]
           if r.startswith(path + ",")}
    check(got == {f: "1" if v[0] else "0" for f, v in funcs.items()}, "functions.csv %s" % got)


def test_merge_source_dirs_and_no_source():
    """A --source build merges like its git import (same content ids);
    builds without source merge nothing (their lines are lost, reason
    no_source), onto a target with or without source."""
    b1, b2, b3, b4 = STATE["builds"]
    import_cli(b3, "--source", b3["src"])
    check_all(b4, [b1, b2, b3])
    import_cli(b2)
    b2["text"] = False
    check_all(b4, [b1, b2, b3])
    import_cli(b4)
    b4["text"] = False
    check_all(b4, [b1, b2, b3])
    check_all(b3, [b2, b4])
    import_cli(b4, "--git", STATE["repo"], "--rev", b4["rev"])
    import_cli(b2, "--git", STATE["repo"], "--rev", b2["rev"])
    b2["text"] = b4["text"] = True


def test_merge_errors():
    b1, b2, b3, b4 = STATE["builds"]
    for params, status in (({"merge": "xyz"}, 400), ({"merge": "ab,"}, 400),
                           ({"merge": ",".join(["%x" % (i + 1) for i in range(64)])}, 400),
                           ({"release": "6.1"}, 400), ({"merge": b1["build_id"],
                                                        "release": "6.1"}, 400),
                           ({"merge": "cd" * 20}, 404),
                           ({"merge": "window", "release": "x" * 256}, 400),
                           ({"merge": "cd" * 20, "file": "lib/util.c", "q": "labels"}, 404)):
        import urllib.parse
        what = "labels" if params.pop("q", None) else "tree"
        st, body = STATE["srv"].request("GET", "/api/v1/builds/%s/%s?%s" % (
            b4["build_id"], what, urllib.parse.urlencode(params)))
        check(st == status and "error" in json.loads(body), "%s: %d %s" % (params, st, body))


def push_label(b, seed, label, cov):
    """A report of b's boot (seed as in push_coverage) under label covering cov."""
    frame = mkframe("report", "m-" + b["name"], "00000000-0000-4000-8000-%012d" % seed,
                    label, seed * 1000 + (1 if label == "syz" else 2),
                    *["0x%x" % (LINK + o + 5) for o in sorted(cov)])
    status, body = STATE["srv"].post_frame("/api/v1/reports", frame, STATE["push"])
    check(status == 200, "report: %d %s" % (status, body))


def expect_labels(t, merged, path, line=None, labels=None, minus=()):
    """The merged labels answer of path (or of one of its lines) in t, in
    order: [(label, covered, {line: (covered, points, builds)}, lost)]."""
    def cov(b, lab):
        gone = set().union(*[b["labels"].get(m, set()) for m in minus])
        return b["labels"].get(lab, set()) - gone

    def lines_of(b):
        out = {}
        for o, (f, ln, fn) in b["pts"].items():
            if f == path and ln:
                out.setdefault(ln, set()).add(o)
        return out

    tlines = lines_of(t)
    names = {lab for b in [t] + merged for lab in b["labels"]} - set(minus)
    want = []
    for lab in names:
        if labels is not None and lab not in labels:
            continue
        c = cov(t, lab)
        covered = sum(1 for o, (f, ln, fn) in t["pts"].items()
                      if f == path and o in c and (line is None or ln == line))
        got = {}
        for ln, offs in tlines.items():
            if (line is None or ln == line) and offs & c:
                got[ln] = [len(offs & c), len(offs), {t["build_id"]}]
        lost = 0
        for s in merged:
            if s is t or path not in s["files"]:
                continue  # a file S lacks: nothing of S maps onto it
            m = line_map(s, t, path)
            sc = cov(s, lab)
            for ln, offs in lines_of(s).items():
                if not offs & sc:
                    continue
                to = m.get(ln) if m is not None else None
                if to is None:
                    lost += line is None
                elif to in tlines and (line is None or to == line):
                    got.setdefault(to, [len(tlines[to] & c), len(tlines[to]), {t["build_id"]}
                                        if tlines[to] & c else set()])[2].add(s["build_id"])
        if got or covered or lost:
            want.append((lab, covered, got, lost))
    want.sort(key=lambda w: (-len(w[2]), -w[1], w[0]))
    return want


def check_labels(t, merged, path, **params):
    line = params.get("line")
    minus = params.get("minus", [])
    want = expect_labels(t, merged, path, line, params.get("label"),
                         [minus] if isinstance(minus, str) else minus)
    j = api(t, "labels", file=path, merge=merge_arg(merged), **params)
    got = [(x["label"], x["covered"],
            {ln["line"]: [ln["covered"], ln["points"], set(ln["builds"])] for ln in x["lines"]},
            x.get("lost_lines", 0)) for x in j["labels"]]
    check(got == want, "%s <- %s labels of %s %s:\n got  %s\n want %s" % (
        t["name"], [b["name"] for b in merged], path, params, got, want))
    check(j["labels_total"] == len(want) and "merge" in j, "labels_total %s" % j["labels_total"])
    check(all(("lost_lines" in x) == (line is None) for x in j["labels"]), "lost_lines field")
    today = __import__("time").strftime("%Y-%m-%d", __import__("time").gmtime())
    check(all(x["first_day"] == x["last_day"] == today for x in j["labels"]),
          "days: %s" % [(x["first_day"], x["last_day"]) for x in j["labels"]])
    return got


def test_merge_labels():
    """labels?merge=: per label, its lines in T and the lines of merged
    builds mapping onto them (which builds), its lost lines, against the
    difflib oracle; with label=, minus=, line= and a build without source."""
    b1, b2, b3, b4 = STATE["builds"]
    before = check_all(b4, [b1, b2, b3])  # its merged tree is in the totals cache now
    for i, b in enumerate(STATE["builds"]):
        b["labels"] = {"fleet": set(b["cov"])}
        b["labels"]["syz"] = {o for o in b["pts"] if (o * 40503 + i * 31) % 5 < 2}
        if b in (b1, b3):  # ltp never ran on the target
            b["labels"]["ltp"] = {o for o in b["pts"] if (o * 2246822519 + i * 13) % 11 < 4}
        for lab in ("syz", "ltp"):
            if lab in b["labels"]:
                push_label(b, i + 1, lab, b["labels"][lab])
    # the new reports change every merged figure: the cached tree is not reused
    for b in STATE["builds"]:
        b["cov"] = set().union(*b["labels"].values())
    after = check_all(b4, [b1, b2, b3])
    check(after[0] > before[0], "more coverage lost no more lines: %s, %s" % (before, after))
    paths = sorted({f for f, ln, fn in b4["pts"].values()})
    only_others = lost = 0
    for path in paths:
        got = check_labels(b4, [b1, b2, b3], path)
        only_others += sum(1 for g in got for v in g[2].values() if not v[0])
        lost += sum(g[3] for g in got)
        check_labels(b4, [b1, b2, b3], path, label=["ltp"])
        check_labels(b4, [b1, b2, b3], path, minus="syz")
    check(only_others and lost, "fixture too weak: %d lines only others' labels covered, "
          "%d lost" % (only_others, lost))
    print("     labels of b4 <- b1,b2,b3: %d lines only other builds' labels covered, %d lost"
          % (only_others, lost))
    check(any(g[0] == "ltp" for p in paths for g in expect_labels(b4, [b1, b2, b3], p)),
          "ltp (not on the target) is never listed")
    path = "kernel/sched.c"
    for ln in sorted({ln for f, ln, fn in b4["pts"].values() if f == path and ln}) + [999]:
        check_labels(b4, [b1, b2, b3], path, line=ln)
    for path in sorted({f for f, ln, fn in b1["pts"].values()}):
        check_labels(b1, [b3, b4], path)
    import_cli(b2)
    b2["text"] = False
    for path in paths:
        check_labels(b4, [b1, b2, b3], path)
    import_cli(b2, "--git", STATE["repo"], "--rev", b2["rev"])
    b2["text"] = True


def main():
    require_build_tools(git=True)
    setup()
    try:
        run_tests([test_import_from_git, test_texts_stored_once, test_source_dir_shares_texts,
                   test_import_errors, test_merged_lines_and_lost,
                   test_unmerged_answers_unchanged, test_merge_window, test_merge_exports,
                   test_merge_source_dirs_and_no_source, test_merge_errors, test_merge_labels])
    finally:
        shutil.rmtree(STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
