"""Latency of GET /api/v1/history (issue 20): REQUESTS sequential requests
per query, p50 and p99 (nearest rank), after a first request (its time is
printed as "first ms": the periods not cached yet, docs/performance.md 3d).

  python3 bench/history_latency.py --url URL [--token T] [--days 90]
      against a running kcovd (e.g. the query benchmark's database, kept
      with KC_BENCH_KEEP=1 bench/run --only query)
  python3 bench/history_latency.py
      on test_history.py's fixture (4 builds, 27 days), with the
      environment of ctest's it_test_history (KCOVD, KC_MKFRAME,
      KC_FIX_SOURCE, ...)
"""
import argparse
import os
import shutil
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))

REQUESTS = 50


def day_str(d):
    return time.strftime("%Y-%m-%d", time.gmtime(d * 86400))


def measure(url, token, path, step, since, until, n):
    q = "%s/api/v1/history?path=%s&step=%s&since=%s&until=%s" % (
        url, path, step, day_str(since), day_str(until))
    req = urllib.request.Request(q, headers={"Authorization": "Bearer " + token} if token else {})
    ts = []
    size = 0
    first = 0
    for i in range(n + 1):
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=600) as r:
            body = r.read()
        if i:  # the first request loads indexes and coverage: not counted
            ts.append(time.perf_counter() - t)
        else:
            first = time.perf_counter() - t
        size = len(body)
    ts.sort()
    p = lambda x: ts[min(len(ts) - 1, int(x * len(ts)))] * 1e3
    print("| %s | %s | %d | %.0f | %d | %.1f | %.1f | %.1f |" % (
        path or "(root)", step, until - since + 1, first * 1e3, n, p(0.5), p(0.99), size / 1024),
        flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--requests", type=int, default=REQUESTS)
    ap.add_argument("--path", default="")
    a = ap.parse_args()
    today = int(time.time()) // 86400
    print("| path | step | days | first ms | requests | p50 ms | p99 ms | answer KiB |")
    print("|---|---|---|---|---|---|---|---|")
    if a.url:
        for step in ("day", "week"):
            measure(a.url, a.token, a.path, step, today - a.days + 1, today, a.requests)
        return
    import test_history as th
    th.setup()
    try:
        url = th.STATE["srv"].url
        for path in ("", "kernel/sched.c"):
            for step in ("day", "week"):
                measure(url, None, path, step, today - a.days + 1, today, a.requests)
    finally:
        th.STATE["srv"].stop()
        shutil.rmtree(th.STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
