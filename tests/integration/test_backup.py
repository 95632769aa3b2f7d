"""Backup and restore (issue 22): `kcovd backup FILE` while collectors push
to a running kcovd gives a copy that passes integrity_check and holds every
report acknowledged before the backup began; `kcovd restore FILE` (refused
while a kcovd serves, refused for a corrupt or foreign file without
touching the database) installs it, keeps the database it replaced, and the
restored kcovd serves exactly the backup's reports."""
import http.client
import os
import shutil
import sqlite3
import subprocess
import threading
import time

from kcovlib import KCOVD, Server, check, run_tests, tmpdir
import wiregen

BUILD = "cc33" * 5


def kcovd(data_dir, *args):
    return subprocess.run([KCOVD] + list(args) + ["--data-dir", data_dir],
                          capture_output=True, text=True)


class Pusher(threading.Thread):
    """Push fresh reports over one keep-alive connection until stopped;
    acked holds the upload ids answered 200, in order."""

    def __init__(self, srv, token, machine):
        super().__init__(daemon=True)
        self.srv, self.token, self.machine = srv, token, machine
        self.boot = "%08x-4444-4000-8000-000000000004" % (abs(hash(machine)) & 0xFFFFFFFF)
        self.acked, self.errors = [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        hdr = {"Content-Type": "application/x-kcov", "Authorization": "Bearer " + self.token}
        conn.request("POST", "/api/v1/boots", wiregen.addrmap(self.machine, self.boot, BUILD), hdr)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            self.errors.append("map %d" % r.status)
            return
        i = 0
        while not self.stop.is_set():
            i += 1
            uid, frame = wiregen.report(self.machine, self.boot, {i % 5000, 77})
            conn.request("POST", "/api/v1/reports", frame, hdr)
            r = conn.getresponse()
            body = r.read()
            if r.status == 200:
                with self.lock:
                    self.acked.append(uid)
            else:
                self.errors.append("%d %s" % (r.status, body[:200]))
        conn.close()

    def acked_now(self):
        with self.lock:
            return set(self.acked)


def uploads(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        check(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
              "%s fails integrity_check" % path)
        return {r[0] for r in con.execute("SELECT upload_id FROM reports")}
    finally:
        con.close()


def test_backup_under_ingest_and_restore():
    srv = Server().start()
    tok = srv.token("push", "p")
    out = tmpdir("kcovd-backup-")
    copy = os.path.join(out, "copy.db")
    pushers = [Pusher(srv, tok, "bk-%d" % i) for i in range(4)]
    for p in pushers:
        p.start()
    time.sleep(2)
    before = set().union(*(p.acked_now() for p in pushers))
    p = kcovd(srv.data_dir, "backup", copy)
    during = set().union(*(p_.acked_now() for p_ in pushers))
    time.sleep(1)
    for pu in pushers:
        pu.stop.set()
    for pu in pushers:
        pu.join(30)
    check(p.returncode == 0 and "integrity_check ok" in p.stderr,
          "backup: %d %s" % (p.returncode, p.stderr))
    for pu in pushers:
        check(not pu.errors, "pusher errors: %s" % pu.errors[:3])
    total = set().union(*(pu.acked_now() for pu in pushers))
    print("figure acked_before_backup %d acked_by_its_end %d acked_total %d"
          % (len(before), len(during), len(total)), flush=True)
    check(len(before) > 20 and len(total) > len(during), "too little ingest around the backup")
    in_copy = uploads(copy)
    check(before <= in_copy, "%d reports acknowledged before the backup are missing from it"
          % len(before - in_copy))
    check(in_copy <= total, "the backup holds reports nobody acknowledged")
    check(len(in_copy) < len(total), "the backup holds what came after it")
    p = kcovd(srv.data_dir, "backup", copy)
    check(p.returncode == 1 and "exists" in p.stderr, "backup over a file: %s" % p.stderr)
    # Restore: refused while serving.
    p = kcovd(srv.data_dir, "restore", copy)
    check(p.returncode == 1 and "in use" in p.stderr, "restore while serving: %s" % p.stderr)
    srv.stop()
    dbpath = os.path.join(srv.data_dir, "kcovd.db")
    check(uploads(dbpath) == total, "the server lost acknowledged reports")
    p = kcovd(srv.data_dir, "audit")
    check(p.returncode == 0 and p.stdout.count("\tbackup\t" + copy) == 1,
          "one audit row for the one backup made: " + p.stdout[:500])
    # Bad backups leave the database as it is.
    bad = os.path.join(out, "bad.db")
    shutil.copy(copy, bad)
    with open(bad, "r+b") as f:  # corrupt a page in the middle
        f.seek(os.path.getsize(bad) // 2)
        f.write(b"\xff" * 8192)
    garbage = os.path.join(out, "garbage.db")
    with open(garbage, "wb") as f:
        f.write(b"not a database at all" * 100)
    foreign = os.path.join(out, "foreign.db")
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    for f, why in ((bad, "integrity"), (garbage, "database"), (foreign, "not a kcovd")):
        p = kcovd(srv.data_dir, "restore", f)
        check(p.returncode == 1 and why in p.stderr, "restore %s: %d %s"
              % (os.path.basename(f), p.returncode, p.stderr))
    check(uploads(dbpath) == total, "a refused restore changed the database")
    p = kcovd(srv.data_dir, "restore", copy)
    check(p.returncode == 0 and "restored" in p.stderr, "restore: %s" % p.stderr)
    check(uploads(dbpath) == in_copy, "restored database differs from the backup")
    check(uploads(dbpath + ".pre-restore") == total, "the replaced database was not kept")
    srv.start()
    listed = {r["upload_id"] for r in srv.get("/api/v1/reports?limit=10000")["reports"]}
    check(listed == in_copy, "restored kcovd serves %d reports, the backup has %d"
          % (len(listed), len(in_copy)))
    srv.stop()
    p = kcovd(srv.data_dir, "audit")
    check(p.returncode == 0 and "\trestore\t" + copy in p.stdout, "audit: " + p.stdout[:500])
    p = kcovd(srv.data_dir, "backup")
    check(p.returncode == 1 and "one FILE" in p.stderr, "backup without FILE: " + p.stderr)
    # PostgreSQL is backed up with its own tools (docs/operations.md).
    pg = "postgresql://kcovd@127.0.0.1:1/kcovd"
    for cmd, tool in (("backup", "pg_dump"), ("restore", "pg_restore")):
        p = kcovd(srv.data_dir, cmd, os.path.join(out, "pg.db"), "--db", pg)
        check(p.returncode == 1 and tool in p.stderr, "%s on PostgreSQL: %s" % (cmd, p.stderr))
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_backup_under_ingest_and_restore])
