"""Load the demo into a running kcovd (used by scripts/run.sh): a generated
kernel-like tree with two git revisions, both compiled with clang and
imported, and a fleet of 24 emulated test machines (the KCOV stand-in driven
by the real kcov-collect, trace and unique mode) that cover them under four
labels (scripts/demokernel.py says what and why). Everything is pushed and
imported through kcovd's API, so every figure comes from the production code.

Runs once per data directory: the marker DATA_DIR/demo/done says it ran.

Usage: python3 scripts/demo.py URL DATA_DIR   (environment as scripts/run.sh sets it)
"""
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "..", "tests", "integration"))

import demokernel  # noqa: E402
from kcovlib import Server  # noqa: E402


def main():
    url, data_dir = sys.argv[1], sys.argv[2]
    work = os.path.join(data_dir, "demo")
    if os.path.exists(os.path.join(work, "done")):
        print("demo: already loaded (remove %s to load it again into a new data directory)"
              % work, file=sys.stderr)
        return
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    srv = Server(data_dir=data_dir)
    srv.port = int(url.rsplit(":", 1)[1].strip("/"))
    t0 = time.time()
    revs = demokernel.import_revisions(srv, work)
    t1 = time.time()
    fleet = demokernel.run_fleet(srv, srv.token("push", "demo-collectors"), revs)
    t2 = time.time()
    with open(os.path.join(work, "done"), "w") as f:
        f.write("%s\n" % " ".join(r["build_id"] for r in revs))
    print("demo: %d machines, %d programs; build and import %.0f s, fleet %.0f s"
          % (len(fleet), sum(fleet.values()), t1 - t0, t2 - t1), file=sys.stderr)
    print("demo: the commits between the two revisions and their coverage: %s/changes?build=%s&base=%s"
          % (url.rstrip("/"), revs[-1]["build_id"], revs[0]["build_id"]), file=sys.stderr)


if __name__ == "__main__":
    main()
