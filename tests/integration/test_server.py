"""kcovd ingest end to end: reports made by the real kcov-collect over the
KCOV stand-in, pushed over HTTP to a real kcovd with a temporary database."""
import http.client
import json
import os
import socket
import struct
import subprocess
import time
import zlib

from kcovlib import (KCOVD, KERNEL, KERNEL_DESC, MKSYSROOT, Machine, Server, check, expected,
                     run_tests, tmpdir)

BUILD = KERNEL["build_id"]
BASES_A = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}
BASES_B = {"standin_net": 0xFFFFFFFFC0230000, "standin_fs": 0xFFFFFFFFC0120000}


def machine_a(name="vm-a"):
    return Machine(name, 0x1E000000, BASES_A, "aaaaaaaa-0000-4000-8000-00000000000a")


def machine_b(name="vm-b"):
    return Machine(name, 0x0A400000, BASES_B, "bbbbbbbb-0000-4000-8000-00000000000b")


def union(*maps):
    out = {}
    for m in maps:
        for k, v in m.items():
            out.setdefault(k, set()).update(v)
    return out


def pushed(srv, m, token):
    return m.delivered(srv.url, token)


def test_merge_and_kaslr():
    reps_t0 = int(time.time())
    srv = Server().start()
    tok = srv.token()
    a, b = machine_a(), machine_b()
    a.run(["read", "open"], label="ltp")
    b.run(["write", "sendmsg", "stat"], label="syzkaller")
    pa = pushed(srv, a, tok)
    check("1 map(s) sent" in pa.stderr, "address map not sent on 428: " + pa.stderr)
    pushed(srv, b, tok)
    got = srv.pcs(BUILD)
    want = union(expected(["read", "open"]), expected(["write", "sendmsg", "stat"]))
    for binary in want:
        check(got.get(binary) == want[binary],
              "%s: %d canonical PCs, expected %d" % (binary, len(got.get(binary, ())),
                                                     len(want[binary])))
    machines = {m["name"]: m for m in srv.get("/api/v1/machines")["machines"]}
    check(machines["vm-a"]["reports"] == 1 and machines["vm-a"]["unknown_pcs"] == 0,
          "vm-a: %s" % machines["vm-a"])
    check(machines["vm-b"]["releases"] == [KERNEL["release"]], "releases %s" % machines["vm-b"])
    builds = srv.get("/api/v1/builds")["builds"]
    check(len(builds) == 1 and builds[0]["machines"] == 2 and builds[0]["modules"] == 2,
          "builds: %s" % builds)
    check(builds[0]["covered_pcs"] == sum(len(v) for v in want.values()), "covered_pcs")
    labels = srv.get("/api/v1/labels")["labels"]
    check([(l["name"], l["reports"]) for l in labels] == [("ltp", 1), ("syzkaller", 1)] and
          all(l["last_report"] >= reps_t0 for l in labels), "labels: %s" % labels)
    reps = srv.get("/api/v1/reports?machine=vm-b&limit=5")["reports"]
    check(len(reps) == 1 and reps[0]["label"] == "syzkaller", "reports: %s" % reps)
    # Two boots with different KASLR and module bases, same workload, two
    # fresh servers: identical canonical coverage.
    s1, s2 = Server().start(), Server().start()
    a2, b2 = machine_a("k1"), machine_b("k2")
    a2.run(["open", "sendmsg", "stat"])
    b2.run(["open", "sendmsg", "stat"])
    pushed(s1, a2, s1.token())
    pushed(s2, b2, s2.token())
    check(s1.pcs(BUILD) == s2.pcs(BUILD) == expected(["open", "sendmsg", "stat"]),
          "canonical coverage differs between KASLR layouts")
    # Restart keeps everything.
    before = srv.pcs(BUILD)
    srv.stop()
    srv.start()
    check(srv.pcs(BUILD) == before, "coverage changed across a restart")
    check(len(srv.get("/api/v1/machines")["machines"]) == 2, "machines lost on restart")
    for s in (srv, s1, s2):
        s.stop()
    for m in (a, b, a2, b2):
        m.cleanup()


def test_duplicates_and_auth():
    srv = Server().start()
    push_tok, read_tok = srv.token("push"), srv.token("read")
    m = machine_a("dup")
    m.run(["read"])
    name = m.reports()[0]
    frame = open(os.path.join(m.spool, name), "rb").read()
    # Wrong and missing tokens: 401, the spool keeps the report.
    p = m.push(srv.url, read_tok)
    check(p.returncode != 0 and "401" in p.stderr and m.reports() == [name],
          "read token pushed: " + p.stderr)
    status, body = srv.post_frame("/api/v1/reports", frame, None)
    check(status == 401, "no token: %d" % status)
    status, _ = srv.post_frame("/api/v1/reports", frame, "kc_" + "0" * 16 + "." + "0" * 64)
    check(status == 401, "forged token: %d" % status)
    pushed(srv, m, push_tok)
    # The same upload again: acknowledged as duplicate, nothing double-counted.
    status, body = srv.post_frame("/api/v1/reports", frame, push_tok)
    j = json.loads(body)
    check(status == 200 and j["duplicate"] is True, "resend: %d %s" % (status, body))
    open(os.path.join(m.spool, name), "wb").write(frame)
    p = pushed(srv, m, push_tok)
    check("(1 duplicate)" in p.stderr, "collector did not see the duplicate: " + p.stderr)
    mach = srv.get("/api/v1/machines")["machines"][0]
    check(mach["reports"] == 1, "duplicate counted: %s" % mach)
    metrics = srv.request("GET", "/metrics")[1].decode()
    check("kcovd_reports_duplicate_total 2" in metrics, "metrics: duplicates")
    check('kcovd_reports_rejected_total{reason="auth"} 3' in metrics, "metrics: auth")
    # Reads can be made to need a token.
    srv.stop()
    srv.extra = ["--read-auth"]
    srv.start()
    status, _ = srv.request("GET", "/api/v1/machines")
    check(status == 401, "read without token under --read-auth: %d" % status)
    check(srv.get("/api/v1/machines", token=read_tok)["machines"][0]["name"] == "dup",
          "read token refused")
    srv.stop()
    m.cleanup()


def frame_of(payload, kind=1, declared=None):
    z = zlib.compress(payload)
    n = len(payload) if declared is None else declared
    return b"KCOV" + struct.pack("<HHII", 1, kind, n, zlib.crc32(payload)) + z


def test_bad_input_keeps_data():
    srv = Server().start()
    tok = srv.token()
    m = machine_a("bad")
    m.run(["read", "open"])
    frame = open(os.path.join(m.spool, m.reports()[0]), "rb").read()
    pushed(srv, m, tok)
    before = srv.pcs(BUILD)
    cases = {
        "truncated": (frame[: len(frame) // 2], 400),
        "garbage": (os.urandom(4096), 400),
        "bomb": (frame_of(b"\0" * (32 << 20)), 400),
        "lying length": (frame_of(b"\0" * 100000, declared=1000), 400),
        "inconsistent": (frame_of(b"\x02\0\0\0vm\x04\0\0\0boot" + b"\0" * 16 +
                                  b"\0\0\0\0\0\0\0\0" + b"\1" * 8 + b"\xff\xff\xff\xff"), 400),
    }
    for what, (body, want) in cases.items():
        status, answer = srv.post_frame("/api/v1/reports", body, tok)
        check(status == want, "%s: HTTP %d, expected %d: %s" % (what, status, want, answer[:200]))
        check(json.loads(answer).get("error"), "%s: no JSON error message" % what)
    # Oversized: refused from the headers alone, before the body is read.
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("POST", "/api/v1/reports")
    for k, v in (("Content-Type", "application/x-kcov"), ("Authorization", "Bearer " + tok),
                 ("Content-Length", str((32 << 20) + 1))):
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    check(resp.status == 413 and b"limit" in resp.read(), "oversized: %d" % resp.status)
    conn.close()
    status, _ = srv.post_frame("/api/v1/reports", frame, tok, ctype="text/plain")
    check(status == 415, "wrong content type: %d" % status)
    status, _ = srv.post_frame("/api/v1/boots", os.urandom(100), tok)
    check(status == 400, "garbage address map: %d" % status)
    status, _ = srv.request("GET", "/api/v1/nothing")
    check(status == 404, "unknown path: %d" % status)
    status, _ = srv.request("DELETE", "/api/v1/reports")
    check(status == 405, "DELETE: %d" % status)
    check(srv.pcs(BUILD) == before, "bad input changed the coverage")
    check(srv.get("/healthz")["status"] == "ok", "server unhealthy after bad input")
    # kcov-collect push with a report the server refuses as malformed: the
    # good report is delivered, the bad one moved to rejected/, and the exit
    # status says not everything was delivered.
    m.run(["stat"])
    good = m.reports()[0]
    bad = "r.%s.badbadbad.kcov" % good.split(".")[1]
    open(os.path.join(m.spool, bad), "wb").write(frame[: len(frame) // 2])
    p = m.push(srv.url, tok)
    rejected = os.listdir(os.path.join(m.spool, "rejected"))
    check(p.returncode == 125 and "1 report(s) refused by the server" in p.stderr and
          rejected == [bad] and m.reports() == [],
          "push with a malformed report: exit %d, rejected %s, left %s: %s"
          % (p.returncode, rejected, m.reports(), p.stderr))
    srv.stop()
    m.cleanup()


def json_error(status, body, want_status, want_code, what):
    """An error answer: the status, and the JSON body every error has."""
    check(status == want_status, "%s: HTTP %d, expected %d: %s" % (what, status, want_status,
                                                                  body[:200]))
    try:
        j = json.loads(body)
    except ValueError:
        raise AssertionError("%s: not JSON: %r" % (what, body[:200]))
    check(j.get("error") and j.get("code") == want_code and j.get("status") == want_status,
          "%s: error body %s, expected code %s" % (what, j, want_code))
    return j


def raw_exchange(port, head, body=b"", timeout=10):
    """Send the request head (and a little body), return (status, headers
    text, body bytes, seconds until the answer was complete)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.time()
    s.sendall(head + body)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            hdrs = data[:head_end].decode("latin-1")
            length = [int(l.split(":", 1)[1]) for l in hdrs.split("\r\n")
                      if l.lower().startswith("content-length:")]
            if length and len(data) >= head_end + 4 + length[0]:
                break
    elapsed = time.time() - t0
    s.close()
    head_end = data.find(b"\r\n\r\n")
    check(head_end > 0, "no answer: %r" % data[:200])
    hdrs = data[:head_end].decode("latin-1")
    return int(hdrs.split()[1]), hdrs, data[head_end + 4:], elapsed


def test_route_table_refusals():
    """Every request is checked against its route before its body is read;
    every refusal is a JSON error with a stable code."""
    srv = Server().start()
    admin = srv.token("admin")
    # No token, a declared 30 MiB body of which a few bytes are sent: 401 at
    # once, without waiting for (or reading) the rest.
    head = (b"POST /api/v1/builds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 31457280\r\n\r\n")
    st, _, body, took = raw_exchange(srv.port, head, b'{"vmli')
    json_error(st, body, 401, "unauthorized", "import without a token")
    check(took < 5, "the 401 took %.1f s: was the body awaited?" % took)
    # With the admin token: the declared size alone is refused (413), as is a
    # wrong Content-Type (415), before the body.
    auth = ("Authorization: Bearer %s\r\n" % admin).encode()
    st, _, body, took = raw_exchange(srv.port, head.replace(b"Host: x\r\n", b"Host: x\r\n" + auth),
                                     b'{"vmli')
    json_error(st, body, 413, "too_large", "import body of 30 MiB")
    check(took < 5, "the 413 took %.1f s" % took)
    st, body = srv.request("POST", "/api/v1/builds", b"{}", {"Content-Type": "text/plain"}, admin)
    json_error(st, body, 415, "unsupported_media_type", "import as text/plain")
    # Unknown paths: 404 whatever the method.
    for method in ("GET", "POST", "DELETE", "PUT"):
        st, body = srv.request(method, "/api/v1/nothing", b"" if method in ("POST", "PUT") else None)
        json_error(st, body, 404, "not_found", "%s /api/v1/nothing" % method)
    # Known paths, other methods: 405 with Allow.
    for method, path, allow in (("DELETE", "/api/v1/reports", {"GET", "HEAD", "POST"}),
                                ("PUT", "/api/v1/machines", {"GET", "HEAD"}),
                                ("GET", "/api/v1/boots", {"POST"}),
                                ("POST", "/healthz", {"GET", "HEAD"})):
        req = (method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n").encode()
        st, hdrs, body, _ = raw_exchange(srv.port, req)
        json_error(st, body, 405, "method_not_allowed", "%s %s" % (method, path))
        got = [l.split(":", 1)[1] for l in hdrs.split("\r\n") if l.lower().startswith("allow:")]
        check(got and {m.strip() for m in got[0].split(",")} == allow,
              "%s %s: Allow %s, expected %s" % (method, path, got, allow))
    # A 40 KB query string: 414 with JSON (not a closed connection).
    req = (b"GET /api/v1/reports?machine=" + b"A" * 40000 + b" HTTP/1.1\r\nHost: x\r\n"
           b"Connection: close\r\n\r\n")
    st, _, body, _ = raw_exchange(srv.port, req)
    json_error(st, body, 414, "uri_too_long", "40 KB query string")
    # 20 KB of headers: 431 with JSON.
    req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 +
           b"\r\nConnection: close\r\n\r\n")
    st, _, body, _ = raw_exchange(srv.port, req)
    json_error(st, body, 431, "headers_too_large", "20 KB of headers")
    # Error answers of other kinds and routes carry code and status too.
    for path, want, code in (("/api/v1/reports?limit=10x", 400, "bad_input"),
                             ("/api/v1/reports?limit=99999999999999999999", 400, "bad_input"),
                             ("/api/v1/reports?limit=0", 400, "bad_input"),
                             ("/api/v1/stats/overflow?limit=+5", 400, "bad_input"),
                             ("/api/v1/stats/overflow?group=nope", 400, "bad_input"),
                             ("/api/v1/builds/XYZ/pcs", 400, "bad_input"),
                             ("/api/v1/builds/%s/pcs" % ("ab" * 20), 404, "not_found"),
                             ("/api/v1/builds/%s/tree" % ("ab" * 20), 404, "not_found"),
                             ("/no-web-dir", 404, "not_found")):
        st, body = srv.request("GET", path)
        json_error(st, body, want, code, path)
    push = srv.token("push")
    st, body = srv.post_frame("/api/v1/reports", b"garbage", push)
    json_error(st, body, 400, "bad_input", "garbage report")
    st, body = srv.post_frame("/api/v1/reports", b"garbage", None)
    json_error(st, body, 401, "unauthorized", "report without a token")
    import wiregen
    _, frame = wiregen.report("nomap", "cccccccc-0000-4000-8000-00000000000c", {0x1000})
    st, body = srv.post_frame("/api/v1/reports", frame, push)
    j = json_error(st, body, 428, "address_map_needed", "report without a map")
    check(j["machine"] == "nomap", "428 fields: %s" % j)
    check(srv.get("/healthz")["status"] == "ok", "unhealthy after the refusals")
    srv.stop()


def test_strict_flags():
    """A malformed number on the command line is refused naming the flag;
    sizes take K/M/G/T suffixes."""
    for flag, value in (("--max-db-size", "10X"), ("--max-db-size", "10G5"),
                        ("--max-db-size", "1.5G"), ("--max-db-size", ""),
                        ("--max-connections", "12abc"), ("--timeout", "99999999999999999999"),
                        ("--cache-mb", "-1"), ("--patch-blame-files", "0"),
                        ("--patch-blame-files", "2x")):
        d = tmpdir("kcovd-flags-")
        p = subprocess.run([KCOVD, "serve", "--data-dir", d, "--listen", "127.0.0.1:0",
                            flag, value], capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and flag in p.stderr and "listening" not in p.stderr,
              "%s %r: exit %d: %s" % (flag, value, p.returncode, p.stderr))
    env = dict(os.environ, KCOVD_CACHE_MB="64M")
    p = subprocess.run([KCOVD, "serve", "--data-dir", tmpdir("kcovd-flags-")], env=env,
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "KCOVD_CACHE_MB" in p.stderr, "KCOVD_CACHE_MB=64M: " + p.stderr)
    # An empty --db is refused (SQLite would open a private temporary
    # database per connection); an empty KCOVD_DB is unset: the data dir's
    # file.
    p = subprocess.run([KCOVD, "serve", "--data-dir", tmpdir("kcovd-flags-"), "--listen",
                        "127.0.0.1:0", "--db", ""], capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "--db is empty" in p.stderr and "listening" not in p.stderr,
          "--db '': exit %d: %s" % (p.returncode, p.stderr))
    d = tmpdir("kcovd-flags-")
    p = subprocess.run([KCOVD, "token", "add", "t", "--scope", "push", "--data-dir", d],
                       env=dict(os.environ, KCOVD_DB=""), capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0 and os.path.exists(os.path.join(d, "kcovd.db")),
          "KCOVD_DB='': exit %d, %s: %s" % (p.returncode, os.listdir(d), p.stderr))
    srv = Server(extra=["--max-db-size", "10G"])
    if srv.db:
        # The cap is SQLite's (the data dir's file): PostgreSQL refuses it.
        p = subprocess.run([KCOVD, "serve", "--data-dir", srv.data_dir, "--listen",
                            "127.0.0.1:0"] + srv.extra, env=srv.env(), capture_output=True,
                           text=True, timeout=30)
        check(p.returncode != 0 and "SQLite files only" in p.stderr,
              "--max-db-size on PostgreSQL: exit %d: %s" % (p.returncode, p.stderr))
        return
    srv.start()
    check(srv.get("/healthz")["status"] == "ok", "--max-db-size 10G")
    srv.stop()


def test_report_survives_push_failure():
    srv = Server()
    m = machine_a("offline")
    # No server listening: the run succeeds, the report stays spooled.
    p = m.run(["read", "close"], server="http://127.0.0.1:9", token="x")
    check("stays spooled" in p.stderr and len(m.reports()) == 1, "run: " + p.stderr)
    p = m.push("http://127.0.0.1:9", "x", extra=["--max-attempts", "3"])
    check(p.returncode != 0 and "2 retries" in p.stderr and len(m.reports()) == 1,
          "push to a dead server: " + p.stderr)
    srv.start()
    pushed(srv, m, srv.token())
    check(srv.pcs(BUILD) == expected(["read", "close"]), "delivered coverage differs")
    check(srv.get("/api/v1/machines")["machines"][0]["reports"] == 1, "not delivered once")
    srv.stop()
    m.cleanup()


def test_module_loaded_after_first_capture():
    """A module loaded after the collector captured the boot's map (and the
    server received it) is picked up: the collector re-reads proc/modules,
    spools the new map and sends it before the next report; a module moved
    to another address later still lands on the same canonical offsets."""
    srv = Server().start()
    tok = srv.token()
    m = machine_a("late-mod")
    mods_path = os.path.join(m.sysroot, "proc", "modules")
    full = open(mods_path).read()
    check("standin_net" in full, "sysroot has no standin_net: " + full)
    with open(mods_path, "w") as f:
        f.write("".join(l + "\n" for l in full.splitlines() if not l.startswith("standin_net ")))
    m.run(["read", "open"])
    p = pushed(srv, m, tok)
    check("1 map(s) sent" in p.stderr, "first map: " + p.stderr)
    # standin_net is loaded now.
    with open(mods_path, "w") as f:
        f.write(full)
    m.run(["sendmsg"])
    check(os.path.exists(os.path.join(m.spool, "m.%s.unsent" % "aaaaaaaa-0000-4000-8000-00000000000a")),
          "changed map not marked unsent: %s" % os.listdir(m.spool))
    p = pushed(srv, m, tok)
    check("1 map(s) sent" in p.stderr, "changed map not sent again: " + p.stderr)
    check(not any(f.endswith(".unsent") for f in os.listdir(m.spool)), "unsent mark kept")
    want = expected(["read", "open", "sendmsg"])
    check(srv.pcs(BUILD) == want, "coverage with the late module: %s" % {
        k: len(v) for k, v in srv.pcs(BUILD).items()})
    mach = srv.get("/api/v1/machines")["machines"][0]
    check(mach["unknown_pcs"] == 0, "module PCs counted unknown: %s" % mach)
    # Unloaded and loaded again elsewhere (same boot): a new snapshot with
    # another standin_net base; the next run sends the moved map.
    moved = dict(BASES_A, standin_net=0xFFFFFFFFC0400000)
    subprocess.run([MKSYSROOT, KERNEL_DESC, m.sysroot, "--kaslr", hex(0x1E000000), "--boot-id",
                    "aaaaaaaa-0000-4000-8000-00000000000a"] +
                   [a for k, v in moved.items() for a in ("--module", "%s=%s" % (k, hex(v)))],
                   check=True)
    m.run(["sendmsg", "poll_loop"])
    p = pushed(srv, m, tok)
    check("1 map(s) sent" in p.stderr, "moved map not sent: " + p.stderr)
    check(srv.pcs(BUILD) == expected(["read", "open", "sendmsg", "poll_loop"]),
          "coverage after the module moved differs")
    check(srv.get("/api/v1/machines")["machines"][0]["unknown_pcs"] == 0, "unknown after move")
    # Unchanged modules: no map goes out again.
    m.run(["close"])
    p = pushed(srv, m, tok)
    check("0 map(s) sent" in p.stderr, "map sent without a change: " + p.stderr)
    srv.stop()
    m.cleanup()


def test_delta_rows_and_compaction():
    """Each report adding new bits stores only those bits; past the bound
    the rows of a union are folded back into one; restarts, duplicates and
    queries see the exact union throughout."""
    import wiregen
    srv = Server().start()
    tok = srv.token()
    boot = "dddddddd-0000-4000-8000-00000000000d"
    status, body = srv.post_frame("/api/v1/boots", wiregen.addrmap("delta", boot, BUILD), tok)
    check(status == 200, "map: %d %s" % (status, body))
    want = set()
    for i in range(80):
        offs = {0x1000 + 97 * i + k for k in range(5)} | {0x1000}  # 0x1000: always known
        want |= offs
        status, body = srv.post_frame("/api/v1/reports", wiregen.report("delta", boot, offs)[1], tok)
        check(status == 200, "report %d: %d %s" % (i, status, body))
        if i in (20, 50):
            srv.stop()
            srv.start()
        rows = srv.query("SELECT count(*) FROM coverage_total")[0][0]
        check(1 <= rows <= 32, "report %d: %d rows for one union" % (i, rows))
        if i % 10 == 9:
            check(srv.pcs(BUILD) == {"vmlinux": want}, "union after %d reports" % (i + 1))
    check(srv.get("/api/v1/builds")["builds"][0]["covered_pcs"] == len(want), "covered_pcs")
    srv.stop()


def test_schema_versions():
    srv = Server().start()
    srv.stop()
    # An old database (the newest migration not applied) is upgraded.
    newest = srv.query("SELECT max(version) FROM schema_version")[0][0]
    check(newest >= 4, "schema version %s" % newest)
    srv.query("DROP TABLE overflow_daily")
    srv.query("DELETE FROM schema_version WHERE version = 3")
    srv.start()
    h = srv.get("/healthz")
    check(h["schema_version"] == newest, "healthz schema version")
    check(h["database"] == ("postgresql" if srv.db else "sqlite") and
          h["database_status"] == "ok", "healthz database: %s" % h)
    check(srv.get("/api/v1/stats/overflow")["fleet"]["runs"] == 0, "upgraded table unusable")
    srv.stop()
    srv.query("INSERT INTO schema_version VALUES (999)")
    srv.proc = None
    try:
        srv.start()
        ok = False
    except Exception as e:  # noqa: BLE001
        ok = "schema version 999" in srv.log_text()
    check(ok, "a newer database was not refused: " + srv.log_text())


if __name__ == "__main__":
    run_tests([test_merge_and_kaslr, test_duplicates_and_auth, test_bad_input_keeps_data,
               test_route_table_refusals, test_strict_flags,
               test_report_survives_push_failure, test_module_loaded_after_first_capture,
               test_delta_rows_and_compaction,
               test_schema_versions])
