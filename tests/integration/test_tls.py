"""kcovd over HTTPS (--tls-cert/--tls-key, --tls-client-ca) and kcov-collect
through it (--cacert, --cert/--key). The test makes its own PKI with the
openssl command: a CA, server certificates for 127.0.0.1 and localhost (one
valid, one expired, one for another host name), a second CA nobody trusts,
and client certificates from each CA."""
import os
import re
import ssl
import subprocess
import time
import urllib.error

from kcovlib import Failure, Machine, Server, check, collect, run_tests, started, tmpdir

BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}
BOOT = "cccccccc-0000-4000-8000-00000000000c"
PKI = tmpdir("kcov-pki-")
CA_CFG = """[ca]
default_ca = d
[d]
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = p
[p]
commonName = supplied
organizationName = optional
"""


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True, text=True)
    check(p.returncode == 0, "openssl %s: %s" % (" ".join(args[:2]), p.stderr))


def path(name):
    return os.path.join(PKI, name)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", path(name + ".key"), "-out", path(name + ".pem"),
            "-days", "30", "-subj", "/O=kcov-test/CN=" + name)


def make_cert(name, ca, subj, ext, expired=False):
    """A key and a certificate signed by ca; ext is the extension lines."""
    with open(path(name + ".ext"), "w") as f:
        f.write(ext)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", subj)
    if not expired:
        openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"),
                "-CAkey", path(ca + ".key"), "-CAcreateserial", "-days", "30",
                "-extfile", path(name + ".ext"), "-out", path(name + ".pem"))
        return
    # A validity in the past needs `openssl ca` (-startdate/-enddate).
    with open(path("ca.cnf"), "w") as f:
        f.write(CA_CFG.format(dir=PKI))
    open(path("index.txt"), "w").close()
    with open(path("serial"), "w") as f:
        f.write("1000\n")
    openssl("ca", "-batch", "-config", path("ca.cnf"), "-cert", path(ca + ".pem"),
            "-keyfile", path(ca + ".key"), "-in", path(name + ".csr"), "-notext",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
            "-extfile", path(name + ".ext"), "-out", path(name + ".pem"))


SERVER_EXT = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
make_ca("ca")
make_ca("other-ca")
make_cert("server", "ca", "/CN=kcovd-test", SERVER_EXT)
make_cert("expired", "ca", "/CN=kcovd-expired", SERVER_EXT, expired=True)
make_cert("wronghost", "ca", "/CN=elsewhere",
          "subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n")
make_cert("client", "ca", "/O=kcov-test/CN=ci-vm-7", "extendedKeyUsage=clientAuth\n")
make_cert("rogue", "other-ca", "/O=kcov-test/CN=rogue", "extendedKeyUsage=clientAuth\n")


def web_dir():
    web = os.path.join(PKI, "web")
    os.makedirs(web, exist_ok=True)
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<!doctype html><title>kcovd over TLS</title>")
    return web


def tls_server(cert="server", extra=()):
    return Server(extra=["--tls-cert", path(cert + ".pem"), "--tls-key", path(cert + ".key"),
                         "--web-dir", web_dir()] + list(extra)).start()


def logged(srv, text):
    """Is text in srv's log within 10 s? (kcovd writes its port file just
    before its start-up line.)"""
    deadline = time.time() + 10
    while text not in srv.log_text(whole=True):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def context(ca="ca", client=None):
    ctx = ssl.create_default_context(cafile=path(ca + ".pem"))
    if client:
        ctx.load_cert_chain(path(client + ".pem"), path(client + ".key"))
    return ctx


def test_https_ui_api_and_push():
    srv = tls_server()
    check(srv.url.startswith("https://"), srv.url)
    check(logged(srv, "listening on https://"), "start-up line: " + srv.log_text())
    ctx = context()
    status, body = srv.request("GET", "/", context=ctx)
    check(status == 200 and b"kcovd over TLS" in body, "GET / over HTTPS: %d %r" % (status, body))
    for base in (srv.url, "https://localhost:%d" % srv.port):
        status, body = srv.request("GET", "/healthz", context=ctx, base=base)
        check(status == 200 and b'"status":"ok"' in body, "%s/healthz: %d %r" % (base, status, body))
    token = srv.token()
    m = Machine("tls-vm", 0x1E000000, BASES, BOOT)
    # run --server pushes at once ...
    p = m.run(["read", "close"], server=srv.url, token=token, extra=["--cacert", path("ca.pem")])
    check(m.reports() == [], "run --server over HTTPS left %s: %s" % (m.reports(), p.stderr))
    # ... and push delivers what was spooled.
    m.run(["read", "open"])
    m.delivered(srv.url, token, extra=["--cacert", path("ca.pem")])
    status, body = srv.request("GET", "/api/v1/machines", context=ctx)
    check(status == 200 and b'"reports":2' in body, "machines over HTTPS: %d %r" % (status, body))
    srv.stop()
    m.cleanup()


def refused_push(m, url, extra, want, what):
    """A push that must fail with a message matching want and leave the
    report spooled."""
    before = m.reports()
    p = m.push(url, "kc_whatever", extra=["--max-attempts", "1"] + extra)
    print("%s: %s" % (what, p.stderr.strip().splitlines()[-2:]))
    check(p.returncode != 0 and re.search(want, p.stderr, re.I),
          "%s: exit %d, stderr: %s" % (what, p.returncode, p.stderr[-600:]))
    check(m.reports() == before and before, "%s: spool changed: %s" % (what, m.reports()))
    return p


def python_refused(srv, ctx, base=None):
    try:
        srv.request("GET", "/healthz", context=ctx, base=base)
    except (ssl.SSLError, urllib.error.URLError, ConnectionError) as e:
        return str(e)
    raise Failure("Python's client was not refused")


def test_tls_failures():
    m = Machine("tls-bad", 0x1E000000, BASES, BOOT)
    m.run(["read"])
    srv = tls_server()
    # A CA that did not sign the server's certificate.
    refused_push(m, srv.url, ["--cacert", path("other-ca.pem")], r"TLS: .*certificate",
                 "wrong CA")
    check("certificate" in python_refused(srv, context("other-ca")), "Python, wrong CA")
    # No --cacert: the system's CAs do not know the test CA; never unchecked.
    refused_push(m, srv.url, [], r"TLS: .*certificate", "no --cacert")
    # Plain HTTP to the HTTPS port.
    plain = "http://127.0.0.1:%d" % srv.port
    refused_push(m, plain, [], r"kcovd with --tls-cert speaks only HTTPS", "plain HTTP")
    python_refused(srv, None, base=plain)
    status, body = srv.request("GET", "/healthz", context=context())
    check(status == 200, "server unwell after the refusals: %d %r" % (status, body))
    # The server's side: MHD logs each failed handshake.
    deadline = time.time() + 10
    while srv.log_text(whole=True).count("Error: ") < 3 and time.time() < deadline:
        time.sleep(0.05)
    check(srv.log_text(whole=True).count("Error: ") >= 3,
          "failed handshakes not logged: " + srv.log_text())
    srv.stop()
    # An expired server certificate.
    srv = tls_server("expired")
    refused_push(m, srv.url, ["--cacert", path("ca.pem")], r"TLS: .*expired", "expired")
    check("expired" in python_refused(srv, context()), "Python, expired")
    srv.stop()
    # A certificate for another host name.
    srv = tls_server("wronghost")
    refused_push(m, srv.url, ["--cacert", path("ca.pem")],
                 r"TLS: .*(127\.0\.0\.1|name|match)", "wrong host name")
    check(re.search("match|name", python_refused(srv, context())), "Python, wrong host")
    srv.stop()
    m.cleanup()


def test_bad_tls_configuration_refused_at_start():
    for extra, want in (
            (["--tls-cert", path("server.pem"), "--tls-key", path("client.key")], "--tls-key"),
            (["--tls-key", path("server.key")], "need --tls-cert"),
            (["--tls-cert", path("server.pem")], "needs --tls-key"),
            (["--tls-cert", path("server.pem"), "--tls-key", path("server.key"),
              "--tls-client-ca", path("server.ext")], "--tls-client-ca"),
            (["--tls-cert", path("missing.pem"), "--tls-key", path("server.key")],
             "--tls-cert")):
        try:
            Server(extra=extra).start()
        except Failure as e:
            check(want in str(e), "%s: %s" % (extra, e))
        else:
            raise Failure("kcovd started with %s" % extra)


def test_client_certificates():
    srv = tls_server(extra=["--tls-client-ca", path("ca.pem")])
    check(logged(srv, "client certificates required"), srv.log_text())
    token = srv.token()
    m = Machine("ci-vm-7", 0x1E000000, BASES, BOOT)
    m.run(["read", "close"])
    base = ["--cacert", path("ca.pem")]
    p = m.push(srv.url, token, extra=["--max-attempts", "1"] + base)
    check(p.returncode != 0 and "HTTP 401" in p.stderr and "client certificate" in p.stderr,
          "no client certificate: %s" % p.stderr[-600:])
    check(len(m.reports()) == 1, "refused report not spooled: %s" % m.reports())
    p = m.push(srv.url, token, extra=["--max-attempts", "1", "--cert", path("rogue.pem"),
                                      "--key", path("rogue.key")] + base)
    check(p.returncode != 0 and "HTTP 401" in p.stderr and "not accepted" in p.stderr,
          "client certificate of another CA: %s" % p.stderr[-600:])
    check("by TLS client" not in srv.log_text(), "a refused client was logged as pushing")
    m.delivered(srv.url, token, extra=base + ["--cert", path("client.pem"),
                                              "--key", path("client.key")])
    log = srv.log_text()
    check(re.search(r'POST /api/v1/reports by TLS client "O=kcov-test,CN=ci-vm-7"', log),
          "client subject not recorded: " + log)
    status, body = srv.request("GET", "/metrics", context=context())
    check(status == 401, "GET /metrics without a client certificate: %d" % status)
    status, body = srv.request("GET", "/metrics", context=context(client="client"))
    # Refused: each push's GET /healthz and POST of the report (twice),
    # and the GET /metrics above.
    check(status == 200 and b'kcovd_reports_rejected_total{reason="client_cert"} 5\n' in body,
          "metrics: %d %s" % (status, re.findall(rb"rejected_total.*", body)))
    srv.stop()
    m.cleanup()


if __name__ == "__main__":
    run_tests([test_https_ui_api_and_push, test_tls_failures,
               test_bad_tls_configuration_refused_at_start, test_client_certificates])
