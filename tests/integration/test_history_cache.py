#!/usr/bin/env python3
"""The history cache never answers stale (issue 20, docs/performance.md 3d).

kcovd caches each history period's merged figures under a key naming its
days' coverage_days stamps (schema 012, kept by triggers on coverage) and
its builds' import generations. On test_history.py's fixture (four builds
of a git history, a simulated fleet over four weeks) the same queries are
asked of a warm server before and after each change that reaches old
periods: a late report for an old day (the day-taken rule), a re-import of
a build from another revision (its line maps, so its merged figures,
change), a build delete and gc. After each change the warm server's
answers must equal those of the same database served by a fresh kcovd
(nothing cached), and the late report's answers the independent oracle of
test_history.py. That the cache is used at all is checked too: a repeated
query is answered faster than the cold one. With KC_DB_BACKEND=pg the
builds are imported into PostgreSQL and every change runs there too.
"""
import json
import shutil
import time
import urllib.parse

from kcovlib import KCOVD, check, run_tests
import test_history as th
import test_merge as tm
from test_coverage import require_build_tools, sh

STATE = th.STATE


def queries():
    d0, today = STATE["d0"], STATE["today"]
    span = {"since": th.day_str(d0 - 1), "until": th.day_str(today)}
    return [dict(step="day", **span),
            dict(step="day", path="kernel", **span),
            dict(step="day", path="kernel/sched.c", **span),
            dict(step="week", **span),
            dict(step="month", path="lib", **span),
            dict(step="week", label="syz", **span),
            dict(step="day", label="ltp", minus="syz", **span),
            dict(step="week", series="label", **span)]


def answers():
    return [th.history(**q) for q in queries()]


def restart():
    """The same database served by a new kcovd: an empty cache."""
    STATE["srv"].stop()
    STATE["srv"].start()


def same_as_cold(what):
    warm = answers()
    restart()
    cold = answers()
    for q, w, c in zip(queries(), warm, cold):
        check(w == c, "after %s, %s: the warm answer differs from a fresh server's:\n"
              " warm %s\n cold %s" % (what, q, json.dumps(w)[:2000], json.dumps(c)[:2000]))
    answers()  # warm again for the next change
    return warm


def admin():
    if "admin" not in STATE:
        STATE["admin"] = STATE["srv"].token("admin", "history-admin")
    return STATE["admin"]


def test_cache_is_used():
    """The second of two identical requests reuses the first's periods."""
    restart()
    q = "/api/v1/history?" + urllib.parse.urlencode(queries()[0])
    t = time.perf_counter()
    st, first = STATE["srv"].request("GET", q)
    cold = time.perf_counter() - t
    best = None
    for _ in range(3):
        t = time.perf_counter()
        st2, again = STATE["srv"].request("GET", q)
        best = min(best or 1e9, time.perf_counter() - t)
    check(st == st2 == 200 and first == again, "repeated answers differ")
    print("     cold %.1f ms, cached %.1f ms" % (cold * 1e3, best * 1e3))
    check(best < cold, "the repeated request was not faster: %.1f ms vs %.1f ms" % (
        best * 1e3, cold * 1e3))
    same_as_cold("nothing")


def test_late_report():
    """A report taken on an old day, received now, changes that day's
    period (and its neighbours' lines new and dropped) in the warm cache."""
    b1 = STATE["builds"][0]
    day = STATE["d0"] + 2
    offs = sorted(b1["pts"])[::3]
    th.push(b1, 7001, "ltp", set(offs), day * 86400 + 3600)
    STATE["pushes"].append((day, 0, "ltp", set(offs)))
    warm = same_as_cold("a late report")
    d0, today = STATE["d0"], STATE["today"]
    th.check_periods(warm[0]["periods"], "day", d0 - 1, today)
    th.check_periods(warm[6]["periods"], "day", d0 - 1, today, labels={"ltp"},
                     minus={"syz"})


def test_reimport():
    """b2 imported again from b3's revision: the same points, other source
    texts, so other line maps and merged figures where b2 is merged."""
    b2 = STATE["builds"][1]
    before = answers()
    tm.import_cli(b2, "--git", STATE["repo"], "--rev", STATE["revs"][2])
    after = same_as_cold("a re-import")
    check(before != after, "the re-import changed no figure: the test proves nothing")


def test_build_delete():
    """Deleting b3 removes its rows: periods where it was T or merged."""
    b3 = STATE["builds"][2]
    before = answers()
    st, body = STATE["srv"].request("DELETE", "/api/v1/builds/" + b3["build_id"],
                                    token=admin())
    check(st == 200, "build delete: %d %s" % (st, body))
    after = same_as_cold("a build delete")
    check(before != after, "the delete changed no period")


def test_gc():
    """gc keeping 10 days removes the older per-day rows."""
    before = answers()
    st, body = STATE["srv"].request("POST", "/api/v1/admin/gc",
                                    json.dumps({"keep_days": 10}).encode(),
                                    {"Content-Type": "application/json"}, token=admin())
    check(st == 200, "gc: %d %s" % (st, body))
    after = same_as_cold("gc")
    check(before != after, "gc changed no period")
    old = [p for p in after[0]["periods"] if p["first_day"] < th.day_str(STATE["today"] - 10)]
    check(old and all(not p["builds"] for p in old), "gc left builds in removed days")


def import_cli(b, *args):
    """import-build into the server's database, whichever the backend."""
    srv = STATE["srv"]
    return json.loads(sh([KCOVD, "import-build", "--data-dir", srv.data_dir, "--vmlinux",
                          b["vmlinux"]] + list(args), env=srv.env()))


def setup():
    tm.import_cli = import_cli
    th.setup()
    # test_history.setup keeps the repository in its root
    import subprocess
    repo = STATE["root"] + "/linux"
    revs = subprocess.check_output(["git", "-C", repo, "rev-list", "--reverse", "HEAD"],
                                   text=True).split()
    STATE.update(repo=repo, revs=revs)
    answers()  # warm


def main():
    require_build_tools(git=True)
    setup()
    try:
        run_tests([test_cache_is_used, test_late_report, test_reimport, test_build_delete,
                   test_gc])
    finally:
        STATE["srv"].stop()
        shutil.rmtree(STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
