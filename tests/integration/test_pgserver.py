"""The PostgreSQL test harness itself (pgserver.py, issue 19): the server
runs as the unprivileged user, listens on 127.0.0.1 on its port only,
keeps its data across pg_ctl stop/start, and leaves nothing behind when it
stops, when the test body fails, or in the shell form whatever the
command's exit status; a cluster whose harness was SIGKILLed is stopped and
removed by the next start."""
import os
import time
import socket
import subprocess
import sys

import pgserver
from kcovlib import check, run_tests

HERE = os.path.dirname(os.path.abspath(__file__))


def postmaster_pid(pg):
    return int(open(os.path.join(pg.data, "postmaster.pid")).readline())


def proc_uid(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def alive(pid):
    """Running (a zombie waiting for whichever process reaps orphans here
    is dead)."""
    try:
        stat = open("/proc/%d/stat" % pid).read()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def refuses(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


def test_server_lifecycle():
    pg = pgserver.PgServer().start()
    try:
        pid = postmaster_pid(pg)
        uid = proc_uid(pid)
        check(uid != 0, "postmaster runs as root")
        if os.geteuid() == 0:
            check(uid == pgserver.pwd.getpwnam(pgserver.PG_USER).pw_uid,
                  "postmaster does not run as %s (uid %d)" % (pgserver.PG_USER, uid))
        check(pg.psql("SELECT current_database()").strip() == pgserver.DB_NAME,
              "not connected to the test database")
        check(pg.psql("SHOW listen_addresses").strip() == "127.0.0.1", "listens beyond 127.0.0.1")
        check(pg.psql("SHOW synchronous_commit").strip() == "on", "synchronous_commit not on")
        pg.psql("CREATE TABLE t (v bigint); INSERT INTO t SELECT generate_series(1, 1000)")
        pg.stop_server()
        # pg_ctl returns once postmaster.pid is gone, which the postmaster
        # removes just before it exits: give the exit a moment.
        deadline = time.time() + 10
        while alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        check(not alive(pid), "postmaster %d still alive 10 s after pg_ctl stop" % pid)
        check(refuses(pg.port), "port %d still accepts after stop" % pg.port)
        pg.start_server()
        check(pg.psql("SELECT sum(v) FROM t").strip() == str(1000 * 1001 // 2),
              "rows lost across stop/start")
        pid = postmaster_pid(pg)
        d, port = pg.dir, pg.port
    finally:
        pg.stop()
    check(not os.path.exists(d), "cluster directory %s left behind" % d)
    check(not alive(pid), "postmaster %d survived stop()" % pid)
    check(refuses(port), "port %d still accepts after stop()" % port)


def test_cleanup_on_failure():
    seen = {}
    try:
        with pgserver.PgServer() as pg:
            seen["dir"], seen["pid"] = pg.dir, postmaster_pid(pg)
            raise RuntimeError("test body failed")
    except RuntimeError:
        pass
    check(seen and not os.path.exists(seen["dir"]), "cluster left after a failing body")
    check(not alive(seen["pid"]), "postmaster survived a failing body")


def test_shell_form():
    # The command sees the URL and the stop/start commands, and its exit
    # status (here 7, a failure) is the harness's; the cluster is removed.
    script = ('psql -X -Atc "CREATE TABLE u (x int); INSERT INTO u VALUES (41)" "$KC_PG_URL" '
              '&& eval "$KC_PG_STOP" >/dev/null && ! psql -X -Atc "SELECT 1" "$KC_PG_URL" '
              '2>/dev/null && eval "$KC_PG_START" >/dev/null && '
              'psql -X -Atc "SELECT x + 1 FROM u" "$KC_PG_URL" && echo "dir=$KC_PG_DIR"; exit 7')
    p = subprocess.run([sys.executable, os.path.join(HERE, "pgserver.py"), "run", "--",
                        "sh", "-c", script], capture_output=True, text=True, timeout=300)
    check(p.returncode == 7, "exit %d, not the command's 7: %s" % (p.returncode, p.stderr))
    lines = p.stdout.split()
    check("42" in lines, "the command did not read its row back after restart: %r" % p.stdout)
    d = [ln[4:] for ln in lines if ln.startswith("dir=")]
    check(d and d[0].startswith("/") and not os.path.exists(d[0]),
          "shell form left its cluster: %r" % p.stdout)


def test_orphan_swept():
    # A harness killed with SIGKILL leaves its cluster running; the next
    # start stops and removes it, and leaves a live harness's cluster alone.
    code = ("import sys, time; sys.path.insert(0, %r); import pgserver; "
            "pg = pgserver.PgServer().start(); print(pg.dir, flush=True); time.sleep(600)" % HERE)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        d = p.stdout.readline().strip()
        check(d and os.path.isdir(d), "the child made no cluster: %r" % d)
        pid = int(open(os.path.join(d, "data", "postmaster.pid")).readline())
        with pgserver.PgServer() as live:
            check(os.path.isdir(d), "a live harness's cluster was swept")
            p.kill()
            p.wait()
            check(alive(pid), "the postmaster died with its harness: nothing to sweep")
            with pgserver.PgServer() as pg:
                check(pg.dir != d and not os.path.exists(d), "orphan cluster %s left" % d)
                check(os.path.isdir(live.dir), "the live cluster was swept too")
        deadline = time.time() + 10
        while alive(pid) and time.time() < deadline:
            time.sleep(0.1)
        check(not alive(pid), "orphan postmaster %d still alive" % pid)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


if __name__ == "__main__":
    run_tests([test_server_lifecycle, test_cleanup_on_failure, test_shell_form,
               test_orphan_swept])
