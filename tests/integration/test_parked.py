"""Parked ingest requests (server/api/api_ingest.c): a report waiting for
its group commit holds no HTTP worker thread. The writer is held up by a
write transaction of another SQLite connection on the same database (the
writer's BEGIN IMMEDIATE waits in its busy timeout), so every report pushed
meanwhile stays parked:

- more concurrent pushes than kcovd has worker threads (KC_HTTP_THREADS,
  32) are all parked at once, a GET is still answered while they wait,
  and once the writer can go on they share one or two commits and are
  all acknowledged and stored;
- SIGTERM while they are parked: kcovd lets them finish before it exits
  (exit status 0), every acknowledged report is in the database after
  the restart, and a report whose request failed is sent again, as the
  collector does, and stored exactly once."""
import http.client
import os
import re
import signal
import sqlite3
import threading
import time

import wiregen
from kcovlib import KERNEL, Server, check, run_tests

BUILD = KERNEL["build_id"]
THREADS = 32    # KC_HTTP_THREADS in server/http/server.h
PUSHES = 96     # three times as many
BOOT = "eeeeeeee-0000-4000-8000-00000000000e"


def metric(srv, name):
    status, body = srv.request("GET", "/metrics")
    check(status == 200, "metrics: %d" % status)
    m = re.search(r"^%s (\S+)$" % name, body.decode(), re.M)
    check(m is not None, "no metric %s" % name)
    return float(m.group(1))


def setup(srv):
    tok = srv.token()
    status, body = srv.post_frame("/api/v1/boots", wiregen.addrmap("parked", BOOT, BUILD), tok)
    check(status == 200, "map: %d %s" % (status, body))
    frames = [wiregen.report("parked", BOOT, {0x1000 + 16 * i, 0x200000 + i}, label="parked")
              for i in range(PUSHES)]
    return tok, frames


def push_all(srv, tok, frames):
    """Start one thread per frame, each POSTing it on its own connection.
    Returns (threads, results): results[i] = HTTP status, or the exception."""
    results = [None] * len(frames)

    def one(i):
        try:
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
            c.request("POST", "/api/v1/reports", frames[i][1],
                      {"Authorization": "Bearer " + tok,
                       "Content-Type": "application/x-kcov"})
            r = c.getresponse()
            r.read()
            results[i] = r.status
            c.close()
        except Exception as e:  # a failed request: the collector would retry
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(frames))]
    for t in threads:
        t.start()
    return threads, results


def hold_writer(srv):
    """Another connection's write transaction: kcovd's writer waits."""
    con = sqlite3.connect(os.path.join(srv.data_dir, "kcovd.db"), isolation_level=None,
                          timeout=30)
    con.execute("BEGIN IMMEDIATE")
    return con


def wait_parked(srv, results, n):
    """Until at least twice as many jobs as worker threads are queued
    behind the held writer's batch (which took the first few), with no
    answer yet, then on until n - 8 are or the time is up (a loaded
    machine starts 96 client threads slowly; the writer's busy timeout is
    10 s). Returns how many were queued."""
    deadline = time.time() + 7
    while True:
        q = metric(srv, "kcovd_queue_depth")
        if q >= n - 8 or (q >= 2 * THREADS and time.time() >= deadline):
            break
        check(time.time() < deadline, "only %d reports queued (%d worker threads): %s" % (
            q, THREADS, [r for r in results if r is not None][:5]))
        time.sleep(0.05)
    check(all(r is None for r in results), "answered before the commit: %s" %
          [r for r in results if r is not None][:5])
    return q


def stored(srv):
    con = sqlite3.connect(os.path.join(srv.data_dir, "kcovd.db"), timeout=30)
    try:
        return {r[0] for r in con.execute("SELECT upload_id FROM reports")}
    finally:
        con.close()


def test_more_pushes_than_threads():
    srv = Server().start()
    tok, frames = setup(srv)
    commits, jobs = metric(srv, "kcovd_commits_total"), metric(srv, "kcovd_committed_jobs_total")
    con = hold_writer(srv)
    threads, results = push_all(srv, tok, frames)
    try:
        queued = wait_parked(srv, results, PUSHES)
        # Every worker thread would be taken if parked requests held one.
        t0 = time.time()
        status, _ = srv.request("GET", "/healthz")
        check(status == 200 and time.time() - t0 < 2,
              "GET while %d reports are parked: %d after %.2f s" % (PUSHES, status,
                                                                    time.time() - t0))
    finally:
        con.rollback()
        con.close()
    for t in threads:
        t.join(60)
    check(results == [200] * PUSHES, "statuses: %s" % sorted(set(map(str, results))))
    check(metric(srv, "kcovd_committed_jobs_total") - jobs == PUSHES, "jobs")
    # The queued reports go in one commit after the first batch's; those
    # that were not queued yet when the writer was released may each take
    # one more.
    ncommits = metric(srv, "kcovd_commits_total") - commits
    check(ncommits <= 3 + (PUSHES - 8 - queued if queued < PUSHES - 8 else 0),
          "%d reports (%d queued) took %d commits (%d threads)" % (PUSHES, queued, ncommits,
                                                                  THREADS))
    srv.stop()
    check(stored(srv) >= {uid for uid, _ in frames}, "reports lost")


def test_sigterm_while_parked():
    srv = Server().start()
    tok, frames = setup(srv)
    con = hold_writer(srv)
    threads, results = push_all(srv, tok, frames)
    try:
        wait_parked(srv, results, PUSHES)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        check(srv.proc.poll() is None, "kcovd exited with reports parked")
    finally:
        con.rollback()
        con.close()
    for t in threads:
        t.join(60)
    srv.stop()  # exit status 0, no sanitizer report
    acked = {frames[i][0] for i in range(PUSHES) if results[i] == 200}
    have = stored(srv)
    check(acked <= have, "%d acknowledged reports lost" % len(acked - have))
    # Whatever failed is sent again after the restart, as the collector
    # does with its spool; each report is then stored exactly once.
    srv.start()
    again = [frames[i] for i in range(PUSHES) if results[i] != 200]
    for uid, frame in again + frames[:3]:
        status, body = srv.post_frame("/api/v1/reports", frame, tok)
        check(status == 200, "resend %s: %d %s" % (uid, status, body))
    srv.stop()
    con = sqlite3.connect(os.path.join(srv.data_dir, "kcovd.db"))
    n = con.execute("SELECT count(*), count(DISTINCT upload_id) FROM reports").fetchone()
    con.close()
    check(n == (PUSHES, PUSHES), "reports stored (rows, distinct): %s, %d resent" %
          (n, len(again)))
    check(stored(srv) == {uid for uid, _ in frames}, "stored upload ids")


if __name__ == "__main__":
    run_tests([test_more_pushes_than_threads, test_sigterm_while_parked])
