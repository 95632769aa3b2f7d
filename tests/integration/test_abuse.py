"""kcovd under abuse (issue 9): missing, forged and wrong-scope tokens,
oversized and chunked bodies, decompression bombs, malformed HTTP and huge
query strings, clients that trickle bytes or sit idle (the --timeout closes
them), 2000 idle connections at once, and path traversal against the static
files of --web-dir. Throughout, honest clients push reports and read; their
success rate must be 100%, nothing an abuser sent may be stored, and every
honest report must be there afterwards.

Figures are printed as "figure NAME VALUE" lines (docs/reliability.md).
"""
import http.client
import json
import os
import random
import resource
import selectors
import socket
import struct
import threading
import time
import zlib

from kcovlib import KERNEL, Server, check, run_tests, started, tmpdir
import wiregen


BUILD = KERNEL["build_id"]
TIMEOUT = 3  # kcovd --timeout for this test
SECRET = b"TOPSECRET-kcovd-abuse"


def figure(name, value):
    print("figure %s %s" % (name, value), flush=True)


def request(port, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def raw(port, data, timeout=15):
    """Send raw bytes, return everything the server answers until it closes
    (b"" when it closes without answering)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return out


def status_of(answer):
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer.split(b" ", 2)[1])


class Honest(threading.Thread):
    """An honest collector and reader: push a fresh report, list machines,
    check health, again and again. Every answer must be the right one."""

    def __init__(self, srv, token, machine):
        super().__init__(daemon=True)
        self.srv, self.token, self.machine = srv, token, machine
        self.boot = "%08x-1111-4000-8000-000000000001" % random.getrandbits(32)
        self.ok = 0
        self.failures = []
        self.acked = set()
        self.stop = threading.Event()

    def one(self, method, path, body=None, headers=None):
        try:
            status, data = request(self.srv.port, method, path, body, headers)
        except (OSError, http.client.HTTPException) as e:
            self.failures.append("%s %s: %s" % (method, path, e))
            return None
        if status != 200:
            self.failures.append("%s %s: %d %s" % (method, path, status, data[:200]))
            return None
        self.ok += 1
        return data

    def run(self):
        push = {"Content-Type": "application/x-kcov", "Authorization": "Bearer " + self.token}
        self.one("POST", "/api/v1/boots", wiregen.addrmap(self.machine, self.boot, BUILD), push)
        rng = random.Random()
        while not self.stop.is_set():
            uid, frame = wiregen.report(self.machine, self.boot,
                                        {rng.randrange(wiregen.TEXT_SIZE) for _ in range(20)})
            if self.one("POST", "/api/v1/reports", frame, push) is not None:
                self.acked.add(uid)
            self.one("GET", "/api/v1/machines")
            self.one("GET", "/healthz")

    @property
    def total(self):
        return self.ok + len(self.failures)


def wait_closed(socks, limit):
    """Wait until the server closed every socket (EOF or reset); returns the
    seconds each took, or fails after limit seconds."""
    sel = selectors.DefaultSelector()
    t0 = time.time()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    closed = {}
    while len(closed) < len(socks):
        left = t0 + limit - time.time()
        check(left > 0, "%d of %d connections still open after %ds"
              % (len(socks) - len(closed), len(socks), limit))
        for key, _ in sel.select(timeout=min(left, 1)):
            try:
                data = key.fileobj.recv(65536)
            except (ConnectionResetError, BlockingIOError):
                data = b"" if not isinstance(data, bytes) else b""
            if not data:
                closed[key.fileobj] = time.time() - t0
                sel.unregister(key.fileobj)
    sel.close()
    for s in socks:
        s.close()
    return list(closed.values())


def connect_many(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def setup():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    base = tmpdir("kcovd-abuse-")
    web = os.path.join(base, "web")
    os.makedirs(os.path.join(web, "static"))
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>kcovd</title>")
    with open(os.path.join(web, "static", "app.js"), "w") as f:
        f.write("console.log('ok');")
    with open(os.path.join(base, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink(os.path.join(base, "secret.txt"), os.path.join(web, "link.txt"))
    os.makedirs(os.path.join(base, "data"))
    srv = Server(data_dir=os.path.join(base, "data"),
                 extra=["--timeout", str(TIMEOUT), "--web-dir", web]).start()
    started(srv)
    return srv, web


def test_abuse_keeps_honest_clients_served():
    srv, web = setup()
    push, read, admin = srv.token("push"), srv.token("read"), srv.token("admin")
    honest = [Honest(srv, push, "honest-%d" % i) for i in range(3)]
    for h in honest:
        h.start()
    tried = {}

    def tally(kind):
        tried[kind] = tried.get(kind, 0) + 1

    abuser_boot = "0badbad0-0000-4000-8000-000000000000"
    uid, frame = wiregen.report("abuser", abuser_boot, {1, 2, 3})
    amap = wiregen.addrmap("abuser", abuser_boot, BUILD)
    kx = {"Content-Type": "application/x-kcov"}

    # 1. Tokens: none, malformed, forged, wrong scope, on every write route.
    bad_auth = [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer kc_zz",
                "Bearer kc_" + "0" * 16 + "." + "0" * 64, "Bearer " + push[:-1] + ("1" if push[-1] == "0" else "0"),
                "Bearer " + push + "x", "Bearer " + "A" * 8000, "Bearer " + read,
                "bearer " + read, "Bearer " + push.replace(".", "")]
    for auth in bad_auth:
        h = dict(kx)
        if auth is not None:
            h["Authorization"] = auth
        for path, body in (("/api/v1/reports", frame), ("/api/v1/boots", amap)):
            status, _ = request(srv.port, "POST", path, body, h)
            check(status == 401, "%s with %r: %d" % (path, (auth or "")[:40], status))
            tally("auth")
    for tok in (None, push, read):
        h = {"Content-Type": "application/json"}
        if tok:
            h["Authorization"] = "Bearer " + tok
        status, _ = request(srv.port, "POST", "/api/v1/builds", b"{}", h)
        check(status == 401, "build import with %s: %d" % (tok and tok[:8], status))
        tally("auth")

    # 2. Oversized bodies: announced (refused from the headers) and chunked.
    answer = raw(srv.port, b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Bearer " + push.encode() + b"\r\n"
                 b"Content-Type: application/x-kcov\r\nContent-Length: 34000000\r\n\r\n")
    check(status_of(answer) == 413, "announced 34 MB: %r" % answer[:100])
    tally("oversized")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              + push.encode() + b"\r\nContent-Type: application/x-kcov\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = os.urandom(1 << 20)
    for _ in range(34):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    answer = s.recv(4096)
    s.close()
    check(status_of(answer) == 413, "chunked 34 MiB: %r" % answer[:100])
    tally("oversized")

    # 3. Decompression bombs and lies in the frame header.
    def bomb(payload, declared=None, kind=1):
        z = zlib.compress(payload, 9)
        return b"KCOV" + struct.pack("<HHII", 1, kind, declared if declared is not None
                                     else len(payload), zlib.crc32(payload)) + z
    pushh = dict(kx, Authorization="Bearer " + push)
    bombs = [bomb(b"\0" * (64 << 20)), bomb(b"\0" * (16 << 20)), bomb(b"\0" * 1000, 64 << 20),
             bomb(b"\0" * (1 << 20), 1000), bomb(b"\0" * (16 << 20), kind=2),
             b"KCOV" + struct.pack("<HHII", 1, 1, 0xFFFFFFFF, 0) + b"x" * 100]
    for b in bombs:
        for path in ("/api/v1/reports", "/api/v1/boots"):
            status, body = request(srv.port, "POST", path, b, pushh)
            check(status == 400 and json.loads(body)["error"], "bomb on %s: %d" % (path, status))
            tally("bomb")

    # 4. Malformed HTTP and huge query strings.
    mal = [b"GARBAGE\r\n\r\n", b"\x00\x01\x02\xff" * 1000 + b"\r\n\r\n",
           b"GET / HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 200000
           + b"\r\n\r\n", b"GET /api/v1/reports?" + b"machine=" + b"A" * 300000 + b" HTTP/1.1\r\n"
           b"Host: x\r\n\r\n", b"GET /api/v1/reports?" + b"&".join(b"a%d=1" % i for i in range(20000))
           + b" HTTP/1.1\r\nHost: x\r\n\r\n",
           b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
           b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"]
    for m in mal:
        answer = raw(srv.port, m)
        st = status_of(answer)
        check(st is None or 400 <= st < 500 or st == 505, "malformed request answered %s" % st)
        tally("malformed")
    # Each gets an answer (never a closed connection) with the status
    # docs/reliability.md promises: a bad number is 400, a bad build id 400.
    for path, want in (("/api/v1/reports?limit=99999999999999999999", {400}),
                       ("/api/v1/reports?limit=-1", {400}),
                       ("/api/v1/reports?limit=5x", {400}),
                       ("/api/v1/reports?machine=%00", {200, 400}),
                       ("/api/v1/builds/" + "f" * 5000 + "/pcs", {400}),
                       ("/api/v1/reports?machine=" + "%41" * 5000, {200}),
                       ("/api/v1/machines?" + "x=%ff&" * 500, {200, 400})):
        st = status_of(raw(srv.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n"))
        check(st in want, "%s: answered %s, expected %s" % (path[:60], st, sorted(want)))
        tally("query")

    # 5. Slow clients: idle, trickling slower than the timeout, stuck bodies.
    idle = connect_many(srv.port, 50)
    slow_hdr = connect_many(srv.port, 20)
    for s in slow_hdr:
        s.sendall(b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\n")
    slow_body = connect_many(srv.port, 20)
    for s in slow_body:
        s.sendall(b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + push.encode() + b"\r\nContent-Type: application/x-kcov\r\n"
                  b"Content-Length: 1000\r\n\r\nKC")
    times = wait_closed(idle + slow_hdr + slow_body, TIMEOUT + 5)
    figure("abuse_slow_clients_closed_after_max_s", "%.1f" % max(times))
    tried["slow"] = 90
    # A client trickling bytes faster than the idle timeout never goes idle:
    # it keeps its socket (bounded by --max-connections), is served in the
    # end, and must not hurt anyone else.
    tricklers = connect_many(srv.port, 20)
    t0 = time.time()
    for s in tricklers:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    while time.time() - t0 < 2 * TIMEOUT:
        for s in tricklers:
            s.sendall(b"X")
        time.sleep(0.25)  # the trickle itself: a byte per 0.25 s, by design
    for s in tricklers:
        s.sendall(b"-Header: 1\r\n\r\n")
    for s in tricklers:
        s.settimeout(10)
        answer = s.recv(4096)
        check(status_of(answer) == 200, "a trickling client was not served: %r" % answer[:120])
        s.close()
    tried["trickle"] = 20

    # 6. Two thousand idle connections at once; then the timeout clears them.
    t0 = time.time()
    crowd = connect_many(srv.port, 2000)
    ok_before = sum(h.ok for h in honest)
    deadline = time.time() + 30
    while sum(h.ok for h in honest) < ok_before + 30:  # honest traffic while crowded
        check(time.time() < deadline, "honest clients starved by 2000 idle connections")
        time.sleep(0.05)
    times = wait_closed(crowd, TIMEOUT + 10 + (time.time() - t0))
    figure("abuse_idle_2000_closed_after_max_s", "%.1f" % max(times))
    tried["idle_connections"] = 2000

    # 7. Path traversal against --web-dir.
    status, body = request(srv.port, "GET", "/static/app.js")
    check(status == 200 and body == b"console.log('ok');", "static file: %d" % status)
    index = open(os.path.join(web, "index.html"), "rb").read()
    paths = ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/..%2fsecret.txt",
             "/%2e%2e%2fsecret.txt", "/static/../../secret.txt", "/static/%2e%2e/%2e%2e/secret.txt",
             "/..\\secret.txt", "/%5c..%5csecret.txt", "/..%5csecret.txt", "//etc/passwd",
             "/../../../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
             "/.%2e/.%2e/.%2e/etc/passwd", "/%252e%252e/secret.txt", "/index.html%00/../secret.txt",
             "/....//....//etc/passwd", "/link.txt", "/static/./../../secret.txt",
             "/%c0%ae%c0%ae/secret.txt", "/static/..;/../secret.txt", "/etc/passwd",
             "/" + "../" * 50 + "etc/passwd", "/.%00./secret.txt", "/%2e%2e%5c%2e%2e%5csecret.txt"]
    for p in paths:
        answer = raw(srv.port, b"GET " + p.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        st = status_of(answer)
        check(SECRET not in answer and b"root:x:0:0" not in answer and b"root:" not in answer,
              "%s leaked a file outside --web-dir" % p)
        check(st is None or st in (400, 403, 404, 414) or (st == 200 and answer.endswith(index)),
              "%s: HTTP %s" % (p, st))
        tally("traversal")

    # Honest clients were served throughout; nothing the abusers sent is stored.
    for h in honest:
        h.stop.set()
    for h in honest:
        h.join(60)
    total = sum(h.total for h in honest)
    ok = sum(h.ok for h in honest)
    fails = [f for h in honest for f in h.failures]
    figure("abuse_cases_tried", sum(tried.values()))
    figure("abuse_cases_by_kind", json.dumps(tried, sort_keys=True))
    figure("abuse_honest_requests", total)
    figure("abuse_honest_success_rate", "%.4f" % (ok / total if total else 0))
    check(total > 100, "too little honest traffic: %d" % total)
    check(not fails, "honest requests failed: %d of %d, e.g. %s" % (len(fails), total, fails[:3]))
    machines = {m["name"]: m for m in srv.get("/api/v1/machines")["machines"]}
    check("abuser" not in machines, "an unauthenticated push was stored")
    for h in honest:
        ids = {r["upload_id"] for r in srv.get("/api/v1/reports?machine=%s&limit=10000"
                                                % h.machine)["reports"]}
        check(ids == h.acked, "%s: %d acknowledged, %d stored" % (h.machine, len(h.acked), len(ids)))
    check(srv.proc.poll() is None, "kcovd died")
    srv.stop()


def mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        i = rng.randrange(len(b)) if b else 0
        if op == 0 and b:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[i] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif op == 2:
            b[i:i] = os.urandom(rng.randint(1, 16))
        elif op == 3 and len(b) > 1:
            del b[i:i + rng.randint(1, 16)]
        elif len(b) >= 4:
            b[i:i + 4] = struct.pack("<I", rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 4096, 65536]))
    return bytes(b)


def test_mutated_frames_over_http():
    """Mutated payloads of real REPORT and ADDRMAP frames, re-framed with a
    correct CRC so they reach the decoders, POSTed to a real kcovd whose
    database knows the boot: only 200, 400, 409 or 428 answers, never a 5xx,
    and the database stays consistent."""
    srv = Server().start()
    started(srv)
    tok = srv.token()
    rng = random.Random(int(os.environ.get("KC_MUTATE_SEED", "9")))
    boot = "12345678-0000-4000-8000-000000000009"
    amap = wiregen.addrmap("mutant", boot, BUILD)
    status, _ = request(srv.port, "POST", "/api/v1/boots", amap,
                        {"Content-Type": "application/x-kcov", "Authorization": "Bearer " + tok})
    check(status == 200, "address map: %d" % status)
    seeds = [(1, zlib.decompress(wiregen.report("mutant", boot, {rng.randrange(1 << 25)
                                                                  for _ in range(n)})[1][16:]))
             for n in (1, 50, 3000)] + [(2, zlib.decompress(amap[16:]))]
    # Names must be UTF-8 (they end up in JSON): refused with a message.
    for raw_name in (b"bad\xff\xfe", b"bad\xc0\xae", b"bad\xed\xa0\x80"):
        for kind, body in ((1, wiregen.report("mutantX", boot, {1})[1]), (2, amap)):
            payload = zlib.decompress(body[16:]).replace(b"\x07\0\0\0mutantX" if kind == 1
                                                         else b"\x06\0\0\0mutant",
                                                         struct.pack("<I", len(raw_name)) + raw_name)
            path = "/api/v1/reports" if kind == 1 else "/api/v1/boots"
            status, data = request(srv.port, "POST", path, wiregen.frame(kind, payload),
                                   {"Content-Type": "application/x-kcov",
                                    "Authorization": "Bearer " + tok})
            check(status == 400 and b"UTF-8" in data, "%r on %s: %d %s" % (raw_name, path, status,
                                                                          data[:100]))
    answers = {}
    n = int(os.environ.get("KC_MUTATE_N", "3000"))
    for i in range(n):
        kind, payload = seeds[i % len(seeds)]
        body = wiregen.frame(kind, mutate(rng, payload))
        path = "/api/v1/reports" if kind == 1 else "/api/v1/boots"
        status, data = request(srv.port, "POST", path, body,
                               {"Content-Type": "application/x-kcov",
                                "Authorization": "Bearer " + tok})
        answers[status] = answers.get(status, 0) + 1
        check(status in (200, 400, 409, 428), "mutant %d on %s: %d %s" % (i, path, status, data[:200]))
    figure("mutated_frames_posted", n)
    figure("mutated_frames_answers", json.dumps(answers, sort_keys=True))
    check(srv.get("/healthz")["status"] == "ok", "unhealthy after mutants")
    srv.kill()
    # SQLite only: PRAGMA integrity_check checks the file kcovd wrote; on
    # PostgreSQL the server owns its pages (and its own checks).
    if not srv.db:
        check(srv.query("PRAGMA integrity_check")[0][0] == "ok", "integrity_check")
    stored = srv.query("SELECT count(*) FROM reports")[0][0]
    counted = srv.query("SELECT coalesce(sum(reports), 0) FROM machines")[0][0]
    check(stored == counted, "reports stored %d, counted %d" % (stored, counted))


if __name__ == "__main__":
    run_tests([test_abuse_keeps_honest_clients_served, test_mutated_frames_over_http])
