"""Debian packages and systemd units (issue 22): scripts/build-deb.sh builds
kcovd and kcov-collect .debs from this tree; their control data, conffiles
and files are what docs/operations.md says; `dpkg -i` installs them into a
temporary root (dpkg --root; postinst makes the service user there, never
on the host); `systemd-analyze verify` accepts both units without a
warning; the installed files run as the units would: kcovd from the unit's
ExecStart with the environment file, as the service user, in its own state
directory with the unit's umask, serving the API and the web UI;
kcov-collect-push's ExecStart delivers a spooled report to it. An upgrade
keeps a changed /etc/default/kcovd and the database; remove and purge keep
the database."""
import os
import re
import shlex
import signal
import stat
import subprocess
import time
import urllib.request

from kcovlib import ASAN_ENV, KCOVD, Machine, check, run_tests, sanitizer_report, tmpdir

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.path.dirname(os.path.dirname(KCOVD))
BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}
STATE = {}


def sanitized():
    out = subprocess.run(["ldd", KCOVD], capture_output=True, text=True).stdout
    return "libasan" in out or "libubsan" in out


def build_debs():
    if "debs" in STATE:
        return STATE["debs"]
    out = tmpdir("kcov-debs-")
    env = dict(os.environ, KC_DEB_SANITIZED="1" if sanitized() else "0")
    p = subprocess.run([os.path.join(ROOT, "scripts", "build-deb.sh"), BUILD, out, "1.2.3"],
                       capture_output=True, text=True, env=env)
    check(p.returncode == 0, "build-deb.sh: %s" % p.stderr)
    debs = {os.path.basename(f).split("_")[0]: f for f in p.stdout.split()}
    check(set(debs) == {"kcovd", "kcov-collect"}, "packages built: %s" % debs)
    STATE["debs"] = debs
    return debs


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True,
                          text=True, check=True).stdout.strip()


def deb_files(deb):
    out = subprocess.run(["dpkg-deb", "--contents", deb], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[0][0] + " " + line.split()[-1].lstrip(".")
            for line in out.splitlines()}


def unit(root, name):
    """The unit file as {key: [values]} (a key may repeat)."""
    keys = {}
    for line in open(os.path.join(root, "lib/systemd/system", name)):
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            keys.setdefault(k, []).append(v)
    return keys


def env_file(path):
    """systemd EnvironmentFile= semantics for KEY=VALUE lines."""
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k] = v
    return env


def expand(cmd, env):
    """systemd's ExecStart expansion: ${VAR} is one word, $VAR is split."""
    words = []
    for w in shlex.split(cmd):
        m = re.fullmatch(r"\$\{(\w+)\}", w) or re.fullmatch(r"\$(\w+)", w)
        if m and w.startswith("${"):
            words.append(env.get(m.group(1), ""))
        elif m:
            words += env.get(m.group(1), "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda x: env.get(x.group(1), ""), w))
    return words


def test_packages_build_and_hold_what_they_should():
    debs = build_debs()
    d, c = debs["kcovd"], debs["kcov-collect"]
    check(deb_field(d, "Package") == "kcovd" and deb_field(d, "Version") == "1.2.3",
          "kcovd control")
    deps = deb_field(d, "Depends")
    for lib in ("libmicrohttpd12", "libsqlite3-0", "libgnutls30", "libjansson4", "adduser"):
        check(lib in deps, "kcovd Depends lacks %s: %s" % (lib, deps))
    check("libcurl4" in deb_field(c, "Depends"), "kcov-collect Depends: %s"
          % deb_field(c, "Depends"))
    files = deb_files(d)
    for f in ("- /usr/bin/kcovd", "- /lib/systemd/system/kcovd.service",
              "- /etc/default/kcovd", "- /usr/share/kcovd/web/index.html",
              "- /usr/share/kcovd/web/main.js", "- /usr/share/doc/kcovd/operations.md"):
        check(f in files, "kcovd.deb lacks %s" % f)
    check(not any("package.json" in f or "node_modules" in f for f in files),
          "kcovd.deb ships build files of the web UI")
    files = deb_files(c)
    for f in ("- /usr/bin/kcov-collect", "- /lib/systemd/system/kcov-collect-push.service",
              "- /etc/default/kcov-collect", "d /var/spool/kcov-collect/"):
        check(f in files, "kcov-collect.deb lacks %s: %s" % (f, sorted(files)))
    for deb, conf in ((d, "/etc/default/kcovd"), (c, "/etc/default/kcov-collect")):
        ctl = tmpdir("kcov-ctl-")
        subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True)
        check(open(os.path.join(ctl, "conffiles")).read().split() == [conf],
              "%s conffiles" % deb)
        for script in os.listdir(ctl):
            if script in ("postinst", "prerm", "postrm"):
                p = subprocess.run(["sh", "-n", os.path.join(ctl, script)],
                                   capture_output=True, text=True)
                check(p.returncode == 0, "%s %s: %s" % (deb, script, p.stderr))


def host_kcovd_users():
    return [l for l in open("/etc/passwd") if l.startswith("kcovd:")]


def dpkg(root, *args):
    """dpkg on the temporary root. The maintainer scripts run outside it
    (--force-script-chrootless) with DPKG_ROOT set, which they honour; the
    root has no libc6 & co. in its dpkg database (--force-depends)."""
    host = host_kcovd_users()
    p = subprocess.run(["dpkg", "--root", root, "--force-script-chrootless",
                        "--force-depends", "--force-not-root"] + list(args),
                       capture_output=True, text=True)
    check(host_kcovd_users() == host, "dpkg %s changed the host's users" % (args,))
    return p


def installed_version(root, pkg):
    p = subprocess.run(["dpkg-query", "--root", root, "-W", "-f", "${Status} ${Version}", pkg],
                       capture_output=True, text=True)
    return p.stdout if p.returncode == 0 else None


def install_root():
    """dpkg -i both packages into a temporary root holding an empty dpkg
    database and /etc with only root in its user files."""
    if "root" in STATE:
        return STATE["root"]
    root = tmpdir("kcov-root-")
    os.chmod(root, 0o755)  # the service user must reach the binaries
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
        os.makedirs(os.path.join(root, d))
    for name, text in (("var/lib/dpkg/status", ""), ("var/lib/dpkg/available", ""),
                       ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
                       ("etc/group", "root:x:0:\n"), ("etc/shadow", "root:*:19000:0:99999:7:::\n"),
                       ("etc/gshadow", "root:*::\n")):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    debs = build_debs()
    p = dpkg(root, "-i", debs["kcovd"], debs["kcov-collect"])
    check(p.returncode == 0, "dpkg -i: %s %s" % (p.stdout, p.stderr))
    for pkg in ("kcovd", "kcov-collect"):
        check(installed_version(root, pkg) == "install ok installed 1.2.3",
              "%s: %s" % (pkg, installed_version(root, pkg)))
    users = [l.split(":") for l in open(os.path.join(root, "etc/passwd"))]
    svc = [u for u in users if u[0] == "kcovd"]
    check(len(svc) == 1 and int(svc[0][2]) < 1000 and svc[0][6].strip() == "/usr/sbin/nologin",
          "postinst did not make the system user kcovd: %s" % users)
    STATE.update(root=root, uid=int(svc[0][2]), gid=int(svc[0][3]))
    return root


def test_systemd_units_verify():
    root = install_root()
    units = tmpdir("kcov-units-")
    for name in ("kcovd.service", "kcov-collect-push.service"):
        text = open(os.path.join(root, "lib/systemd/system", name)).read()
        # verify checks that ExecStart's binary exists: point it into the root.
        with open(os.path.join(units, name), "w") as f:
            f.write(text.replace("/usr/bin/", root + "/usr/bin/"))
    p = subprocess.run(["systemd-analyze", "verify"] +
                       [os.path.join(units, n) for n in sorted(os.listdir(units))],
                       capture_output=True, text=True)
    check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          "systemd-analyze verify: %d %s %s" % (p.returncode, p.stdout, p.stderr))
    k = unit(root, "kcovd.service")
    for key, want in (("User", "kcovd"), ("StateDirectory", "kcovd"), ("ProtectSystem", "strict"),
                      ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                      ("EnvironmentFile", "-/etc/default/kcovd"), ("CapabilityBoundingSet", "")):
        check(k.get(key) == [want], "kcovd.service %s=%s" % (key, k.get(key)))
    c = unit(root, "kcov-collect-push.service")
    check("--watch" in c["ExecStart"][0] and c["EnvironmentFile"] == ["-/etc/default/kcov-collect"],
          "kcov-collect-push.service: %s" % c)


def test_installed_kcovd_runs_as_the_unit_would():
    root = install_root()
    k = unit(root, "kcovd.service")
    env = env_file(os.path.join(root, "etc/default/kcovd"))
    check(env["KCOVD_DATA_DIR"] == "/var/lib/" + k["StateDirectory"][0],
          "environment file and StateDirectory disagree: %s" % env)
    # The unit's paths, inside the temporary root; any free port.
    state = os.path.join(root, "var/lib/kcovd")
    os.makedirs(state)
    env.update(KCOVD_DATA_DIR=state, KCOVD_WEB_DIR=root + env["KCOVD_WEB_DIR"],
               KCOVD_LISTEN="127.0.0.1:0")
    port_file = os.path.join(state, "port")
    words = expand(k["ExecStart"][0], env)
    check(words[:2] == ["/usr/bin/kcovd", "serve"], "ExecStart %s" % words)
    cmd = [root + words[0]] + words[1:] + ["--port-file", port_file]
    run_env = dict(env, ASAN_OPTIONS=ASAN_ENV, PATH=os.environ["PATH"])
    umask = int(k["UMask"][0], 8)
    uid = None
    if os.getuid() == 0:
        # The user postinst made (in the root's /etc/passwd); StateDirectory=
        # hands the directory to it.
        uid, gid = STATE["uid"], STATE["gid"]
        os.chown(state, uid, gid)
        os.chmod(state, int(k["StateDirectoryMode"][0], 8))
        cmd = ["setpriv", "--reuid", str(uid), "--regid", str(gid),
               "--clear-groups", "--no-new-privs"] + cmd
    log = open(os.path.join(root, "kcovd.log"), "wb")
    proc = subprocess.Popen(cmd, env=run_env, stdout=log, stderr=log,
                            preexec_fn=lambda: os.umask(umask))
    STATE["kcovd"] = proc
    deadline = time.time() + 20
    while not os.path.exists(port_file):
        check(proc.poll() is None, "packaged kcovd exited: %s"
              % open(os.path.join(root, "kcovd.log")).read())
        check(time.time() < deadline, "packaged kcovd did not start")
        time.sleep(0.05)
    port = int(open(port_file).read())
    base = "http://127.0.0.1:%d" % port
    with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
        check(r.status == 200, "healthz")
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        page = r.read()
    check(page == open(os.path.join(root, "usr/share/kcovd/web/index.html"), "rb").read(),
          "the web UI is not served from /usr/share/kcovd/web")
    db = os.path.join(state, "kcovd.db")
    st = os.stat(db)
    if uid is not None:
        check(st.st_uid == uid, "database owned by uid %d, not the service user's %d"
              % (st.st_uid, uid))
    check(stat.S_IMODE(st.st_mode) & ~(0o666 & ~umask) == 0,
          "database mode %o ignores UMask %o" % (stat.S_IMODE(st.st_mode), umask))
    # A push token, made as the service user would (same environment).
    tok_cmd = [root + "/usr/bin/kcovd", "token", "add", "vm", "--scope", "push"]
    if uid is not None:
        tok_cmd = cmd[:cmd.index(root + words[0])] + tok_cmd
    p = subprocess.run(tok_cmd, env=run_env, capture_output=True, text=True,
                       preexec_fn=lambda: os.umask(umask))
    check(p.returncode == 0 and p.stdout.startswith("kc_"), "token add: %s" % p.stderr)
    STATE.update(port=port, token=p.stdout.strip(), base=base)


def test_installed_collector_unit_delivers():
    root = install_root()
    check("base" in STATE, "the packaged kcovd is not running")
    c = unit(root, "kcov-collect-push.service")
    env = env_file(os.path.join(root, "etc/default/kcov-collect"))
    m = Machine("pkg-vm", 0x1E000000, BASES, "55555555-0000-4000-8000-000000000005")
    m.run(["read", "close"])
    check(len(m.reports()) == 1, "no spooled report")
    token_file = os.path.join(root, "etc/kcov-collect/token")
    with open(token_file, "w") as f:
        f.write(STATE["token"] + "\n")
    os.chmod(token_file, 0o600)
    env.update(KCOV_COLLECT_SPOOL=m.spool, KCOV_COLLECT_SERVER=STATE["base"],
               KCOV_COLLECT_TOKEN_FILE=token_file, KCOV_COLLECT_OPTS="--interval 0.2")
    words = expand(c["ExecStart"][0], env)
    check(words[0] == "/usr/bin/kcov-collect" and "--watch" in words, "ExecStart %s" % words)
    proc = subprocess.Popen([root + words[0]] + words[1:], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=dict(os.environ, ASAN_OPTIONS=ASAN_ENV))
    deadline = time.time() + 20
    while m.reports() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=20)[0].decode(errors="replace")
    check(sanitizer_report(out) is None, "kcov-collect: " + out[-2000:])
    check(m.reports() == [], "the push unit did not deliver the spool: " + out[-500:])
    with urllib.request.urlopen(STATE["base"] + "/api/v1/reports?machine=pkg-vm",
                                timeout=10) as r:
        body = r.read().decode()
    check('"pkg-vm"' in body, "kcovd lacks the report: " + body[:300])
    m.cleanup()


def test_stop():
    proc = STATE.get("kcovd")
    check(proc is not None, "no packaged kcovd ran")
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    log = open(os.path.join(STATE["root"], "kcovd.log"), errors="replace").read()
    check(rc == 0 and sanitizer_report(log) is None, "packaged kcovd at SIGTERM: %d %s"
          % (rc, log[-1000:]))


def test_upgrade_keeps_config_and_data_remove_purge():
    root = install_root()
    conf = os.path.join(root, "etc/default/kcovd")
    with open(conf, "a") as f:
        f.write("KCOVD_OPTS=--read-auth  # local change\n")
    mine = open(conf).read()
    out = tmpdir("kcov-debs2-")
    env = dict(os.environ, KC_DEB_SANITIZED="1" if sanitized() else "0")
    p = subprocess.run([os.path.join(ROOT, "scripts", "build-deb.sh"), BUILD, out, "1.2.4"],
                       capture_output=True, text=True, env=env)
    check(p.returncode == 0, "build-deb.sh 1.2.4: %s" % p.stderr)
    new = [f for f in p.stdout.split() if os.path.basename(f).startswith("kcovd_")][0]
    p = dpkg(root, "-i", new)
    check(p.returncode == 0, "upgrade: %s %s" % (p.stdout, p.stderr))
    check(installed_version(root, "kcovd") == "install ok installed 1.2.4", "after the upgrade: %s"
          % installed_version(root, "kcovd"))
    check(open(conf).read() == mine, "the upgrade replaced the changed /etc/default/kcovd")
    check(sum(l.startswith("kcovd:") for l in open(os.path.join(root, "etc/passwd"))) == 1,
          "the upgrade made a second kcovd user")
    db = os.path.join(root, "var/lib/kcovd/kcovd.db")
    check(os.path.exists(db), "no database from the earlier test")
    p = dpkg(root, "-r", "kcovd")
    check(p.returncode == 0 and not os.path.exists(os.path.join(root, "usr/bin/kcovd")) and
          os.path.exists(conf) and os.path.exists(db), "remove: %s %s" % (p.stdout, p.stderr))
    p = dpkg(root, "--purge", "kcovd")
    check(p.returncode == 0 and not os.path.exists(conf) and os.path.exists(db),
          "purge must drop the conffile and keep the database: %s" % p.stderr)


if __name__ == "__main__":
    try:
        run_tests([test_packages_build_and_hold_what_they_should, test_systemd_units_verify,
                   test_installed_kcovd_runs_as_the_unit_would,
                   test_installed_collector_unit_delivers, test_stop,
                   test_upgrade_keeps_config_and_data_remove_purge])
    finally:
        if STATE.get("kcovd") and STATE["kcovd"].poll() is None:
            STATE["kcovd"].kill()
