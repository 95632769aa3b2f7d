"""Wire v2 end to end: kcovd advertises the report versions it accepts
(X-Kcov-Wire), kcov-collect push sends its spooled v1 reports as v2 to a
server that accepts v2 and as v1 to one started with --wire-max 1, and both
paths store the same canonical coverage. A v1-only server refuses a v2
frame with a clear 400; a report re-sent in the other version is still a
duplicate (same upload id); and a server that advertises v2 but refuses it
still gets every report, as the spooled v1 bytes."""
import http.client
import http.server
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request

import wiregen
from kcovlib import (KERNEL, Failure, Machine, Server, check, expected, run_tests, started)

KASLR = 0x1E000000
BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}
BOOT = "3d6f1c2a-0000-4000-8000-0000000000a2"
BUILD = KERNEL["build_id"]
WORK = [["read", "write", "open"], ["close", "stat", "mmap"], ["sendmsg", "getpid", "read"]]


def wire_header(srv, path="/healthz"):
    try:
        with urllib.request.urlopen(srv.url + path, timeout=30) as r:
            return r.headers.get("X-Kcov-Wire")
    except urllib.error.HTTPError as e:  # error answers carry the header too
        return e.headers.get("X-Kcov-Wire")


def stored_by_version(srv):
    status, body = srv.request("GET", "/metrics")
    check(status == 200, "metrics: %d" % status)
    got = dict(re.findall(r'kcovd_reports_wire_total\{version="(\d)"\} (\d+)', body.decode()))
    check(set(got) == {"1", "2"}, "no per-version counters in /metrics: %s" % got)
    return {int(k): int(v) for k, v in got.items()}


def sent_as_v2(push):
    m = re.search(r"(\d+) sent as wire v2", push.stderr)
    check(m is not None, "push does not say how many went as v2: " + push.stderr)
    return int(m.group(1))


def test_v1_and_v2_paths_store_the_same_coverage():
    m = Machine("wire", KASLR, BASES, BOOT)
    for w in WORK:
        m.run(w)
    spooled = m.reports()
    check(len(spooled) == len(WORK), "spool: %s" % spooled)
    # The same spool, pushed to a v1-only server, from a copy.
    copy = m.spool + "-copy"
    shutil.copytree(m.spool, copy)
    srv2 = started(Server().start())
    srv1 = started(Server(extra=["--wire-max", "1"]).start())
    check(wire_header(srv2) == "1,2", "v2 server advertises %r" % wire_header(srv2))
    check(wire_header(srv1) == "1", "v1-only server advertises %r" % wire_header(srv1))
    check(wire_header(srv2, "/api/v1/nothing-here") == "1,2", "error answers lack X-Kcov-Wire")
    p2 = m.delivered(srv2.url, srv2.token())
    check(sent_as_v2(p2) == len(WORK), "not every report went as v2: " + p2.stderr)
    m.spool, orig = copy, m.spool
    p1 = m.delivered(srv1.url, srv1.token())
    check(sent_as_v2(p1) == 0, "v2 sent to a v1-only server: " + p1.stderr)
    check(stored_by_version(srv2) == {1: 0, 2: len(WORK)}, "v2 server stored %s" %
          stored_by_version(srv2))
    check(stored_by_version(srv1) == {1: len(WORK), 2: 0}, "v1 server stored %s" %
          stored_by_version(srv1))
    want = expected(sum(WORK, []))
    got1, got2 = srv1.pcs(BUILD), srv2.pcs(BUILD)
    check(got2 == want, "v2 path coverage differs from the kernel description")
    check(got1 == got2, "v1 and v2 paths differ: %s vs %s" % (got1, got2))
    for s in (srv1, srv2):
        mach = s.get("/api/v1/machines")["machines"]
        check(len(mach) == 1 and mach[0]["reports"] == len(WORK) and
              mach[0]["unknown_pcs"] == 0, "machines: %s" % mach)
    # A report re-sent in the other version is recognised by its upload id.
    m.spool = orig
    m.run(["open"])
    name = m.reports()[0]
    v1_bytes = open(os.path.join(m.spool, name), "rb").read()
    p = m.delivered(srv2.url, srv2.token())
    check(sent_as_v2(p) == 1, p.stderr)
    status, body = srv2.post_frame("/api/v1/reports", v1_bytes, srv2.token())
    check(status == 200 and b'"duplicate":true' in body, "v1 re-send: %d %s" % (status, body))
    srv1.stop()
    srv2.stop()
    shutil.rmtree(copy, ignore_errors=True)
    m.cleanup()


class LyingProxy(http.server.ThreadingHTTPServer):
    """Forwards to a v1-only kcovd but answers X-Kcov-Wire: 1,2."""

    def __init__(self, backend_port):
        self.backend_port = backend_port
        super().__init__(("127.0.0.1", 0), LyingHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class LyingHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() in ("authorization", "content-type")}
        c = http.client.HTTPConnection("127.0.0.1", self.server.backend_port, timeout=30)
        try:
            c.request(self.command, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type") or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Kcov-Wire", "1,2")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward


def test_v2_refused_despite_advert_falls_back_to_v1():
    m = Machine("liar", KASLR, BASES, BOOT.replace("a2", "a3"))
    for w in WORK[:2]:
        m.run(w)
    srv1 = started(Server(extra=["--wire-max", "1"]).start())
    proxy = LyingProxy(srv1.port)
    try:
        p = m.delivered(proxy.url, srv1.token())
    finally:
        proxy.shutdown()
        proxy.server_close()
    check(sent_as_v2(p) == 0, p.stderr)
    check(stored_by_version(srv1) == {1: 2, 2: 0}, "stored %s" % stored_by_version(srv1))
    status, body = srv1.request("GET", "/metrics")
    check(b'kcovd_reports_rejected_total{reason="decode"} 2' in body,
          "the two v2 attempts were not refused by the server")
    check(srv1.pcs(BUILD) == expected(sum(WORK[:2], [])), "fallback coverage differs")
    srv1.stop()
    m.cleanup()


def test_v1_only_server_refuses_v2_frames():
    srv1 = started(Server(extra=["--wire-max", "1"]).start())
    srv2 = started(Server().start())
    offs = {0x1000 + 7 * i for i in range(300)}
    _, f2 = wiregen.report("py-v2", "boot-py", offs, version=2)
    _, f1 = wiregen.report("py-v1", "boot-py", offs, version=1)
    for s in (srv1, srv2):
        tok = s.token()
        status, body = s.post_frame("/api/v1/boots", wiregen.addrmap("py-v2", "boot-py", BUILD),
                                    tok)
        check(status == 200, "map: %d %s" % (status, body))
        status, body = s.post_frame("/api/v1/boots", wiregen.addrmap("py-v1", "boot-py", BUILD),
                                    tok)
        check(status == 200, "map: %d %s" % (status, body))
        status, body = s.post_frame("/api/v1/reports", f1, tok)
        check(status == 200, "v1 report: %d %s" % (status, body))
    tok = srv1.token()
    status, body = srv1.post_frame("/api/v1/reports", f2, tok)
    check(status == 400 and b"wire version 2 is not accepted here (kcovd --wire-max 1)" in body
          and json.loads(body).get("code") == "bad_input",
          "v1-only server answered a v2 frame with %d %s" % (status, body))
    status, body = srv2.post_frame("/api/v1/reports", f2, srv2.token())
    check(status == 200, "v2 server refused a Python-made v2 frame: %d %s" % (status, body))
    check(len(f2) < len(f1), "v2 frame (%d bytes) not smaller than v1 (%d)" % (len(f2), len(f1)))
    check(srv2.pcs(BUILD) == {"vmlinux": offs}, "v2 frame coverage differs")
    # An ADDRMAP claiming version 2 is refused by every server.
    bad = bytearray(wiregen.addrmap("py-v3", "boot-py3", BUILD))
    bad[4] = 2
    status, body = srv2.post_frame("/api/v1/boots", bytes(bad), srv2.token())
    check(status == 400 and b"address maps are wire version 1" in body,
          "v2 address map: %d %s" % (status, body))
    refusal = None
    try:
        started(Server(extra=["--wire-max", "3"]).start())
    except Failure as e:
        refusal = str(e)
    check(refusal is not None and "--wire-max: 3 is outside 1..2" in refusal,
          "kcovd --wire-max 3 was not refused clearly: %s" % refusal)
    srv1.stop()
    srv2.stop()


if __name__ == "__main__":
    run_tests([test_v1_and_v2_paths_store_the_same_coverage,
               test_v1_only_server_refuses_v2_frames,
               test_v2_refused_despite_advert_falls_back_to_v1])
