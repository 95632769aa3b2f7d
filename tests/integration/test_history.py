#!/usr/bin/env python3
"""Coverage over time: GET /api/v1/history (issue 20).

The four builds of test_merge.py (a git history of a miniature kernel,
compiled with clang, imported with --git/--rev) are covered by a simulated
fleet over four weeks: each report is taken on a known day (its `created`,
the day it belongs to, docs/wire-format.md) and received now. Every figure
of every period (day, ISO week, month; root, a directory, a file; per
label, minus=, release=) is checked against an oracle computed here from
llvm-objdump/llvm-addr2line points and difflib line maps (test_merge.py's
oracle), never from kcovd. Reports with absurd clocks are clamped.
"""
import datetime
import json
import shutil
import time
import urllib.parse

from kcovlib import Server, check, run_tests, tmpdir
import test_merge as tm
from test_coverage import require_build_tools

STATE = {}
NDAYS = 27  # within the 30 days a collector's clock is believed


# ---- the fleet -------------------------------------------------------------

def schedule():
    """[(day offset, build index, label)]: b1 early, b2 and b3 overlapping
    it and each other, b4 last, a two-day gap, the unimported build once."""
    out = []
    for k in range(NDAYS):
        if k in (10, 11):
            continue
        if k <= 8:
            out.append((k, 0, "ltp"))
        if 6 <= k <= 15:
            out.append((k, 1, "ltp" if k % 2 else "syz"))
        if 13 <= k <= 21:
            out.append((k, 2, "syz"))
        if k >= 19:
            out.append((k, 3, "ltp"))
        if k == 4:
            out.append((k, 4, "ltp"))
    return out


def chosen(b, k, bi):
    """The points a report of build b on day offset k covers."""
    return {o for o in b["pts"] if (o * 2654435761 + k * 7919 + bi * 104729) % 6 < 2}


def push(b, seed, label, offsets, created):
    srv = STATE["srv"]
    frame = tm.mkframe("report", "m-" + b["name"], b["boot"], label, seed,
                       *["0x%x" % (tm.LINK + o + 5) for o in sorted(offsets)],
                       env={"KC_CREATED": str(created)})
    status, body = srv.post_frame("/api/v1/reports", frame, STATE["push"])
    check(status == 200, "report: %d %s" % (status, body))


def boot(b, seed, release):
    b["boot"] = "00000000-0000-4000-8000-%012d" % seed
    frame = tm.mkframe("addrmap", "m-" + b["name"], b["boot"], b["build_id"],
                       "0x%x" % tm.LINK, "0x%x" % (tm.LINK + 0x100000), "0x%x" % tm.LINK,
                       env={"KC_RELEASE": release})
    status, body = STATE["srv"].post_frame("/api/v1/boots", frame, STATE["push"])
    check(status == 200, "address map: %d %s" % (status, body))


def setup():
    root = tmpdir("kcov-history-")
    repo, bare, revs = tm.make_repo(root)
    builds = [tm.compile_build(root, "b%d" % (i + 1), files)
              for i, (_, files) in enumerate(tm.history())]
    srv = Server().start()
    tm.STATE.update(root=root, srv=srv)
    STATE.update(root=root, srv=srv, builds=builds, push=srv.token("push", "pusher"))
    for i, (b, rev) in enumerate(zip(builds, revs)):
        b["pts"] = tm.points_of(b)
        b["text"] = True
        tm.import_cli(b, "--git", repo, "--rev", rev)  # in order: b1 is the oldest
        boot(b, i + 1, "6.2.0-test" if i == 3 else "6.1.0-test")
    fake = {"name": "fake", "build_id": "ab" * 20, "pts": {0x10: None}}
    boot(fake, 99, "6.1.0-test")
    STATE["all"] = builds + [fake]
    now = int(time.time())
    today = now // 86400
    STATE["d0"] = today - (NDAYS - 1)
    STATE["today"] = today
    # pushes[(build index, label)] = [(day, offsets)]
    STATE["pushes"] = []
    for n, (k, bi, label) in enumerate(schedule()):
        b = STATE["all"][bi]
        offs = chosen(b, k, bi) if bi < 4 else {0x10}
        day = STATE["d0"] + k
        # taken at noon UTC of its day (today: now), received now
        created = min(day * 86400 + 43200, now)
        push(b, 1000 + n, label, offs, created)
        STATE["pushes"].append((day, bi, label, offs))


# ---- the oracle --------------------------------------------------------------

def cov(bi, a, b, labels, minus):
    """Build bi's coverage taken on days [a, b] under labels (None: all),
    minus what the minus labels covered on those days."""
    got = set()
    sub = set()
    for day, i, label, offs in STATE["pushes"]:
        if i != bi or not a <= day <= b:
            continue
        if labels is None or label in labels:
            got |= offs
        if label in minus:
            sub |= offs
    return got - sub


def period_builds(a, b, labels, release):
    out = []
    for day, i, label, offs in STATE["pushes"]:
        if a <= day <= b and (labels is None or label in labels) and i not in out:
            if release and not rel_of(i).startswith(release):
                continue
            out.append(i)
    return sorted(out)  # first seen order is the index order


def rel_of(i):
    return "6.2.0-test" if i == 3 else "6.1.0-test"


def under(path, f):
    return not path or f == path or f.startswith(path + "/")


def view(bi, a, b, labels, minus):
    return {**STATE["all"][bi], "cov": cov(bi, a, b, labels, minus)}


def merged_lines(t, a, b, labels, minus, release, path):
    """{(file, line)} covered in T (index t) over days [a, b] merged with
    the period's other imported builds, and the per-file views."""
    others = [view(i, a, b, labels, minus) for i in period_builds(a, b, labels, release)
              if i != t and i < 4]
    tv = view(t, a, b, labels, minus)
    files = sorted({f for f, ln, fn in tv["pts"].values() if under(path, f)})
    covered, views = set(), {}
    for f in files:
        lines, funcs, lost = tm.expect_merged(tv, others, f)
        views[f] = (lines, funcs, lost)
        covered |= {(f, ln) for ln, v in lines.items() if v[0] == 2}
    return covered, views, tv


def expect_period(a, b, prev, labels, minus, release, path):
    bs = period_builds(a, b, labels, release)
    imported = [i for i in bs if i < 4]
    want = {"builds": [STATE["all"][i]["build_id"] for i in imported],
            "not_imported": [STATE["all"][i]["build_id"] for i in bs if i >= 4]}
    if not imported:
        want["build_id"] = None
        return want
    t = imported[-1]
    want["build_id"] = STATE["all"][t]["build_id"]
    covered, views, tv = merged_lines(t, a, b, labels, minus, release, path)
    pa, pb = prev
    prev_cov = set()
    if period_builds(pa, pb, labels, release):
        prev_cov = merged_lines(t, pa, pb, labels, minus, release, path)[0]
    pts = [o for o, (f, ln, fn) in tv["pts"].items() if under(path, f)]
    want.update(
        files=len(views),
        points_total=len(pts), points_covered=sum(1 for o in pts if o in tv["cov"]),
        lines_total=sum(len(v[0]) for v in views.values()),
        lines_covered=sum(1 for v in views.values() for x in v[0].values() if x[0] == 2),
        lines_partial=sum(1 for v in views.values() for x in v[0].values() if x[0] == 1),
        functions_total=sum(len(v[1]) for v in views.values()),
        functions_covered=sum(1 for v in views.values() for x in v[1].values() if x[0]),
        lost_lines=sum(len(ls[1]) for v in views.values() for ls in v[2].values()),
        lines_new=len(covered - prev_cov), lines_dropped=len(prev_cov - covered))
    return want


def day_str(d):
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=d)).isoformat()


def periods(step, since, until):
    """[(name, first day, last day)] of the periods holding since..until."""
    out = []
    d = datetime.date(1970, 1, 1) + datetime.timedelta(days=since)
    end = datetime.date(1970, 1, 1) + datetime.timedelta(days=until)
    if step == "week":
        d -= datetime.timedelta(days=d.weekday())
    elif step == "month":
        d = d.replace(day=1)
    while d <= end:
        if step == "day":
            nxt, name = d + datetime.timedelta(days=1), d.isoformat()
        elif step == "week":
            iso = d.isocalendar()
            nxt, name = d + datetime.timedelta(days=7), "%04d-W%02d" % (iso[0], iso[1])
        else:
            nxt = (d.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
            name = d.strftime("%Y-%m")
        first = (d - datetime.date(1970, 1, 1)).days
        out.append((name, first, (nxt - datetime.date(1970, 1, 1)).days - 1))
        d = nxt
    return out


def history(**params):
    q = urllib.parse.urlencode(params, doseq=True)
    st, body = STATE["srv"].request("GET", "/api/v1/history?" + q)
    check(st == 200, "history %s: %d %s" % (params, st, body))
    return json.loads(body)


FIGS = ("build_id", "builds", "not_imported", "files", "points_total", "points_covered",
        "lines_total", "lines_covered", "lines_partial", "functions_total",
        "functions_covered", "lost_lines", "lines_new", "lines_dropped")


def check_periods(got, step, since, until, labels=None, minus=(), release=None, path=""):
    want = periods(step, since, until)
    check([(p["period"], p["first_day"], p["last_day"]) for p in got] ==
          [(n, day_str(a), day_str(b)) for n, a, b in want],
          "%s periods: %s, want %s" % (step, [p["period"] for p in got], want))
    seen = 0
    for p, (name, a, b) in zip(got, want):
        pa = periods(step, a - 1, a - 1)[0]
        exp = expect_period(a, b, (pa[1], pa[2]), labels, minus, release, path)
        g = {k: p[k] for k in FIGS if k in exp}
        check(g == exp, "%s %s %s labels=%s minus=%s release=%s:\n got  %s\n want %s" % (
            path or "/", step, name, labels, minus, release, g, exp))
        if exp["build_id"] is None:
            check(all(p[k] is None for k in FIGS[3:]), "empty period %s: %s" % (name, p))
        else:
            seen += 1
    return seen


# ---- tests -------------------------------------------------------------------

def test_days_of_every_build():
    """Daily periods over the whole schedule, for the root, a directory and
    a file: every figure, including the merged days where two builds
    overlap, the gap, and lines new and dropped across a change of T."""
    d0, today = STATE["d0"], STATE["today"]
    for path in ("", "kernel", "kernel/sched.c", "lib/gen"):
        j = history(path=path, step="day", since=day_str(d0 - 1), until=day_str(today))
        check(j["path"] == path and j["step"] == "day", "header %s" % {k: j[k] for k in
                                                                          ("path", "step")})
        n = check_periods(j["periods"], "day", d0 - 1, today, path=path)
        check(n == NDAYS - 2, "%d days with figures" % n)
    # The writer kept every day's union of all labels (schema 013), so the
    # figures above (no label filter) came from those rows, not from the
    # per-label ones (which per-label series below read).
    days = STATE["srv"].query("SELECT count(*), sum(CASE WHEN union_stamp = stamp THEN 1 "
                              "ELSE 0 END) FROM coverage_days WHERE nrows > 0")[0]
    unions = STATE["srv"].query("SELECT count(DISTINCT day) FROM coverage_day_unions")[0][0]
    check(days[0] >= NDAYS - 2 and days[1] == days[0] and unions >= NDAYS - 2,
          "day unions: %s valid of (day, binary) pairs, %s days with union rows" % (days, unions))
    # the fixture is strong enough: merges, losses, new and dropped lines
    root = history(step="day", since=day_str(d0), until=day_str(today))["periods"]
    check(any(len(p["builds"]) > 1 for p in root), "no period merges two builds")
    check(any(p["lost_lines"] for p in root if p["build_id"]), "nothing is ever lost")
    check(any(p["lines_dropped"] for p in root if p["build_id"]), "nothing is dropped")
    check(any(p["not_imported"] for p in root), "no unimported build")
    print("     %d daily periods, up to %d builds merged, %d lost lines in all" % (
        len(root), max(len(p["builds"]) for p in root),
        sum(p["lost_lines"] or 0 for p in root)))


def test_weeks_and_months():
    d0, today = STATE["d0"], STATE["today"]
    for step in ("week", "month"):
        for path in ("", "lib/util.c"):
            j = history(path=path, step=step, since=day_str(d0), until=day_str(today))
            check_periods(j["periods"], step, d0, today, path=path)


def test_label_minus_release():
    d0, today = STATE["d0"], STATE["today"]
    j = history(step="week", label="syz", since=day_str(d0), until=day_str(today))
    check_periods(j["periods"], "week", d0, today, labels={"syz"})
    j = history(step="day", label="ltp", minus="syz", since=day_str(d0 + 5),
                until=day_str(d0 + 16), path="kernel")
    check_periods(j["periods"], "day", d0 + 5, d0 + 16, labels={"ltp"}, minus={"syz"},
                  path="kernel")
    # b4 is 6.2: with release=6.1 the last days' T is b3 or nobody
    j = history(step="day", release="6.1", since=day_str(d0 + 18), until=day_str(today))
    check_periods(j["periods"], "day", d0 + 18, today, release="6.1")
    check(j["periods"][-1]["build_id"] is None, "release=6.1 kept b4")


def test_series_per_label():
    d0, today = STATE["d0"], STATE["today"]
    j = history(step="week", series="label", since=day_str(d0), until=day_str(today))
    check([s["label"] for s in j["series"]] == ["ltp", "syz"] and "periods" not in j,
          "series: %s" % [s["label"] for s in j["series"]])
    for s in j["series"]:
        check_periods(s["periods"], "week", d0, today, labels={s["label"]})
    j = history(step="month", series="label", label="syz", since=day_str(d0),
                until=day_str(today))
    check([s["label"] for s in j["series"]] == ["syz"], "series of label=syz")


def test_subsystem_missing_is_null():
    """These builds have no MAINTAINERS: every period's T lacks the
    subsystem, so its figures are null but its builds are listed."""
    d0 = STATE["d0"]
    j = history(step="day", subsystem="SCHEDULER", since=day_str(d0), until=day_str(d0 + 2))
    for p in j["periods"]:
        check(p["build_id"] == STATE["builds"][0]["build_id"] and p["lines_covered"] is None,
              "subsystem period %s" % p)


def test_clock_clamped():
    """A report whose clock is years behind lands 30 days before its
    receipt, one from the future lands today; both are counted."""
    srv, b4 = STATE["srv"], STATE["builds"][3]
    metrics = lambda: srv.request("GET", "/metrics")[1].decode()
    def clamped(side):
        for ln in metrics().splitlines():
            if ln.startswith('kcovd_reports_clock_clamped_total{side="%s"}' % side):
                return int(ln.split()[-1])
        check(False, "no clamp metric for %s" % side)
    past, future = clamped("past"), clamped("future")
    now = int(time.time())
    offs = sorted(b4["pts"])[:3]
    push(b4, 5001, "clock", offs, 86400 * 400)  # 1971
    push(b4, 5002, "clock", offs[:1], now + 7 * 86400)
    push(b4, 5003, "clock", offs[1:2], now + 60)  # ordinary skew: not counted
    check(clamped("past") == past + 1 and clamped("future") == future + 1,
          "clamp counters %d %d -> %d %d" % (past, future, clamped("past"), clamped("future")))
    old = (now - 30 * 86400) // 86400
    j = history(step="day", label="clock", since=day_str(old - 1), until=day_str(now // 86400))
    got = {p["period"]: p["points_covered"] for p in j["periods"] if p["build_id"]}
    want = {day_str(old): 3, day_str(now // 86400): 2}
    check(got == want, "clamped days: %s, want %s" % (got, want))


def test_errors():
    d0 = STATE["d0"]
    for params, msg in (({"step": "year"}, "step="),
                        ({"since": "2026-02-01", "until": "2026-01-01"}, "after"),
                        ({"since": "2020-01-01", "until": "2026-01-01"}, "periods"),
                        ({"series": "build"}, "series="),
                        ({"merge": "window"}, "merge="),
                        ({"release": ""}, "release="),
                        ({"release": "x" * 256}, "release="),
                        ({"path": "../etc"}, "path="),
                        ({"label": ""}, "label="),
                        ({"since": "yesterday"}, "since=")):
        st, body = STATE["srv"].request("GET", "/api/v1/history?" +
                                        urllib.parse.urlencode(params))
        j = json.loads(body)
        check(st == 400 and j.get("code") == "bad_input" and msg in j["error"],
              "%s: %d %s" % (params, st, body))
    # 400 periods are fine, 401 are not
    j = history(step="day", since=day_str(d0 - 399), until=day_str(d0))
    check(len(j["periods"]) == 400, "400 periods: %d" % len(j["periods"]))
    st, body = STATE["srv"].request("GET", "/api/v1/history?since=%s&until=%s" % (
        day_str(d0 - 400), day_str(d0)))
    check(st == 400 and json.loads(body)["code"] == "bad_input", "401 periods: %d" % st)


def main():
    require_build_tools(git=True)
    setup()
    try:
        run_tests([test_days_of_every_build, test_weeks_and_months, test_label_minus_release,
                   test_series_per_label, test_subsystem_missing_is_null, test_clock_clamped,
                   test_errors])
    finally:
        shutil.rmtree(STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
