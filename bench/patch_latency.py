"""Latency of patch and commits on test_patch.py's fixture (issue 21): 50
requests each, median and worst. Run with the environment of ctest's
it_test_patch (KCOVD, KC_MKFRAME, KC_FIX_SOURCE, ...): see docs/api-coverage.md."""
import os, sys, time, shutil
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import test_patch as tp
tp.setup()
b0, b2, b4 = (tp.STATE["builds"][i] for i in (0, 2, 4))
try:
    for what, params in (("patch", {"base": b0["build_id"]}),
                         ("patch", {"base": b0["build_id"], "merge": b2["build_id"]}),
                         ("patch", {"base_rev": "main~4"}),
                         ("commits", {"base": b0["build_id"], "merge": b2["build_id"]})):
        ts = []
        for _ in range(50):
            t = time.perf_counter(); st, body = tp.api(b4, what, **params); ts.append(time.perf_counter() - t)
            assert st == 200
        ts.sort()
        print("%-8s %-40s median %.2f ms max %.2f ms" % (what, ",".join(params), ts[25]*1e3, ts[-1]*1e3))
finally:
    tp.STATE["srv"].stop() if hasattr(tp.STATE["srv"], "stop") else None
    shutil.rmtree(tp.STATE["root"], ignore_errors=True)
