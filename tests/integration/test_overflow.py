"""A simulated fleet of 24 collectors on the KCOV stand-in (16 in trace mode
with small buffers, 8 in unique mode) with a known overflow distribution;
every figure of /api/v1/stats/overflow is checked exactly."""
import datetime
import statistics
from concurrent.futures import ThreadPoolExecutor

from kcovlib import Machine, Server, check, run_tests

# (name, mode, overflowing runs, clean runs)
TRACE = [10, 8, 6, 5, 5, 4, 3, 2, 2, 1, 1, 1, 0, 0, 0, 0]
UNIQUE = [1, 0, 0, 0, 0, 0, 0, 0]
RUNS = 10
FLEET = [("trace-%02d" % i, "trace", k, RUNS - k) for i, k in enumerate(TRACE)] + \
        [("unique-%02d" % i, "unique", k, RUNS - k) for i, k in enumerate(UNIQUE)]
# trace: poll_loop loops 600+ times through a 511-entry trace; getpid has 13 PCs.
# unique: read has 51 unique PCs for a 38-entry trace; getpid fits.
SMALL = {"trace": ["--mode", "trace", "--words", "512"],
         "unique": ["--mode", "unique", "--words", "40", "--bitmap-words", "1"]}
HEAVY = {"trace": "poll_loop", "unique": "read"}


def simulate(srv, token):
    def one(i_spec):
        i, (name, mode, bad, good) = i_spec
        m = Machine(name, 0x200000 * (i + 1), {"standin_net": 0xFFFFFFFFC0010000,
                                              "standin_fs": 0xFFFFFFFFC0040000},
                    "%08x-0000-4000-8000-%012x" % (i, i))
        if bad:
            m.run([HEAVY[mode]], label="fleet", extra=SMALL[mode] + ["--repeat", str(bad),
                                                                      "--workload", HEAVY[mode]])
        if good:
            m.run(["getpid"], label="fleet", extra=SMALL[mode] + ["--repeat", str(good),
                                                                  "--workload", "getpid"])
        m.delivered(srv.url, token)
        m.cleanup()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, enumerate(FLEET)))


def median(xs):
    return statistics.median(sorted(xs))


def close(a, b):
    return abs(a - b) < 1e-9


def test_fleet_figures():
    srv = Server().start()
    simulate(srv, srv.token())
    j = srv.get("/api/v1/stats/overflow?group=machine&limit=1000")
    by = {g["machine"]: g for g in j["groups"]}
    check(len(by) == 24, "machines in groups: %d" % len(by))
    for name, mode, bad, good in FLEET:
        g = by[name]
        check(g["runs"] == RUNS and g["overflowed"] == bad and close(g["rate"], bad / RUNS),
              "%s: %s" % (name, g))
    rates = [bad / RUNS for _, _, bad, _ in FLEET]
    worst = [g["machine"] for g in j["groups"][:2]]
    check(worst == ["trace-00", "trace-01"], "not worst first: %s" % worst)
    f = j["fleet"]
    check(f["machines"] == 24, "fleet machines %s" % f["machines"])
    check(f["machines_overflow_ge_50pct"] == sum(r >= 0.5 for r in rates) == 5,
          "machines >= 50%%: %s" % f["machines_overflow_ge_50pct"])
    check(close(f["median_machine_rate"], median(rates)), "median %s vs %s" %
          (f["median_machine_rate"], median(rates)))
    t_runs, t_over = RUNS * len(TRACE), sum(TRACE)
    u_runs, u_over = RUNS * len(UNIQUE), sum(UNIQUE)
    check(f["trace"]["runs"] == t_runs and f["trace"]["overflowed"] == t_over, "trace totals")
    check(f["unique"]["runs"] == u_runs and f["unique"]["overflowed"] == u_over, "unique totals")
    check(close(f["rate"], (t_over + u_over) / (t_runs + u_runs)), "fleet rate")
    check(close(f["unique_vs_trace_reduction"], 1 - (u_over / u_runs) / (t_over / t_runs)),
          "reduction %s" % f["unique_vs_trace_reduction"])
    check(f["trace"]["machines"] == 16 and close(f["trace"]["median_machine_rate"],
                                                  median([k / RUNS for k in TRACE])),
          "trace machine figures: %s" % f["trace"])
    # By mode, by workload x mode, fill levels.
    modes = {g["mode"]: g for g in srv.get("/api/v1/stats/overflow?group=mode")["groups"]}
    check(modes["trace"]["overflowed"] == t_over and modes["unique"]["overflowed"] == u_over,
          "group=mode: %s" % modes)
    wm = {(g["workload"], g["mode"]): g
          for g in srv.get("/api/v1/stats/overflow?group=workload,mode")["groups"]}
    heavy = wm[("poll_loop", "trace")]
    check(heavy["runs"] == t_over == heavy["overflowed"] and heavy["fill_p50"] == 1.0, "poll_loop")
    light = wm[("getpid", "trace")]
    check(light["overflowed"] == 0 and light["fill_p99"] == 13 * 100 // 511 / 100,
          "getpid fill: %s" % light)
    check(wm[("read", "unique")]["fill_p50"] == 1.0, "read unique fill")
    # Over time: today holds everything; a window before today holds nothing.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    days = srv.get("/api/v1/stats/overflow?group=day,mode")["groups"]
    check({(g["day"], g["mode"]) for g in days} == {(today.isoformat(), "trace"),
                                                     (today.isoformat(), "unique")},
          "group=day,mode: %s" % days)
    past = srv.get("/api/v1/stats/overflow?group=machine&until=%s" %
                   (today - datetime.timedelta(days=1)).isoformat())
    check(past["groups"] == [] and past["fleet"]["machines"] == 0, "window before today")
    for bad in ("group=nope", "group=day,day", "since=2026-13-01", "limit=0"):
        status, _ = srv.request("GET", "/api/v1/stats/overflow?" + bad)
        check(status == 400, "%s: %d" % (bad, status))
    metrics = srv.request("GET", "/metrics")[1].decode()
    check('kcovd_runs_overflowed_total{mode="trace"} %d' % t_over in metrics, "metrics")
    srv.stop()


if __name__ == "__main__":
    run_tests([test_fleet_figures])
