"""The run command's demo (scripts/demo.py, scripts/demokernel.py) against a
real kcovd: it must show what docs promise a new user, computed by kcovd
from what the real kcov-collect pushed and what POST /api/v1/builds
imported:

- two imported revisions (sources from git) of a kernel-like tree with
  hundreds of files and tens of thousands of coverage points, real
  top-level directories, the newest build listed first, and a merged view
  of both that gains lines and loses the changed ones, and subsystems
  from the MAINTAINERS of the git revision;
- a fleet of 24 machines under four labels whose overflow statistics look
  like a real fleet's: a handful of machines overflowing in at least half of
  their programs, the median machine in single-digit percent, and no
  overflow at all in unique mode (the loops that overflow trace mode record
  each PC once there);
- two weeks of history: each of the last 14 days has coverage, taken by
  the older build's machines in the first week and the newer build's in
  the second (the collectors' clocks set back with libfaketime);
- loading it a second time into the same data directory adds nothing.
"""
import datetime
import os
import subprocess
import sys

from kcovlib import Server, check, run_tests, started

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def day(offset):
    """The UTC day offset days from today, as the API names it."""
    return (datetime.datetime.now(datetime.timezone.utc).date() +
            datetime.timedelta(days=offset)).isoformat()


def load(srv):
    # Within ctest's 1500 s (tests/integration/CMakeLists.txt): under ASan at
    # load average 20-26 the demo took more than 900 s.
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), srv.url,
                        srv.data_dir], capture_output=True, text=True, timeout=1380)
    check(p.returncode == 0, "demo.py failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    return p.stderr


def test_demo():
    srv = started(Server().start())
    log = load(srv)
    print(log.strip().splitlines()[-1], flush=True)
    builds = srv.get("/api/v1/builds")["builds"]
    check(len(builds) == 2 and all(b["imported"] for b in builds),
          "two imported builds expected: %s" % builds)
    for b in builds:
        t = srv.get("/api/v1/builds/%s/tree" % b["build_id"])
        check(t["files"] >= 150, "%s: only %d files with points" % (b["build_id"], t["files"]))
        check(t["points_total"] >= 20000, "only %d points" % t["points_total"])
        check(0 < t["points_covered"] < t["points_total"], "coverage %d of %d"
              % (t["points_covered"], t["points_total"]))
        tops = {c["name"] for c in t["children"]}
        for d in ("kernel", "mm", "fs", "net", "drivers", "include"):
            check(d in tops, "no top-level %s/ in %s" % (d, sorted(tops)))
    # The newest build first; merging the older one onto it adds the lines
    # only the older build's machines covered and loses the changed ones.
    new, old = builds[0]["build_id"], builds[1]["build_id"]
    own = srv.get("/api/v1/builds/%s/tree" % new)
    merged = srv.get("/api/v1/builds/%s/tree?merge=%s" % (new, old))
    check(merged["lines_covered"] > own["lines_covered"],
          "merge added no line: %d vs %d" % (merged["lines_covered"], own["lines_covered"]))
    check(merged["lost_lines"] > 0, "the changed files lost no line")
    summary = srv.get("/api/v1/builds/%s/summary?merge=%s" % (new, old))
    check(any(f["path"] == "lib/scatterlist.c" for f in summary["lost_files"]),
          "lib/scatterlist.c (removed) not among the lost files: %s" % summary["lost_files"][:5])
    # The changes page the demo prints: the commits between the revisions
    # with instrumented new lines.
    check("/changes?build=%s&base=%s" % (new, old) in log, "no changes link in: " + log[-500:])
    commits = srv.get("/api/v1/builds/%s/commits?base=%s" % (new, old))
    check(commits["commits"] and sum(c["instrumented"] for c in commits["commits"]) > 0,
          "commits between the demo's revisions: %s" % str(commits)[:300])
    # MAINTAINERS read from the git revision: a subsystem per directory.
    subs = srv.get("/api/v1/builds/%s/subsystems" % new)
    check(subs["maintainers"] and len(subs["subsystems"]) >= 30,
          "subsystems of the demo build: %s" % str(subs)[:300])
    ext4 = [x for x in subs["subsystems"] if x["name"] == "FS EXT4 SUBSYSTEM"]
    check(ext4 and ext4[0]["files"] == 9, "fs/ext4 subsystem: %s" % ext4)
    # Two weeks of per-day coverage: the older build's machines ran 13 to 7
    # days ago, the newer build's since then (their reports' taken days).
    hist = srv.get("/api/v1/history?step=day&since=%s" % day(-20))["periods"]
    days = {p["period"]: p for p in hist if p["builds"]}
    check(sorted(days) == [day(-d) for d in range(13, -1, -1)],
          "days with coverage: %s" % sorted(days))
    check(all(days[day(-d)]["build_id"] == old for d in range(13, 6, -1)) and
          all(days[day(-d)]["build_id"] == new for d in range(6, -1, -1)),
          "the periods' builds: %s" % [(p, days[p]["build_id"][:8]) for p in sorted(days)])
    check(all(0 < p["lines_covered"] < p["lines_total"] for p in days.values()),
          "a day without covered lines: %s" % hist)
    weeks = srv.get("/api/v1/history?step=week&since=%s" % day(-13))["periods"]
    check(sum(1 for w in weeks if w["builds"]) >= 2, "history weeks: %s" % weeks)
    machines = srv.get("/api/v1/machines")["machines"]
    check(len(machines) == 24, "%d machines, 24 expected" % len(machines))
    reports = sum(m["reports"] for m in machines)
    labels = {l["name"] for l in srv.get("/api/v1/labels")["labels"]}
    check(labels >= {"syzkaller", "ltp", "kselftest", "kunit"}, "labels %s" % labels)
    fleet = srv.get("/api/v1/stats/overflow?group=machine")["fleet"]
    check(fleet["machines"] == 24, "overflow statistics of %d machines" % fleet["machines"])
    check(3 <= fleet["machines_overflow_ge_50pct"] <= 6,
          "%d machines at >= 50%% (a handful expected)" % fleet["machines_overflow_ge_50pct"])
    check(0.01 <= fleet["median_machine_rate"] < 0.10,
          "median machine overflow rate %.3f, single-digit percent expected"
          % fleet["median_machine_rate"])
    check(fleet["unique"]["overflowed"] == 0 and fleet["unique"]["runs"] > 0,
          "unique mode: %d of %d programs overflowed"
          % (fleet["unique"]["overflowed"], fleet["unique"]["runs"]))
    check(fleet["trace"]["overflowed"] > 0, "trace mode never overflowed")
    # A second run of the run command on the same data directory.
    log = load(srv)
    check("already loaded" in log, "second load did not notice the first: %s" % log[-300:])
    again = sum(m["reports"] for m in srv.get("/api/v1/machines")["machines"])
    check(again == reports, "the second load added reports: %d -> %d" % (reports, again))
    srv.stop()


if __name__ == "__main__":
    run_tests([test_demo])
