"""Retention (issue 22): `kcovd gc`, `kcovd build delete` and `kcovd vacuum`
on the command line (refused while a kcovd serves the database), DELETE
/api/v1/builds/{build} on a running server, the periodic gc of `serve
--gc-keep-days`, each audited; what is not removed stays byte-identical and
the file shrinks. (All-time and per-label coverage of an imported build
across a gc: test_coverage.py, test_gc_keeps_all_time_and_label_coverage.)

Both backends (KC_DB_BACKEND=pg: it_pg_test_retention). SQLite only, said
where it is checked: the file lock against a serving kcovd (PostgreSQL has
none: nodes share the database), the file's size and auto_vacuum,
integrity_check, and `kcovd vacuum`, which PostgreSQL refuses (autovacuum
reclaims its space)."""
import http.client
import json
import os
import subprocess
import time

from kcovlib import KCOVD, Server, check, run_tests
import wiregen

OLD, KEEP = "aa11" * 5, "bb22" * 5  # build ids of two fleets


def kcovd(srv, *args):
    return subprocess.run([KCOVD] + list(args) + ["--data-dir", srv.data_dir],
                          capture_output=True, text=True, env=srv.env())


def push_many(srv, token, machine, boot, build, n, label):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    hdr = {"Content-Type": "application/x-kcov", "Authorization": "Bearer " + token}
    try:
        conn.request("POST", "/api/v1/boots", wiregen.addrmap(machine, boot, build), hdr)
        r = conn.getresponse()
        check(r.status == 200, "map: %d %s" % (r.status, r.read()))
        r.read()
        for i in range(n):
            _, frame = wiregen.report(machine, boot, {i % 3000, 3000 + i % 7, 9000},
                                      label="%s-%d" % (label, i % 5))
            conn.request("POST", "/api/v1/reports", frame, hdr)
            r = conn.getresponse()
            body = r.read()
            check(r.status == 200, "report %d: %d %s" % (i, r.status, body[:200]))
    finally:
        conn.close()


def db_size(srv):
    return os.path.getsize(os.path.join(srv.data_dir, "kcovd.db"))


def query(srv, sql, *args):
    return srv.query(sql, args)


def move_days_back(srv, days):
    """As if `days` days passed (kcovd stopped): every day and receipt."""
    srv.query("UPDATE coverage SET day = day - ? WHERE day >= 0", (days,))
    srv.query("UPDATE label_unions SET upto = upto - ?", (days,))
    srv.query("UPDATE label_files SET first_day = first_day - ?, last_day = last_day - ?",
              (days, days))
    srv.query("UPDATE reports SET received = received - ?", (days * 86400,))
    srv.query("UPDATE overflow_daily SET day = day - ?", (days,))


def test_gc_delete_vacuum():
    srv = Server().start()
    push, admin = srv.token("push", "p"), srv.token("admin", "ops")
    pg = srv.db is not None
    check(pg or query(srv, "PRAGMA auto_vacuum") == [(2,)], "a new database is not incremental")
    push_many(srv, push, "old-vm", "11111111-0000-4000-8000-000000000001", OLD, 1500, "old")
    push_many(srv, push, "keep-vm", "22222222-0000-4000-8000-000000000002", KEEP, 40, "keep")
    pcs_old = srv.request("GET", "/api/v1/builds/%s/pcs" % OLD)
    check(pcs_old[0] == 200, "pcs of the old build: %s" % (pcs_old,))
    # The command line does not touch a SQLite database a kcovd serves.
    for args in (["gc", "--keep-days", "1"], ["build", "delete", KEEP], ["vacuum"]):
        if pg:
            continue  # no file lock: gc and build delete run beside the nodes
        p = kcovd(srv, *args)
        check(p.returncode == 1 and "in use" in p.stderr, "%s while serving: %d %s"
              % (args, p.returncode, p.stderr))
    # DELETE /api/v1/builds/{build} on the running server.
    status, body = srv.request("DELETE", "/api/v1/builds/" + KEEP, token=push)
    check(status == 401, "delete with a push token: %d %s" % (status, body))
    status, body = srv.request("DELETE", "/api/v1/builds/" + KEEP, token=admin)
    check(status == 200, "delete: %d %s" % (status, body))
    res = json.loads(body)
    check(res["deleted"] == KEEP and res["boots"] == 1 and res["reports"] == 40 and
          res["binaries"] == 1 and res["coverage_rows"] >= 5, "delete answer %s" % res)
    status, body = srv.request("DELETE", "/api/v1/builds/" + KEEP, token=admin)
    check(status == 404 and json.loads(body)["code"] == "not_found", "delete twice: %d" % status)
    builds = {b["build_id"] for b in srv.get("/api/v1/builds")["builds"]}
    check(builds == {OLD}, "builds after delete: %s" % builds)
    check(srv.request("GET", "/api/v1/builds/%s/pcs" % OLD) == pcs_old,
          "the other build's coverage changed")
    # The deleted boot is unknown now: its machine is asked for its map again.
    _, frame = wiregen.report("keep-vm", "22222222-0000-4000-8000-000000000002", {5})
    status, body = srv.post_frame("/api/v1/reports", frame, push)
    check(status == 428, "report of a deleted boot: %d %s" % (status, body))
    srv.stop()
    check(query(srv, "SELECT count(*) FROM reports r JOIN boots b ON b.id = r.boot "
                     "JOIN builds d ON d.id = b.build WHERE d.build_id = ?", KEEP) == [(0,)],
          "reports of the deleted build left")

    # gc on the command line, ten days later.
    move_days_back(srv, 10)
    srv.start()
    overflow0 = {g: srv.get("/api/v1/stats/overflow?group=" + g) for g in ("machine", "label")}
    srv.stop()
    # Moving the rows made their days' unions of every label stale; the
    # start rebuilt them (schema 013, dayunion.h).
    check(query(srv, "SELECT count(*) FROM coverage_days WHERE nrows > 0 AND "
                     "union_stamp <> stamp") == [(0,)] and
          query(srv, "SELECT count(*) FROM coverage_day_unions")[0][0] >= 1,
          "day unions after the move: %s" % query(srv, "SELECT day, union_stamp, stamp "
                                                     "FROM coverage_days"))
    size0 = 0 if pg else db_size(srv)
    p = kcovd(srv, "gc")
    check(p.returncode == 1 and "--keep-days" in p.stderr, "gc without --keep-days: " + p.stderr)
    p = kcovd(srv, "gc", "--keep-days", "3")
    check(p.returncode == 0 and "1500 reports" in p.stderr, "gc: %d %s" % (p.returncode, p.stderr))
    if not pg:
        size1 = db_size(srv)
        print("figure db_bytes_before_gc %d after_gc %d" % (size0, size1), flush=True)
        check(size1 < size0, "gc did not shrink the file: %d -> %d" % (size0, size1))
        check(query(srv, "PRAGMA integrity_check") == [("ok",)], "integrity after gc")
    check(query(srv, "SELECT count(*) FROM reports") == [(0,)], "reports left after gc")
    check(query(srv, "SELECT count(*) FROM coverage WHERE day >= 0") == [(0,)] and
          query(srv, "SELECT count(*) FROM coverage_day_unions") == [(0,)],
          "per-day rows or day unions left after gc: %s" % query(
              srv, "SELECT \"binary\", day, seq FROM coverage_day_unions"))
    # Overflow rows of the removed days live on as their month's rollup.
    left = [time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
            for (d,) in query(srv, "SELECT DISTINCT day FROM overflow_daily")]
    check(left and all(d.endswith("-01") for d in left), "overflow days after gc: %s" % left)
    p = kcovd(srv, "vacuum")
    if pg:
        check(p.returncode == 1 and "autovacuum" in p.stderr, "vacuum on PostgreSQL: " + p.stderr)
    else:
        check(p.returncode == 0 and "pages freed" in p.stderr, "vacuum: %s" % p.stderr)
    srv.start()
    check(srv.request("GET", "/api/v1/builds/%s/pcs" % OLD) == pcs_old,
          "gc changed the all-time coverage")
    for g, want in overflow0.items():
        got = srv.get("/api/v1/stats/overflow?group=" + g)
        check(got == want, "gc changed the all-time overflow statistics by %s" % g)
    srv.stop()
    p = kcovd(srv, "build", "delete", OLD)
    check(p.returncode == 0 and "1 boots" in p.stderr, "build delete: %s" % p.stderr)
    p = kcovd(srv, "build", "delete", OLD)
    check(p.returncode == 1 and "no build" in p.stderr, "build delete twice: %s" % p.stderr)
    p = kcovd(srv, "build", "remove", OLD)
    check(p.returncode == 1 and "delete BUILD_ID" in p.stderr, "build remove: %s" % p.stderr)
    check(query(srv, "SELECT count(*) FROM coverage") == [(0,)] and
          query(srv, "SELECT count(*) FROM binaries") == [(0,)], "build delete left rows")
    p = kcovd(srv, "audit")
    rows = [ln.split("\t") for ln in p.stdout.splitlines()[1:]]
    want = [("cli", "build.delete", OLD), ("cli", "vacuum", os.path.join(
        srv.data_dir, "kcovd.db")), ("cli", "gc", "keep 3 days"),
        ("token ops", "build.delete", KEEP)]
    if pg:
        del want[1]
    got = [(r[2].split(" (")[0], r[3], r[4]) for r in rows[:len(want)]]
    check(got == want, "audit: %s" % got)


def test_serve_runs_gc_periodically():
    srv = Server().start()
    push = srv.token("push", "p")
    push_many(srv, push, "vm", "33333333-0000-4000-8000-000000000003", OLD, 20, "x")
    srv.stop()
    move_days_back(srv, 5)
    srv.extra = ["--gc-keep-days", "2", "--gc-interval", "1"]
    srv.start()
    push_many(srv, push, "vm", "33333333-0000-4000-8000-000000000003", OLD, 3, "y")
    deadline = time.time() + 20
    while "gc kept 2 days" not in srv.log_text() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # a run after the fresh reports, which it keeps
    srv.stop()
    log = srv.log_text()
    check("20 reports" in log, "periodic gc did not remove the old reports: " + log[-800:])
    check(query(srv, "SELECT count(*) FROM reports") == [(3,)], "reports kept by the gc")
    acts = query(srv, "SELECT actor, action FROM audit WHERE action = 'gc'")
    check(acts and all(a == ("serve --gc-keep-days", "gc") for a in acts), "audit %s" % acts)


if __name__ == "__main__":
    run_tests([test_gc_delete_vacuum, test_serve_runs_gc_periodically])
