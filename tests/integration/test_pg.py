"""kcovd on PostgreSQL end to end (issue 19): `kcovd serve` with KCOVD_DB
set to a libpq URL of a throw-away server (pgserver.py), real
kcov-collect pushes over HTTP, and the database read back with psql.

- ingest: every pushed report is stored once, a re-push is a duplicate,
  the stored coverage is what the machine ran;
- the PostgreSQL server stopped (pg_ctl stop -m fast) and started again
  while pushers run: kcovd keeps running, ingest answers 503 meanwhile
  (the collector keeps the reports), and afterwards every report is
  stored exactly once without restarting kcovd;
- three kcovd nodes on one database, pushers spread over them, one node
  SIGKILLed at random moments and restarted (KC_PG_KILLS times, default
  30; KC_PG_PUSHERS pushers, default 32, the bar of issue 19): every
  report stored exactly once, and every node answers the same coverage,
  the union of what the machines ran.
"""
import json
import os
import random
import re
import threading
import time

import kcovlib
from kcovlib import KERNEL, Machine, Server, check, expected, run_tests


def pg_count(sql):
    return int(kcovlib.pg_server().psql(sql).strip())


BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}


def machine(name, i):
    return Machine(name, 0x1E000000, BASES, "bbbbbbbb-0000-4000-8000-%012d" % i)


def test_ingest_and_duplicates():
    srv = Server(db=kcovlib.pg_database()).start()
    db = srv.db.rsplit("/", 1)[1]
    tok = srv.token()
    m = machine("pg-a", 1)
    try:
        m.run(["read", "write"])
        m.run(["open"])
        reps = m.reports()
        check(len(reps) == 2, "2 reports spooled: %s" % reps)
        m.delivered(srv.url, tok)
        pg = kcovlib.pg_server()
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        check(n == 2, "reports stored: %d, not 2" % n)
        # The same upload again (a collector that lost the answer): a
        # duplicate, nothing stored twice.
        m.run(["read"])
        name = m.reports()[0]
        data = open(os.path.join(m.spool, name), "rb").read()
        p = m.delivered(srv.url, tok)
        check(DELIVERED.search(p.stderr).groups() == ("1", "0"), p.stderr)
        with open(os.path.join(m.spool, name), "wb") as f:
            f.write(data)
        p = m.delivered(srv.url, tok)
        check(DELIVERED.search(p.stderr).groups() == ("1", "1"),
              "a re-sent upload is not a duplicate: " + p.stderr)
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        d = int(pg.psql_db(db, "SELECT count(DISTINCT upload_id) FROM reports").strip())
        check(n == 3 and d == 3, "after a re-push: %d rows, %d upload ids (want 3, 3)" % (n, d))
        # What the machine ran is the stored coverage.
        got = srv.pcs(KERNEL["build_id"])
        want = expected(["read", "write", "open"])
        check(got == want, "coverage on PostgreSQL %s, expected %s" % (got, want))
        h = srv.get("/healthz")
        check(h["status"] == "ok", "healthz: %s" % h)
    finally:
        srv.stop()
        m.cleanup()


DELIVERED = re.compile(r"delivered (\d+) report\(s\) \((\d+) duplicate\)")


def test_pg_restart_under_load():
    srv = Server(db=kcovlib.pg_database()).start()
    db = srv.db.rsplit("/", 1)[1]
    tok = srv.token()
    pg = kcovlib.pg_server()
    pid = srv.proc.pid
    stop = threading.Event()
    made = [0] * 4
    errors = []
    refused = [0]
    statuses = set()  # HTTP statuses the collector reported for failures
    machines = [machine("pg-load-%d" % i, 10 + i) for i in range(4)]

    def pusher(i):
        m = machines[i]
        try:
            while not stop.is_set():
                before = len(m.reports()) if os.path.isdir(m.spool) else 0
                m.run(["read"] if made[i] % 2 else ["write", "open"])
                check(len(m.reports()) == before + 1, "one report per run")
                made[i] += 1
                p = m.push(srv.url, tok)
                if p.returncode != 0:
                    refused[0] += 1
                statuses.update(re.findall(r"HTTP (\d{3})", p.stderr))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append("pusher %d: %s" % (i, e))

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        h = srv.get("/healthz")
        check(h["status"] == "ok" and h["database"] == "postgresql", "healthz: %s" % h)
        pg.stop_server()
        # /healthz reports the lost database (every call while it is down),
        # then recovers by itself once it is back.
        for _ in range(3):
            status, body = srv.request("GET", "/healthz")
            check(status == 503 and json.loads(body)["code"] == "database_unreachable",
                  "healthz with PostgreSQL down: %d %s" % (status, body[:200]))
        time.sleep(1.5)
        pg.start_server()
        deadline = time.time() + 20
        while srv.request("GET", "/healthz")[0] != 200:
            check(time.time() < deadline, "healthz did not recover after PostgreSQL came back")
            time.sleep(0.2)
        time.sleep(2)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        check(not errors, "; ".join(errors))
        check(srv.proc is not None and srv.proc.poll() is None and srv.proc.pid == pid,
              "kcovd did not keep running across the PostgreSQL restart")
        # Everything still spooled goes in now, without restarting kcovd.
        for m in machines:
            m.delivered(srv.url, tok)
        total = sum(made)
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        d = int(pg.psql_db(db, "SELECT count(DISTINCT upload_id) FROM reports").strip())
        print("figure pg restart: %d reports made by 4 pushers, %d stored, %d distinct, "
              "%d pushes refused while the server was down" % (total, n, d, refused[0]),
              flush=True)
        check(refused[0] > 0, "no push was refused while PostgreSQL was down")
        check(n == total and d == total,
              "stored %d rows / %d upload ids for %d reports made" % (n, d, total))
        check("503" in statuses and not any(st.startswith("5") and st != "503"
                                            for st in statuses),
              "ingest while PostgreSQL was down answered %s, not 503 only" % sorted(statuses))
    finally:
        stop.set()
        srv.stop()
        for m in machines:
            m.cleanup()


def test_three_nodes_sigkill():
    url = kcovlib.pg_database()
    db = url.rsplit("/", 1)[1]
    pg = kcovlib.pg_server()
    nodes = [Server(db=url).start() for _ in range(3)]
    tok = nodes[0].token()
    kills_wanted = int(os.environ.get("KC_PG_KILLS", "30"))
    npushers = int(os.environ.get("KC_PG_PUSHERS", "32"))
    stop = threading.Event()
    lock = threading.Lock()
    made = [0] * npushers
    errors = []
    kills = [0]
    machines = [machine("pg-node-%d" % i, 100 + i) for i in range(npushers)]
    runs = [["read"], ["write"], ["open"], ["read", "open"]]

    def pusher(i):
        m = machines[i]
        try:
            while not stop.is_set():
                before = len(m.reports()) if os.path.isdir(m.spool) else 0
                m.run(runs[made[i] % len(runs)])
                check(len(m.reports()) == before + 1, "one report per run")
                made[i] += 1
                with lock:
                    node = nodes[(i + made[i]) % 3]
                    u = node.url if node.proc is not None else None
                if u:
                    m.push(u, tok)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append("pusher %d: %s" % (i, e))

    threads = [threading.Thread(target=pusher, args=(i,)) for i in range(npushers)]
    rnd = random.Random(19)
    t0 = time.time()
    try:
        for t in threads:
            t.start()
        while kills[0] < kills_wanted and not errors:
            time.sleep(rnd.uniform(0.1, 0.5))
            victim = nodes[rnd.randrange(3)]
            with lock:
                victim.kill()
            kills[0] += 1
            victim.start()
        stop.set()
        for t in threads:
            t.join(timeout=120)
        check(not errors, "; ".join(errors))
        for m in machines:
            m.delivered(nodes[kills[0] % 3].url, tok)
        total = sum(made)
        n = int(pg.psql_db(db, "SELECT count(*) FROM reports").strip())
        d = int(pg.psql_db(db, "SELECT count(DISTINCT upload_id) FROM reports").strip())
        print("figure 3 nodes: %d SIGKILLs in %.0f s, %d pushers, %d reports made, %d stored, "
              "%d distinct upload ids" % (kills[0], time.time() - t0, npushers, total, n, d),
              flush=True)
        check(n == total and d == total,
              "stored %d rows / %d upload ids for %d reports made" % (n, d, total))
        want = expected(["read", "write", "open"])
        for k, node in enumerate(nodes):
            got = node.pcs(KERNEL["build_id"])
            check(got == want, "node %d answers %s, expected %s" % (k, got, want))
    finally:
        stop.set()
        for node in nodes:
            node.stop()
        for m in machines:
            m.cleanup()


if __name__ == "__main__":
    run_tests([test_ingest_and_duplicates, test_pg_restart_under_load, test_three_nodes_sigkill])
