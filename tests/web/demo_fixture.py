"""The browser walk's fixture (demo.mjs): a kcovd serving web/ with the run
command's demo loaded by scripts/demo.py, exactly as scripts/run.sh loads
it. Prints one JSON line {url, new, old} (the demo's two builds, newest
first), then serves until stdin closes; exits non-zero when kcovd failed
at shutdown (kcovlib's stop(): exit status, sanitizer report)."""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import kcovlib  # noqa: E402
from kcovlib import Server  # noqa: E402


def main():
    srv = Server(extra=["--web-dir", os.environ["WEB_DIR"]]).start()
    try:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), srv.url,
                            srv.data_dir], stdout=sys.stderr, timeout=900)
        if p.returncode != 0:
            sys.exit("demo.py failed (%d)" % p.returncode)
        builds = srv.get("/api/v1/builds")["builds"]
        print(json.dumps({"url": srv.url, "new": builds[0]["build_id"],
                          "old": builds[1]["build_id"]}), flush=True)
        sys.stdin.read()
    finally:
        try:
            srv.stop()
        except kcovlib.Failure as e:
            print("kcovd failed at shutdown: %s" % e, file=sys.stderr)
            sys.exit(1)
        finally:
            shutil.rmtree(srv.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
