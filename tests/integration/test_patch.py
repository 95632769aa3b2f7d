#!/usr/bin/env python3
"""Patch coverage: the lines a range of commits added, and their coverage
(issue 21).

A git repository of a miniature kernel is made here: a base commit, then
commits by different authors that add a function, change lines, add a
file and touch only comments. Three of the commits are compiled with clang
and imported with --git/--rev; coverage is pushed to the newest and to an
intermediate build, so that some new lines are covered by the newest
build, some only by the intermediate one (merge=) and some never. The
expected new lines come from `git blame base..T` (the lines not blamed on
the boundary), never from kcovd; expected line states from llvm-objdump /
llvm-addr2line points and difflib line maps (test_merge.py's oracle).
"""
import json
import os
import re
import shutil
import subprocess
import urllib.parse

from kcovlib import check, run_tests, tmpdir, Server
import test_merge
from test_coverage import require_build_tools
from test_merge import (cfile, compile_build, expect_merged, import_cli, points_of,
                        push_coverage, start_c, write_tree)

STATE = test_merge.STATE  # test_merge's helpers read the server and root from it
NAMES = ["uncovered", "partial", "covered"]

AUTHORS = [("Ada Base", "ada@example.org"), ("Bo Sched", "bo@example.org"),
           ("Cy File", "cy@example.org"), ("Di Docs", "di@example.org"),
           ("Bo Sched", "bo@example.org")]


def tree(sched, util, extra, comments=()):
    files = {"kernel/sched.c": cfile("kernel/sched.c", sched),
             "lib/util.c": cfile("lib/util.c", util)}
    files.update(extra)
    names = [f[0] for f in sched + util]
    for lines in extra.values():
        names += [ln.split("(")[0][4:] for ln in lines if ln.startswith("int ") and "{" in ln]
    files["kernel/start.c"] = start_c(names)
    u = files["lib/util.c"]
    u[1:1] = list(comments)
    return files


def history():
    """[(subject, author index, {path: [lines]})]: base, then four commits."""
    tick, fork, umin, umax = ("sched_tick", 100, 4), ("sched_fork", 200, 4), \
        ("util_min", 500, 3), ("util_max", 600, 3)
    newf = ("sched_new", 300, 4)
    c0 = tree([tick, fork], [umin, umax], {})
    # c1: a new function, one changed line of sched_fork
    c1 = tree([tick, fork, newf], [umin, umax], {})
    s = c1["kernel/sched.c"]
    s[s.index("\tif (x > %d) sink_kernel_sched_c += %d;" % (201 % 89, 201))] = \
        "\tif (x > 71) sink_kernel_sched_c += 2011;"
    # c2: a file added
    added = {"kernel/added.c": cfile("kernel/added.c", [("added_a", 800, 4)])}
    c2 = tree([tick, fork, newf], [umin, umax], added)
    c2["kernel/sched.c"] = list(s)
    # c3: comments only
    c3 = tree([tick, fork, newf], [umin, umax], added,
              ["/* util: a comment line */", "/* and another one */"])
    c3["kernel/sched.c"] = list(s)
    # c4: a line of the new function changed again
    c4 = {k: list(v) for k, v in c3.items()}
    s4 = c4["kernel/sched.c"]
    s4[s4.index("\tif (x > %d) sink_kernel_sched_c += %d;" % (302 % 89, 302))] = \
        "\tif (x > 19) sink_kernel_sched_c += 3021;"
    return [("base tree", 0, c0), ("sched: add sched_new, change sched_fork", 1, c1),
            ("add kernel/added.c", 2, c2), ("util: comments", 3, c3),
            ("sched: change sched_new", 4, c4)]


def git(*args, env=None):
    return subprocess.run(["git", "-C", STATE["repo"]] + list(args), check=True,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}
                          ).stdout


def make_repo(root):
    repo = os.path.join(root, "linux")
    os.makedirs(repo)
    STATE["repo"] = repo
    git("init", "-q", "-b", "main")
    revs = []
    for i, (msg, who, files) in enumerate(history()):
        for path in git("ls-files").split():
            os.unlink(os.path.join(repo, path))
        write_tree(repo, files)
        git("add", "-A")
        name, mail = AUTHORS[who]
        date = "2026-01-%02dT10:00:00Z" % (i + 1)
        git("commit", "-q", "-m", msg, env={
            "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": mail, "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": mail,
            "GIT_COMMITTER_DATE": date})
        revs.append(git("rev-parse", "HEAD").strip())
    return revs


def blame_new(base_rev, rev, path):
    """{T line: commit} of the lines of path at rev that `git blame
    base_rev..rev` does not put on the boundary (all of a file base lacks)."""
    out = git("blame", "--porcelain", "%s..%s" % (base_rev, rev), "--", path)
    new, boundary, cur = {}, set(), None
    for ln in out.splitlines():
        m = re.match(r"([0-9a-f]{40}) \d+ (\d+)", ln)
        if m:
            cur = (m.group(1), int(m.group(2)))
            new[cur[1]] = cur[0]
        elif ln == "boundary":
            boundary.add(cur[0])
    return {ln: c for ln, c in new.items() if c not in boundary}


def expect_patch(t, base, merged, commit=None):
    """{path: (status, {line: state name or 'not_instrumented'})} of t's
    compiled files with new lines since base (only commit's lines when
    given), and {path: {line: commit}}."""
    out, who = {}, {}
    for path in sorted(p for p in t["files"] if p.endswith(".c")):
        new = {ln: c for ln, c in blame_new(base["rev"], t["rev"], path).items()
               if commit is None or c.startswith(commit)}
        if not new:
            continue
        lines = expect_merged(t, merged, path)[0]
        out[path] = ("changed" if path in base["files"] else "added",
                     {ln: NAMES[lines[ln][0]] if ln in lines else "not_instrumented"
                      for ln in new})
        who[path] = new
    return out, who


def expect_commits(t, base, merged):
    """[(id, subject, author, email, time)] of `git log --first-parent
    base..t` and {id: tallies} of the new lines blame puts on each."""
    log = git("log", "--first-parent", "--format=%H%x00%s%x00%an%x00%ae%x00%at",
              "%s..%s" % (base["rev"], t["rev"]))
    commits = [tuple(ln.split("\0")) for ln in log.splitlines()]
    want, who = expect_patch(t, base, merged)
    tally = {c[0]: dict(new_lines=0, instrumented=0, covered=0, partial=0, uncovered=0,
                        files=set()) for c in commits}
    for path, (status, lines) in want.items():
        for ln, st in lines.items():
            x = tally[who[path][ln]]
            x["new_lines"] += 1
            x["files"].add(path)
            if st != "not_instrumented":
                x["instrumented"] += 1
                x[st] += 1
    return commits, tally


def api(b, what, **params):
    q = urllib.parse.urlencode(params)
    return STATE["srv"].request("GET", "/api/v1/builds/%s/%s%s" % (
        b["build_id"], what, "?" + q if q else ""))


def check_patch(t, base, merged, **params):
    want = {p: v for p, v in expect_patch(t, base, merged, params.get("commit"))[0].items()
            if p.startswith(params.get("path", "").rstrip("/") + "/" if "path" in params else "")}
    if merged:
        params["merge"] = ",".join(b["build_id"] for b in merged)
    if base.get("build_id"):
        params["base"] = base["build_id"]
    else:
        params["base_rev"] = base["rev_arg"]
    st, body = api(t, "patch", **params)
    check(st == 200, "patch: %d %s" % (st, body))
    j = json.loads(body)
    got = {f["path"]: (f["status"], {x["line"]: x["state"] for x in f["lines"]})
           for f in j["files"]}
    check(got == want, "patch %s..%s lines:\n got  %s\n want %s" % (
        base["name"], t["name"], got, want))
    tot = dict(files=0, new_lines=0, instrumented=0, covered=0, partial=0, uncovered=0,
               not_instrumented=0)
    for f in j["files"]:
        states = list(want[f["path"]][1].values())
        fig = dict(new_lines=len(states),
                   instrumented=sum(1 for s in states if s != "not_instrumented"),
                   covered=states.count("covered"), partial=states.count("partial"),
                   uncovered=states.count("uncovered"))
        check({k: f[k] for k in fig} == fig, "%s figures %s, want %s" % (f["path"], f, fig))
        tot["files"] += 1
        for k in fig:
            tot[k] += fig[k]
        tot["not_instrumented"] += states.count("not_instrumented")
    check(j["totals"] == tot, "totals %s, want %s" % (j["totals"], tot))
    check(j["base"] == base.get("build_id") and j["unknown"] == [], "base/unknown: %s" % j)
    return j, want


# ---- tests -------------------------------------------------------------------

def setup():
    root = tmpdir("kcov-patch-")
    STATE["root"] = root
    revs = make_repo(root)
    hist = history()
    # the base, the intermediate c2 and the newest c4 are built
    builds = {}
    for i in (0, 2, 4):
        b = compile_build(root, "b%d" % i, hist[i][2])
        b["rev"] = revs[i]
        b["text"] = True
        builds[i] = b
    srv = Server().start()
    STATE.update(revs=revs, builds=builds, srv=srv, admin=srv.token("admin", "admin"),
                 push=srv.token("push", "pusher"))
    for i, b in builds.items():
        import_cli(b, "--git", STATE["repo"], "--rev", b["rev"])
        b["pts"] = points_of(b)
        # the newest and the intermediate builds cover different halves
        b["cov"] = {o for o in b["pts"] if (o * 2654435761 + i * 97) % 7 < 3}
    for i in (2, 4):
        push_coverage(builds[i], i + 1)


def test_patch_lines():
    """Every new line of b4 since b0 and its state, per file and in total;
    the fixture has new lines covered by b4, only by b2, and never."""
    b0, b2, b4 = (STATE["builds"][i] for i in (0, 2, 4))
    own, _ = check_patch(b4, b0, [])
    merged, want = check_patch(b4, b0, [b2])
    states = [s for f in want.values() for s in f[1].values()]
    only_b2 = sum(1 for f in merged["files"] for x in f["lines"]
                  if x["state"] in ("covered", "partial") and x["builds"] == [b2["build_id"]])
    check(only_b2 > 0 and "uncovered" in states and "not_instrumented" in states and
          any(x["builds"] == [b4["build_id"]] for f in merged["files"] for x in f["lines"]
              if "builds" in x),
          "fixture too weak: %d lines only b2 covered, states %s" % (only_b2, set(states)))
    check({f["path"]: f["status"] for f in merged["files"]}["kernel/added.c"] == "added",
          "kernel/added.c is added")
    print("     b4 since b0: %d new lines, %d only covered by b2" % (len(states), only_b2))
    # from an intermediate base, and with the base as target: nothing new
    check_patch(b4, b2, [b2])
    check_patch(b2, b0, [b4])
    j, _ = check_patch(b4, b4, [])
    check(j["files"] == [], "a build has no new lines since itself")
    # path= restricts it to a directory
    j, _ = check_patch(b4, b0, [], path="lib")
    check([f["path"] for f in j["files"]] == ["lib/util.c"] and
          j["totals"]["instrumented"] == 0, "path=lib: only the comments of lib/util.c: %s"
          % j["files"])


def check_commits(t, base, merged, sort=None):
    commits, tally = expect_commits(t, base, merged)
    params = {"base": base["build_id"]} if base.get("build_id") else {"base_rev": base["rev_arg"]}
    if merged:
        params["merge"] = ",".join(b["build_id"] for b in merged)
    if sort:
        params["sort"] = sort
    st, body = api(t, "commits", **params)
    check(st == 200, "commits: %d %s" % (st, body))
    j = json.loads(body)
    got = [(c["id"], c["subject"], c["author"], c["email"], str(c["time"])) for c in j["commits"]]
    key = (lambda c: (-tally[c[0]]["uncovered"], -int(c[4]))) if sort == "uncovered" else \
        (lambda c: -int(c[4]))
    check(got == sorted(commits, key=key), "commits %s, want %s" % (got, commits))
    for c in j["commits"]:
        figs = {k: c[k] for k in ("new_lines", "instrumented", "covered", "partial",
                                  "uncovered")}
        figs["files"] = set(c["files"])
        check(figs == tally[c["id"]], "commit %s: %s, want %s" % (c["subject"], figs,
                                                                   tally[c["id"]]))
        check(c["date"] == __import__("time").strftime(
            "%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(c["time"])), "date %s" % c)
    check(j["unattributed"]["new_lines"] == 0, "unattributed: %s" % j["unattributed"])
    check(j["rev"] == t["rev"] and j["base_rev"] == base["rev"], "revs: %s" % j)
    return j, tally


def test_commits():
    """Per commit of b0..b4: id, subject, author, date and the tallies of
    its new lines, by date and by uncovered lines; commit= filters patch."""
    b0, b2, b4 = (STATE["builds"][i] for i in (0, 2, 4))
    j, tally = check_commits(b4, b0, [b2])
    check(len(j["commits"]) == 4 and len({c["author"] for c in j["commits"]}) == 3,
          "4 commits by 3 authors: %s" % [c["author"] for c in j["commits"]])
    comments = [c for c in j["commits"] if c["subject"] == "util: comments"][0]
    check(comments["new_lines"] == 2 and comments["instrumented"] == 0,
          "the comment commit: %s" % comments)
    check(any(c["covered"] for c in j["commits"]) and any(c["uncovered"] for c in j["commits"]),
          "fixture too weak: %s" % j["commits"])
    check_commits(b4, b0, [b2], sort="uncovered")
    check_commits(b4, b0, [])
    check_commits(b4, b2, [])
    # another target from the same base: blame of other revisions (the
    # blame cache is keyed by both)
    check_commits(b2, b0, [b4])
    j, _ = check_commits(b4, b4, [])
    check(j["commits"] == [], "no commits from a build to itself")
    for c in STATE["revs"][1:]:
        check_patch(b4, b0, [b2], commit=c)
        check_patch(b4, b0, [], commit=c[:12])
    st, body = api(b4, "patch", base=b0["build_id"], commit=STATE["revs"][1])
    lines = [x for f in json.loads(body)["files"] for x in f["lines"]]
    check(lines and all(x["commit"] == STATE["revs"][1] for x in lines), "commit of lines")


def test_base_rev():
    """base_rev=: a revision of T's repository as the base, built or not:
    the same answer as base= for a build's revision, and for c1 and c3
    (never built) the blame oracle of that revision."""
    b0, b2, b4 = (STATE["builds"][i] for i in (0, 2, 4))
    hist = history()
    by_build = json.loads(api(b4, "patch", base=b0["build_id"], merge=b2["build_id"])[1])
    by_rev = json.loads(api(b4, "patch", base_rev="main~4", merge=b2["build_id"])[1])
    check(by_rev["base"] is None and by_rev["base_rev"] == b0["rev"] and
          by_rev["files"] == by_build["files"] and by_rev["totals"] == by_build["totals"],
          "base_rev=main~4 differs from base=b0: %s" % by_rev)
    for i, arg in ((1, "main~3"), (3, STATE["revs"][3][:10])):
        fake = {"name": "c%d" % i, "rev": STATE["revs"][i], "rev_arg": arg,
                "files": hist[i][2]}
        check_patch(b4, fake, [b2])
        check_commits(b4, fake, [b2])
        check_patch(b4, fake, [], commit=STATE["revs"][4])
    for params in ({"base_rev": "nosuchrev"}, {"base_rev": "main", "base": b0["build_id"]},
                   {"base_rev": "-x"}, {"base_rev": "x" * 300}):
        st, body = api(b4, "patch", **params)
        check(st == 400 and "error" in json.loads(body), "%s: %d %s" % (params, st, body))


def test_patch_errors():
    b0, b4 = STATE["builds"][0], STATE["builds"][4]
    for params, status in (({}, 400), ({"base": "xyz"}, 400), ({"base": "cd" * 20}, 404),
                           ({"base": b0["build_id"], "path": "../x"}, 400),
                           ({"base": b0["build_id"], "merge": "zz"}, 400),
                           ({"base": b0["build_id"], "commit": "XYZ"}, 400),
                           ({"base": b0["build_id"], "commit": "ab" * 20}, 404),
                           ({"base": STATE["builds"][4]["build_id"],
                             "commit": STATE["revs"][1]}, 404)):
        st, body = api(b4, "patch", **params)
        check(st == status and "error" in json.loads(body), "%s: %d %s" % (params, st, body))
    # the other direction: b0's commit is not after b4's
    for what, params, status in (("commits", {"base": b4["build_id"]}, 400),
                                 ("commits", {"base": b0["build_id"], "sort": "x"}, 400),
                                 ("commits", {}, 400)):
        st, body = api(b0, what, **params)
        check(st == status and "error" in json.loads(body), "%s: %d %s" % (params, st, body))


def test_no_git():
    """A build imported without --git has no commits (400), but its patch
    is still answered from the stored texts (--source)."""
    b0, b4 = STATE["builds"][0], STATE["builds"][4]
    import_cli(b0, "--source", b0["src"])
    check_patch(b4, b0, [])
    st, body = api(b4, "commits", base=b0["build_id"])
    check(st == 400 and "git" in json.loads(body)["error"], "commits: %d %s" % (st, body))
    import_cli(b0)  # no source: every file b0 has too is unknown, the others added
    st, body = api(b4, "patch", base=b0["build_id"])
    j = json.loads(body)
    check(st == 200 and [(f["path"], f["status"]) for f in j["files"]] ==
          [("kernel/added.c", "added")] and
          {u["path"] for u in j["unknown"]} == {p for p in b0["files"] if p.endswith(".c")},
          "no source: %d %s" % (st, body))
    import_cli(b0, "--git", STATE["repo"], "--rev", b0["rev"])


def error_of(st, body, status, code):
    j = json.loads(body)
    check(st == status and j.get("code") == code and j.get("status") == status,
          "want %d %s: %d %s" % (status, code, st, body))
    return j["error"]


def test_other_repository():
    """A base imported from another repository (a clone: the same commits,
    so the ancestor check alone would pass) is 400 other_repository for
    commits and patch with commit=; the same repository spelled another
    way (its .git directory) is accepted."""
    b0, b2, b4 = (STATE["builds"][i] for i in (0, 2, 4))
    clone = os.path.join(STATE["root"], "clone")
    subprocess.run(["git", "clone", "-q", STATE["repo"], clone], check=True)
    try:
        import_cli(b0, "--git", clone, "--rev", b0["rev"])
        msg = error_of(*api(b4, "commits", base=b0["build_id"]), 400, "other_repository")
        check(clone in msg and STATE["repo"] in msg, "the message names both: %s" % msg)
        error_of(*api(b4, "patch", base=b0["build_id"], commit=STATE["revs"][1]), 400,
                 "other_repository")
        # patch without commit= reads stored texts only: still answered
        check_patch(b4, b0, [])
        import_cli(b0, "--git", os.path.join(STATE["repo"], ".git"), "--rev", b0["rev"])
        check_commits(b4, b0, [b2])
    finally:
        import_cli(b0, "--git", STATE["repo"], "--rev", b0["rev"])
    check_commits(b4, b0, [b2])


def restart(*extra):
    """The fixture's server again on its data directory and database, with
    extra options."""
    STATE["srv"].stop()
    STATE["srv"] = Server(data_dir=STATE["srv"].data_dir, db=STATE["srv"].db,
                          extra=extra).start()


def test_blame_cap():
    """--patch-blame-files N: a commits request attributing the new lines
    of more than N files is 400 bad_input naming the cap; N files pass, and
    path= narrows a patch with commit= under the cap."""
    b0, b2, b4 = (STATE["builds"][i] for i in (0, 2, 4))
    nfiles = len(expect_patch(b4, b0, [])[0])
    check(nfiles >= 3, "fixture: %d files with new lines" % nfiles)
    try:
        restart("--patch-blame-files", str(nfiles - 1))
        msg = error_of(*api(b4, "commits", base=b0["build_id"]), 400, "bad_input")
        check("more than %d files" % (nfiles - 1) in msg, "cap message: %s" % msg)
        error_of(*api(b4, "patch", base=b0["build_id"], commit=STATE["revs"][1]), 400,
                 "bad_input")
        check_patch(b4, b0, [], commit=STATE["revs"][2], path="kernel")
        check_patch(b4, b0, [])  # no attribution, no cap
        restart("--patch-blame-files", str(nfiles))
        check_commits(b4, b0, [b2])
    finally:
        restart()
    st, body = api(b4, "commits", base=b0["build_id"])
    check(st == 200, "default cap: %d %s" % (st, body))


def main():
    require_build_tools(git=True)
    setup()
    try:
        run_tests([test_patch_lines, test_commits, test_base_rev, test_patch_errors, test_no_git,
                   test_other_repository, test_blame_cap])
    finally:
        shutil.rmtree(STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
