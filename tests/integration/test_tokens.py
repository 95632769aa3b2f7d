"""Tokens with a lifecycle: revocation seen at once by a running kcovd,
expiry, push tokens bound to machine names, `token list` with last use and
address, and the audit of admin actions (CLI and GET /api/v1/audit)."""
import json
import sqlite3
import subprocess

from kcovlib import KCOVD, Machine, Server, check, run_tests

BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}


def kcovd(srv, *args):
    return subprocess.run([KCOVD] + list(args) + ["--data-dir", srv.data_dir],
                          capture_output=True, text=True)


def token(srv, name, *args):
    p = kcovd(srv, "token", "add", name, *args)
    check(p.returncode == 0 and p.stdout.startswith("kc_"), "token add %s: %s" % (name, p.stderr))
    return p.stdout.strip()


def listed(srv):
    """token list as {name: row dict}."""
    p = kcovd(srv, "token", "list")
    check(p.returncode == 0, "token list: " + p.stderr)
    lines = [ln.split("\t") for ln in p.stdout.splitlines()]
    return {r[1]: dict(zip(lines[0], r)) for r in lines[1:]}


def audit_status(srv, tok):
    return srv.request("GET", "/api/v1/audit", token=tok)


def test_revoke_and_expire_on_a_running_server():
    srv = Server().start()
    admin = token(srv, "ops", "--scope", "admin")
    other = token(srv, "ops2", "--scope", "admin", "--expires", "30")
    check(audit_status(srv, admin)[0] == 200 and audit_status(srv, other)[0] == 200,
          "fresh admin tokens refused")
    p = kcovd(srv, "token", "revoke", "ops")
    check(p.returncode == 0 and "1 token(s) 'ops' revoked" in p.stderr, "revoke: " + p.stderr)
    status, body = audit_status(srv, admin)
    check(status == 401 and json.loads(body)["code"] == "unauthorized",
          "revoked token on the running server: %d %s" % (status, body))
    check(audit_status(srv, other)[0] == 200, "revoking ops touched ops2")
    p = kcovd(srv, "token", "revoke", "ops")
    check(p.returncode != 0 and "no live token" in p.stderr, "revoke twice: " + p.stderr)
    # Expiry: --expires 30 is stored as created + 30 days; move it into the
    # past, as 30 days passing would.
    row = listed(srv)["ops2"]
    check(row["EXPIRES"] != "-" and row["STATE"] == "live", "ops2 listed: %s" % row)
    db = sqlite3.connect(srv.data_dir + "/kcovd.db")
    with db:
        db.execute("UPDATE tokens SET expires = strftime('%s', 'now') - 1 WHERE name = 'ops2'")
    db.close()
    status, body = audit_status(srv, other)
    check(status == 401, "expired token: %d %s" % (status, body))
    check(listed(srv)["ops2"]["STATE"] == "expired", "ops2 not listed as expired")
    p = kcovd(srv, "token", "add", "x", "--expires", "0")
    check(p.returncode != 0 and "--expires" in p.stderr, "--expires 0: " + p.stderr)
    srv.stop()


def test_machine_bound_push_token_and_last_use():
    srv = Server().start()
    tok = token(srv, "ci", "--machines", "ci-vm-*")
    check(listed(srv)["ci"]["LAST_USED"] == "-", "unused token has a last use")
    own = Machine("ci-vm-3", 0x1E000000, BASES, "dddddddd-0000-4000-8000-00000000000d")
    own.run(["read", "close"])
    own.delivered(srv.url, tok)
    row = listed(srv)["ci"]
    check(row["LAST_USED"] != "-" and row["LAST_ADDRESS"] == "127.0.0.1"
          and row["MACHINES"] == "ci-vm-*" and row["SCOPE"] == "push",
          "token list after a push: %s" % row)
    stranger = Machine("build-box", 0x1E000000, BASES, "eeeeeeee-0000-4000-8000-00000000000e")
    stranger.run(["read"])
    p = stranger.push(srv.url, tok, extra=["--max-attempts", "1"])
    check(p.returncode != 0 and "HTTP 403" in p.stderr and '"forbidden"' in p.stderr
          and "ci-vm-*" in p.stderr and len(stranger.reports()) == 1,
          "push for another machine: %s" % p.stderr[-500:])
    machines = {m["name"] for m in srv.get("/api/v1/machines")["machines"]}
    check(machines == {"ci-vm-3"}, "machines stored: %s" % machines)
    p = kcovd(srv, "token", "add", "r", "--scope", "read", "--machines", "x*")
    check(p.returncode != 0 and "push tokens only" in p.stderr, "--machines on read: " + p.stderr)
    srv.stop()
    own.cleanup()
    stranger.cleanup()


def test_audit_cli_and_api():
    srv = Server().start()
    admin = token(srv, "root", "--scope", "admin")
    token(srv, "ci", "--machines", "ci-*", "--expires", "7")
    check(kcovd(srv, "token", "revoke", "ci").returncode == 0, "revoke ci")
    p = kcovd(srv, "audit")
    rows = [ln.split("\t") for ln in p.stdout.splitlines()]
    check(p.returncode == 0 and rows[0] == ["ID", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"],
          "kcovd audit: %s %s" % (p.stdout, p.stderr))
    got = [(r[2], r[3], r[4].split(" ")[0]) for r in rows[1:]]
    check(got == [("cli", "token.revoke", "ci"), ("cli", "token.add", "ci"),
                  ("cli", "token.add", "root")], "audit rows: %s" % got)
    check("scope=push expires_days=7 machines=ci-*" in rows[2][5], "add detail: %s" % rows[2])
    status, body = audit_status(srv, admin)
    api = json.loads(body)["audit"] if status == 200 else []
    check([(a["actor"], a["action"], a["target"].split(" ")[0]) for a in api] == got,
          "GET /api/v1/audit: %d %s" % (status, body))
    push = token(srv, "pusher")
    for tok in (None, push):
        status, body = audit_status(srv, tok)
        check(status == 401, "audit without admin: %d %s" % (status, body))
    status, body = srv.request("GET", "/api/v1/audit?limit=1", token=admin)
    check(status == 200 and len(json.loads(body)["audit"]) == 1, "limit=1: %s" % body)
    status, body = srv.request("GET", "/api/v1/audit?limit=0", token=admin)
    check(status == 400, "limit=0: %d" % status)
    srv.stop()


if __name__ == "__main__":
    run_tests([test_revoke_and_expire_on_a_running_server, test_machine_bound_push_token_and_last_use,
               test_audit_cli_and_api])
