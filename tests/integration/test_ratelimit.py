"""Rate limits (issue 22): one push token flooding gets 429 with Retry-After
and the stable code rate_limited while honest collectors with other tokens
keep being served; unauthenticated routes are limited per client address;
/metrics counts every refusal; kcov-collect waits out Retry-After and
delivers everything, even with --max-attempts 1."""
import http.client
import json
import subprocess
import threading
import time

from kcovlib import KCOVD, KERNEL, Machine, Server, check, run_tests
import wiregen

BUILD = KERNEL["build_id"]
BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}


def post(port, path, body, token):
    """(status, headers dict with lower-case names, body bytes)"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/x-kcov", "Authorization": "Bearer " + token})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no metric " + name)


def check_429(status, headers, body, what):
    check(status == 429, "%s: %d %s" % (what, status, body[:200]))
    j = json.loads(body)
    check(j["code"] == "rate_limited" and j["status"] == 429, "%s: body %s" % (what, j))
    ra = headers.get("retry-after", "")
    check(ra.isdigit() and int(ra) >= 1, "%s: Retry-After %r" % (what, ra))
    return int(ra)


class Pusher(threading.Thread):
    """Push fresh reports of one machine with one token, every `pause`
    seconds (0: as fast as it can), until stopped."""

    def __init__(self, srv, token, machine, pause):
        super().__init__(daemon=True)
        self.srv, self.token, self.machine, self.pause = srv, token, machine, pause
        self.boot = "%08x-2222-4000-8000-000000000002" % (hash(machine) & 0xFFFFFFFF)
        self.acked, self.limited, self.other = set(), 0, []
        self.stop = threading.Event()

    def run(self):
        while True:
            status, _, body = post(self.srv.port, "/api/v1/boots",
                                   wiregen.addrmap(self.machine, self.boot, BUILD), self.token)
            if status == 200:
                break
            if status != 429:
                self.other.append("boot map: %d %s" % (status, body[:200]))
                return
            time.sleep(0.2)
        i = 0
        while not self.stop.is_set():
            i += 1
            uid, frame = wiregen.report(self.machine, self.boot, {i % 4000, 7})
            status, headers, body = post(self.srv.port, "/api/v1/reports", frame, self.token)
            if status == 200:
                self.acked.add(uid)
            elif status == 429:
                try:
                    check_429(status, headers, body, "flood")
                except AssertionError as e:  # noqa: PERF203
                    self.other.append(str(e))
                self.limited += 1
            else:
                self.other.append("%d %s" % (status, body[:200]))
            if self.pause:
                time.sleep(self.pause)


def test_flooding_token_gets_429_honest_tokens_served():
    rate, burst, seconds = 20, 20, 4.0
    srv = Server(extra=["--rate-limit", str(rate), "--rate-burst", str(burst)]).start()
    flood_tok = srv.token("push", "flood")
    flooders = [Pusher(srv, flood_tok, "flood-vm", 0) for _ in range(4)]
    honest = [Pusher(srv, srv.token("push", "honest-%d" % i), "honest-%d" % i, 0.1)
              for i in range(3)]
    t0 = time.time()
    for p in flooders + honest:
        p.start()
    time.sleep(seconds)
    for p in flooders + honest:
        p.stop.set()
    for p in flooders + honest:
        p.join(30)
    elapsed = time.time() - t0
    limited = sum(p.limited for p in flooders)
    flood_ok = set().union(*(p.acked for p in flooders))
    for p in flooders + honest:
        check(not p.other, "unexpected answers: %s" % p.other[:3])
    honest_ok = sum(len(p.acked) for p in honest)
    honest_limited = sum(p.limited for p in honest)
    print("figure flood_acked %d flood_429 %d honest_acked %d honest_429 %d in %.1fs"
          % (len(flood_ok), limited, honest_ok, honest_limited, elapsed), flush=True)
    check(limited > 0, "the flooding token was never refused")
    # The bucket lets through at most burst + rate * elapsed (+1 boot map
    # per flooder thread, which takes from the same bucket).
    check(len(flood_ok) <= burst + rate * elapsed + 1,
          "flooder got %d reports through in %.1fs (rate %d, burst %d)"
          % (len(flood_ok), elapsed, rate, burst))
    check(honest_ok >= 30, "honest pushers barely ran: %d" % honest_ok)
    check(honest_limited * 100 <= (honest_ok + honest_limited) * 1,
          "honest success under 99%%: %d ok, %d refused" % (honest_ok, honest_limited))
    status, _, body = get(srv.port, "/metrics")
    check(status == 200, "metrics: %d" % status)
    text = body.decode()
    check(metric(text, 'kcovd_rate_limited_total{key="token"}') == limited + honest_limited,
          "metrics count %d, clients saw %d"
          % (metric(text, 'kcovd_rate_limited_total{key="token"}'), limited + honest_limited))
    check(metric(text, 'kcovd_rate_limited_total{key="address"}') == 0,
          "address limit hit under the defaults")
    # Everything acknowledged is stored; nothing refused is.
    stored = {r["upload_id"] for r in
              json.loads(get(srv.port, "/api/v1/reports?limit=10000")[2])["reports"]}
    acked = flood_ok.union(*(p.acked for p in honest))
    check(stored == acked, "stored %d reports, acknowledged %d" % (len(stored), len(acked)))
    srv.stop()


def test_address_limit_on_unauthenticated_routes():
    srv = Server(extra=["--addr-rate-limit", "2", "--addr-rate-burst", "5"]).start()
    answers = [get(srv.port, "/healthz") for _ in range(12)]
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] != 200]
    check(5 <= len(ok) <= 7, "healthz answered %d of 12 with a burst of 5" % len(ok))
    waits = [check_429(s, h, b, "healthz") for s, h, b in refused]
    check(refused and max(waits) <= 1, "Retry-After at 2/s: %s" % waits)
    time.sleep(max(waits) + 0.2)
    status, _, body = get(srv.port, "/metrics")
    check(status == 200, "metrics after waiting Retry-After: %d" % status)
    check(metric(body.decode(), 'kcovd_rate_limited_total{key="address"}') == len(refused),
          "address refusals not counted")
    # A token's bucket is its own: pushes are not charged to the address.
    tok = srv.token("push", "p")
    boot = "33333333-3333-4000-8000-000000000003"
    for i in range(10):
        status, _, body = post(srv.port, "/api/v1/boots", wiregen.addrmap("m", boot, BUILD), tok)
        check(status == 200, "push %d with a token under an exhausted address: %d %s"
              % (i, status, body[:200]))
    srv.stop()


def test_bad_tokens_charge_the_address():
    srv = Server(extra=["--addr-rate-limit", "1", "--addr-rate-burst", "4"]).start()
    _, frame = wiregen.report("m", "55555555-5555-4000-8000-000000000005", {1})
    answers = [post(srv.port, "/api/v1/reports", frame, "kc_" + "0" * 16 + "." + "0" * 64)
               for _ in range(10)]
    codes = [a[0] for a in answers]
    check(codes[:4] == [401] * 4 and set(codes[4:]) <= {401, 429} and codes.count(429) >= 4,
          "guessed tokens: %s" % codes)
    for s, h, b in answers:
        if s == 429:
            check_429(s, h, b, "guessed token")
    # A valid token has its own bucket, whatever its address did.
    tok = srv.token("push", "ok")
    status, _, body = post(srv.port, "/api/v1/boots",
                           wiregen.addrmap("m", "55555555-5555-4000-8000-000000000005", BUILD),
                           tok)
    check(status == 200, "valid token after the flood: %d %s" % (status, body[:200]))
    srv.stop()


def test_collector_honours_retry_after():
    srv = Server(extra=["--rate-limit", "2", "--rate-burst", "2"]).start()
    tok = srv.token("push", "ci")
    m = Machine("rl-vm", 0x1E000000, BASES, "44444444-0000-4000-8000-000000000004")
    for _ in range(6):
        m.run(["read"])
    n = len(m.reports())
    check(n == 6, "expected 6 spooled reports, have %d" % n)
    t0 = time.time()
    p = m.delivered(srv.url, tok, extra=["--max-attempts", "1"])
    took = time.time() - t0
    check("rate limited" in p.stderr and " 0 rate limited" not in p.stderr,
          "push was not rate limited: " + p.stderr[-300:])
    # 7 requests (a map and 6 reports) at 2/s with a burst of 2: >= 2.5 s.
    check(took >= 2.0, "push took %.1fs: Retry-After not waited" % took)
    status, _, body = get(srv.port, "/api/v1/reports?machine=rl-vm&limit=100")
    check(len(json.loads(body)["reports"]) == 6, "not every report stored: %s" % body[:300])
    srv.stop()
    m.cleanup()


def test_bad_flags():
    for args in (["--rate-burst", "0"], ["--rate-limit", "x"], ["--addr-rate-limit", "-1"]):
        p = subprocess.run([KCOVD, "serve"] + args, capture_output=True, text=True)
        check(p.returncode == 2 and args[0] in p.stderr, "%s: %d %s" % (args, p.returncode,
                                                                     p.stderr))


if __name__ == "__main__":
    run_tests([test_flooding_token_gets_429_honest_tokens_served,
               test_address_limit_on_unauthenticated_routes, test_bad_tokens_charge_the_address,
               test_collector_honours_retry_after, test_bad_flags])
