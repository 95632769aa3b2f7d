"""Load demo data into a running kcovd (used by scripts/run.sh).

Three emulated test machines (the KCOV stand-in, each boot with its own
KASLR and module placement) run workloads with the real kcov-collect and
push them; then a miniature kernel with kernel-like directories is compiled
with clang, imported into kcovd (POST /api/v1/builds) and covered by two
more machines, so the browser report has files, lines and functions to show.
The same code loads the browser tests' data (tests/web/fixture.py).

Usage: python3 scripts/demo.py URL DATA_DIR   (environment as tests/web/run.sh sets it)
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "web"))

import fixture  # noqa: E402
from kcovlib import Server  # noqa: E402


def main():
    url, data_dir = sys.argv[1], sys.argv[2]
    srv = Server(data_dir=data_dir)
    srv.port = int(url.rsplit(":", 1)[1].strip("/"))
    token = srv.token("push", "demo-collectors")
    fixture.load_fleet(srv, token)
    work = os.path.join(data_dir, "demo-build")
    if os.path.isdir(work):
        print("demo: build already imported", file=sys.stderr)
        return
    os.makedirs(work)
    imp = fixture.import_build(srv, work)
    if imp:
        fixture.load_imported(srv, token, imp)
        print("demo: imported build %s (%d coverage points)" % (imp["build_id"], imp["sites"]),
              file=sys.stderr)


if __name__ == "__main__":
    main()
