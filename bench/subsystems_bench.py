"""Subsystems of a build with ~2,000 MAINTAINERS subsystems (issue 20 item 4:
p99 < 50 ms), and what they cost in space.

Loads the run command's demo into a fresh kcovd (scripts/demo.py: 24
machines' coverage of two revisions of a kernel-like tree), then imports
the newest revision again with --source from a copy of its tree whose
MAINTAINERS has SECTIONS sections (default 2,000: each names 1-3 of the
tree's files or directories, every file in at least one, deterministic),
and times GET /api/v1/builds/B/subsystems: all days, with a label, and
merged with the older build. Space: the rows and pages (SQLite dbstat) of
the subsystem tables. Prints markdown rows.

Usage: python3 bench/subsystems_bench.py [--sections N] [--requests N]
(environment as tests/web/run.sh sets it: KCOVD, KCOV_COLLECT, STANDIN_*).
"""
import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tarfile
import io
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from kcovlib import Server, check  # noqa: E402


def maintainers(tree, sections, rng):
    files = sorted(os.path.relpath(os.path.join(d, f), tree)
                   for d, _, fs in os.walk(tree) for f in fs if f.endswith((".c", ".h")))
    dirs = sorted({os.path.dirname(f) + "/" for f in files if os.path.dirname(f)})
    out = []
    for i in range(sections):
        pats = rng.sample(files + dirs, rng.randint(1, 3))
        if i < len(files):  # every file in at least one section
            pats.append(files[i])
        out.append("SUBSYSTEM %04d\nM:\tNobody <nobody@example.org>\nS:\tMaintained\n%s\n"
                   % (i, "".join("F:\t%s\n" % p for p in sorted(set(pats)))))
    return "\n".join(out), len(files)


def cpu_ms(pid):
    """kcovd's user + system CPU so far, in ms."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(srv, path, n):
    """p50 and p99 latency, and kcovd's CPU per request, in ms."""
    ms = []
    c0 = cpu_ms(srv.proc.pid)
    for _ in range(n):
        t0 = time.perf_counter()
        srv.get(path)
        ms.append((time.perf_counter() - t0) * 1000)
    cpu = (cpu_ms(srv.proc.pid) - c0) / n
    ms.sort()
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=200)
    a = ap.parse_args()
    srv = Server().start()
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), srv.url,
                        srv.data_dir], stdout=sys.stderr)
    check(p.returncode == 0, "demo.py failed")
    builds = srv.get("/api/v1/builds")["builds"]
    new, old = builds[0], builds[1]
    repo = os.path.join(srv.data_dir, "demo", "linux")
    src = os.path.join(srv.data_dir, "bench-src")
    arch = subprocess.run(["git", "-C", repo, "archive", "HEAD"], capture_output=True,
                          check=True).stdout
    tarfile.open(fileobj=io.BytesIO(arch)).extractall(src)
    text, nfiles = maintainers(src, a.sections, random.Random(20))
    with open(os.path.join(src, "MAINTAINERS"), "w") as f:
        f.write(text)
    vml = os.path.join(srv.data_dir, "demo", "obj-1", "vmlinux")
    admin = srv.token("admin", "bench")
    status, body = srv.request("POST", "/api/v1/builds", json.dumps(
        {"vmlinux": vml, "modules": os.path.join(srv.data_dir, "demo", "obj-1"), "source": src}
    ).encode(), {"Content-Type": "application/json"}, admin)
    check(status == 200, "re-import with %d sections: %d %s" % (a.sections, status, body[:300]))
    b = new["build_id"]
    subs = srv.get("/api/v1/builds/%s/subsystems" % b)
    nsubs = len(subs["subsystems"])
    check(nsubs >= a.sections * 0.9, "only %d subsystems" % nsubs)
    print("| query (%d subsystems, %d files, %d requests) | p50 ms | p99 ms | kcovd CPU per request, ms |"
          % (nsubs, nfiles, a.requests))
    print("|---|---|---|---|")
    for what, q in (("all days", ""), ("label=syzkaller", "?label=syzkaller"),
                    ("merge= the older build", "?merge=" + old["build_id"])):
        timed(srv, "/api/v1/builds/%s/subsystems%s" % (b, q), 3)  # warm the caches
        p50, p99, cpu = timed(srv, "/api/v1/builds/%s/subsystems%s" % (b, q), a.requests)
        print("| subsystems, %s | %.2f | %.2f | %.2f |" % (what, p50, p99, cpu), flush=True)
    con = sqlite3.connect(os.path.join(srv.data_dir, "kcovd.db"))
    rows = con.execute("SELECT (SELECT count(*) FROM subsystems), "
                       "(SELECT count(*) FROM file_subsystems)").fetchone()
    try:
        pages = con.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN ('subsystems', "
                            "'file_subsystems', 'file_subsystems_file') OR name LIKE "
                            "'sqlite_autoindex_subsystems%'").fetchone()[0]
    except sqlite3.OperationalError:
        pages = None
    con.close()
    print("\nspace: %d subsystem rows, %d file-subsystem rows%s (both builds)"
          % (rows[0], rows[1], ", %d KiB of pages" % (pages // 1024) if pages else ""))
    srv.stop()


if __name__ == "__main__":
    main()
