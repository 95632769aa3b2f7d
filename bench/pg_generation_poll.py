"""What the readers' poll of the database's generation costs (issue 19,
docs/scale-out.md "Cache invalidation"): two kcovd nodes on one throw-away
PostgreSQL, test_coverage.py's miniature kernel imported through node A,
then node B's file query answered from its cache, back to back (at most
one generation SELECT per 100 ms) and 120 ms apart (one SELECT per
request). Prints the median and p90 latency and the polls /metrics counted.

  python3 bench/pg_generation_poll.py
      with the environment of ctest's it_test_pg (KCOVD, KC_MKFRAME,
      KC_FIX_SOURCE, ...: `ctest --show-only=json-v1 -R '^it_test_pg$'`)
"""
import json
import os
import re
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import kcovlib  # noqa: E402
import test_coverage as tc  # noqa: E402
from kcovlib import Server  # noqa: E402

root, src, vmlinux, mods, ko = tc.build_kernel()
tc.STATE.update(root=root)
url = kcovlib.pg_database()
a, b = Server(db=url).start(), Server(db=url).start()
push, admin = a.token("push", "p"), a.token("admin", "ops")
bid = re.search(r"Build ID: ([0-9a-f]+)", tc.sh(["readelf", "-n", vmlinux])).group(1)
mid = re.search(r"Build ID: ([0-9a-f]+)", tc.sh(["readelf", "-n", ko])).group(1)
frame = tc.mkframe("addrmap", tc.MACHINE, tc.BOOT, bid, "0x%x" % (tc.LINK + tc.KASLR),
                   "0x%x" % (tc.LINK + tc.KASLR + 0x100000), "0x%x" % tc.LINK, "module",
                   "minimod", mid, "0x%x" % tc.MOD_BASE, "0x%x" % tc.MOD_SIZE, "0x%x" % tc.MOD_TEXT)
a.post_frame("/api/v1/boots", frame, push)
pts = tc.oracle(vmlinux, ko, src)
tc.push_report(a, push, "suiteA", 1, [tc.pc_of(k) for k in sorted(pts)[:40]])
a.request("POST", "/api/v1/builds", json.dumps({"vmlinux": vmlinux, "modules": mods,
          "source": src}).encode(), {"Content-Type": "application/json"}, admin)
path = "/api/v1/builds/%s/files/kernel/alpha.c" % bid
polls = lambda: int(re.search(r"^kcovd_generation_polls_total (\d+)$",
                              b.request("GET", "/metrics")[1].decode(), re.M).group(1))
for _ in range(20):
    b.request("GET", path)
for name, n, gap in (("back to back", 1000, 0), ("120 ms apart", 100, 0.12)):
    p0, lat = polls(), []
    for _ in range(n):
        if gap:
            time.sleep(gap)
        t = time.perf_counter()
        st, _ = b.request("GET", path)
        lat.append((time.perf_counter() - t) * 1000)
        kcovlib.check(st == 200, "file query: %d" % st)
    lat.sort()
    print("%s: %d requests, %d polls, median %.2f ms, p90 %.2f ms"
          % (name, n, polls() - p0, statistics.median(lat), lat[int(n * 0.9)]), flush=True)
a.stop()
b.stop()
shutil.rmtree(root, ignore_errors=True)
