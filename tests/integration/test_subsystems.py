"""Subsystems from MAINTAINERS, end to end: GET .../subsystems and the
subsystem= filter on the clang-built miniature kernel of test_coverage.py
(its build, oracle and pushed coverage are reused: suiteA and suiteB).

The source tree gets a small MAINTAINERS whose sections use a directory
(with and without the trailing '/'), an X: exclusion, a glob with a
character class and an N: regex; which file is in which subsystem is
written out below by hand (not computed by a second parser). Every total
is checked twice: against the tree endpoint's figures for the member files
(with the same filters) and against the points oracle.
"""
import csv
import io
import json
import os
import urllib.parse

import test_coverage as tc
from kcovlib import check, run_tests

MAINTAINERS = """\
List of maintainers (a preamble line, no section)

ALPHA
M:\tA <a@example.org>
F:\tkernel/alpha.c

KERNEL CORE
F:\tkernel/
X:\tkernel/start.c

GEN EVEN
F:\tlib/gen/g?[02468].c

GEN TENS
N:\tg[0-9]0\\.c

HEADERS
F:\tinclude/

MODULE
F:\tdrivers/minimod
"""

GEN = tc.GEN
MEMBERS = {
    "ALPHA": {"kernel/alpha.c"},
    "KERNEL CORE": {"kernel/alpha.c"},
    "GEN EVEN": {g for g in GEN if int(g[-3]) % 2 == 0},
    "GEN TENS": {"lib/gen/g00.c", "lib/gen/g10.c", "lib/gen/g20.c", "lib/gen/g30.c"},
    "HEADERS": {"include/helpers.h"},
    "MODULE": {"drivers/minimod/modmain.c"},
}
NONE = set(tc.ALLFILES) - set().union(*MEMBERS.values())
KEYS = ("points_covered", "points_total", "lines_covered", "lines_partial", "lines_total",
        "functions_covered", "functions_total")
FILTERS = [{}, {"label": "suiteA"}, {"label": "suiteB"}, {"label": "suiteA", "minus": "suiteB"},
           {"since": "2000-01-01", "until": "2000-01-02"}]


def get(what, **params):
    return tc.api(what, **params)


def status_of(what, **params):
    q = urllib.parse.urlencode(params, doseq=True)
    status, body = tc.STATE["srv"].request(
        "GET", "/api/v1/builds/%s/%s?%s" % (tc.STATE["build_id"], what, q))
    return status, body


def file_totals(**params):
    """Per-file totals from the tree endpoint, walking every directory."""
    out, todo = {}, [""]
    while todo:
        d = todo.pop()
        t = get("tree", path=d, **params) if d else get("tree", **params)
        for c in t["children"]:
            if c["type"] == "dir":
                todo.append(c["path"])
            else:
                out[c["path"]] = {k: c[k] for k in KEYS}
    return out


def summed(per_file, files):
    return {k: sum(per_file[f][k] for f in files) for k in KEYS}


def oracle_points(files, covered):
    pts = [k for k, v in tc.STATE["pts"].items() if v[0] in files]
    return len(pts), len([k for k in pts if k in covered])


def import_build(source):
    body = {"vmlinux": tc.STATE["vmlinux"], "modules": tc.STATE["mods"]}
    if source:
        body["source"] = tc.STATE["src"]
    status, ans = tc.STATE["srv"].request("POST", "/api/v1/builds", json.dumps(body).encode(),
                                          {"Content-Type": "application/json"},
                                          tc.STATE["admin"])
    check(status == 200, "import: %d %s" % (status, ans))
    return json.loads(ans)


def test_import_reads_maintainers():
    with open(os.path.join(tc.STATE["src"], "MAINTAINERS"), "w") as f:
        f.write(MAINTAINERS)
    s = import_build(source=True)
    check(s["subsystems"] == len(MEMBERS), "import summary: %s" % s)


def test_subsystem_totals():
    for params in FILTERS:
        per_file = file_totals(**params)
        check(set(per_file) == set(tc.ALLFILES), "tree files: %s" % sorted(per_file))
        ans = get("subsystems", **params)
        check(ans["maintainers"] is True and ans["files"] == len(tc.ALLFILES), str(ans)[:300])
        names = [s["name"] for s in ans["subsystems"]]
        check(names == sorted(MEMBERS), "subsystems %s: %s" % (params, names))
        for s in ans["subsystems"]:
            files = MEMBERS[s["name"]]
            check(s["files"] == len(files), "%s files: %s" % (s["name"], s))
            check({k: s[k] for k in KEYS} == summed(per_file, files),
                  "%s %s: %s, tree says %s" % (s["name"], params, s, summed(per_file, files)))
        none = ans["none"]
        check(none["files"] == len(NONE) and {k: none[k] for k in KEYS} == summed(per_file, NONE),
              "none %s: %s" % (params, none))
    # independently of the tree: the points oracle and the pushed sets
    a, b = tc.STATE["a"], tc.STATE["b"]
    for params, covered in (({}, a | b), ({"label": "suiteA"}, a),
                            ({"label": "suiteA", "minus": "suiteB"}, a - b)):
        ans = get("subsystems", **params)
        for s in ans["subsystems"] + [dict(ans["none"], name=None)]:
            files = MEMBERS[s["name"]] if s["name"] else NONE
            total, cov = oracle_points(files, covered)
            check((s["points_total"], s["points_covered"]) == (total, cov),
                  "%s %s: %s, oracle (%d, %d)" % (s["name"], params, s, total, cov))
    ans = get("subsystems")["subsystems"]
    check(all(s["points_covered"] for s in ans if s["name"] in ("ALPHA", "GEN EVEN", "MODULE")),
          "subsystems without coverage: the checks above prove little: %s" % ans)


def test_subsystem_filter():
    per_file = file_totals(label="suiteA")
    for name, files in MEMBERS.items():
        t = get("tree", subsystem=name, label="suiteA")
        check(t["files"] == len(files) and {k: t[k] for k in KEYS} == summed(per_file, files),
              "tree subsystem=%s: %s" % (name, t))
        # directories: only member files are children
        for d in {f.rsplit("/", 1)[0] for f in files}:
            kids = {c["path"] for c in get("tree", path=d, subsystem=name)["children"]}
            check(kids == {f for f in files if f.rsplit("/", 1)[0] == d},
                  "tree %s subsystem=%s: %s" % (d, name, kids))
        one = sorted(files)[0]
        check(get("files/" + one, subsystem=name)["path"] == one, "file in subsystem")
        for other in sorted(set(tc.ALLFILES) - files)[:3]:
            status, body = status_of("files/" + other, subsystem=name)
            check(status == 404, "file %s outside subsystem %s: %d" % (other, name, status))
        fn = get("functions", subsystem=name, limit=10000)
        want = [f for f in get("functions", limit=10000)["functions"] if f["file"] in files]
        check(fn["functions"] == want and fn["total"] == len(want) and want,
              "functions subsystem=%s: %s" % (name, fn))
        status, lcov = status_of("lcov", subsystem=name)
        sf = {line[3:] for line in lcov.decode().splitlines() if line.startswith("SF:")}
        check(status == 200 and sf == files, "lcov subsystem=%s: %s" % (name, sf))
        status, body = status_of("files.csv", subsystem=name)
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        check(status == 200 and {r["Filename"] for r in rows} == files, "files.csv %s" % name)
        status, body = status_of("functions.csv", subsystem=name)
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        check(status == 200 and {r["Filename"] for r in rows} <= files and rows,
              "functions.csv %s: %s" % (name, rows))
        one_sub = get("subsystems", subsystem=name)
        check([s["name"] for s in one_sub["subsystems"]] == [name] and one_sub["none"] is None,
              "subsystems?subsystem=%s: %s" % (name, one_sub))
    # a directory with no file of the subsystem, an unknown one, bad names
    status, body = status_of("tree", path="lib", subsystem="ALPHA")
    check(status == 404, "tree lib subsystem=ALPHA: %d %s" % (status, body))
    status, body = status_of("tree", subsystem="NO SUCH")
    check(status == 404 and json.loads(body)["code"] == "not_found", "unknown: %d %s"
          % (status, body))
    for bad in ("", "A\x01B", "x" * 513):
        status, body = status_of("tree", subsystem=bad)
        check(status == 400 and json.loads(body)["code"] == "bad_input",
              "subsystem=%r: %d %s" % (bad[:20], status, body))


def test_reimport_without_maintainers():
    s = import_build(source=False)
    check(s["subsystems"] is None, "summary without a source: %s" % s)
    ans = get("subsystems")
    check(ans["maintainers"] is False and ans["subsystems"] == [] and
          ans["none"]["files"] == len(tc.ALLFILES), "without MAINTAINERS: %s" % ans)
    status, body = status_of("tree", subsystem="ALPHA")
    check(status == 404 and "without MAINTAINERS" in json.loads(body)["error"],
          "filter without MAINTAINERS: %d %s" % (status, body))
    # and back: a re-import with the source restores them
    check(import_build(source=True)["subsystems"] == len(MEMBERS), "re-import")
    check(len(get("subsystems")["subsystems"]) == len(MEMBERS), "subsystems after re-import")


def test_delete_build_with_subsystems():
    """Build deletion (retention.c) removes the subsystems with the files
    (foreign keys are on: a left-over row would make it fail)."""
    srv = tc.STATE["srv"]
    status, body = srv.request("DELETE", "/api/v1/builds/" + tc.STATE["build_id"],
                               token=tc.STATE["admin"])
    check(status == 200, "delete: %d %s" % (status, body))
    status, body = status_of("subsystems")
    check(status == 404, "subsystems of a deleted build: %d %s" % (status, body))
    left = srv.query("SELECT (SELECT count(*) FROM subsystems), "
                     "(SELECT count(*) FROM file_subsystems)")[0]
    check(left == (0, 0), "subsystem rows left: %s" % (left,))


def main():
    tc.setup()
    try:
        run_tests([test_import_reads_maintainers, test_subsystem_totals, test_subsystem_filter,
                   test_reimport_without_maintainers, test_delete_build_with_subsystems])
    finally:
        tc.shutil.rmtree(tc.STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
