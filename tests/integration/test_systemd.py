"""The Debian packages on a machine that runs systemd (issue 22).

test_packages.py checks the packages in a temporary dpkg root, where no
systemd runs. This test boots this very machine's root file system under
systemd as PID 1, in a container (systemd-nspawn -b on a copy-on-write
overlay of /, with its own network namespace, so nothing on the host
changes), and there:

- `dpkg -i` installs both packages into the machine's own dpkg database,
  and postinst makes the service user;
- `systemctl enable --now kcovd` starts the unit; it serves /healthz and the
  web UI on the address of /etc/default/kcovd;
- the unit's hardening holds in the running service: it runs as the
  service user with no capabilities, no_new_privs and a seccomp filter,
  /usr is read-only and its state directory writable in its mount
  namespace, and its /tmp is private;
- kcov-collect-push.service delivers a spooled report to it;
- `systemctl stop` ends kcovd with status 0, and after `systemctl restart`
  the report is still there;
- `dpkg --purge` stops the unit and removes it.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

from kcovlib import Machine, check, run_tests, sanitizer_report, tmpdir
from test_packages import BASES, build_debs, sanitized

STATE = {}
NSPAWN_RUN = "/run/systemd/nspawn"


def is_mountpoint(path):
    return subprocess.run(["mountpoint", "-q", path]).returncode == 0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def boot():
    """Boot / under systemd in a container; returns the container's PID 1
    (as seen from the host)."""
    check(shutil.which("systemd-nspawn") is not None,
          "systemd-nspawn is missing (Debian systemd-container, scripts/install-deps.sh)")
    top = tmpdir("kcov-nspawn-")
    for d in ("upper", "work", "root", "debs"):
        os.makedirs(os.path.join(top, d))
    debs = build_debs()
    for f in debs.values():
        shutil.copy(f, os.path.join(top, "debs"))
    # nspawn keeps its propagation directories under /run, which must be
    # a tmpfs; this container's /run is not always one.
    os.makedirs(NSPAWN_RUN, exist_ok=True)
    if not is_mountpoint(NSPAWN_RUN):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", NSPAWN_RUN], check=True)
        STATE["nspawn_tmpfs"] = True
    root = os.path.join(top, "root")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (top, top), root],
                   check=True)
    STATE.update(top=top, root=root)
    m = Machine("sd-vm", 0x1E000000, BASES, "55555555-0000-4000-8000-000000000007")
    m.run(["read", "close"])
    check(len(m.reports()) == 1, "no spooled report")
    STATE["machine"] = m
    log = open(os.path.join(top, "boot.log"), "wb")
    name = "kcovtest%d" % os.getpid()
    proc = subprocess.Popen(
        ["systemd-nspawn", "-D", root, "-M", name, "--register=no", "--keep-unit",
         "--link-journal=no", "--uuid=" + str(uuid.uuid4()), "--private-network",
         "--bind-ro=%s/debs:/debs" % top, "--bind=%s:/var/spool/kcov-collect" % m.spool, "-b"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    STATE["nspawn"] = proc
    deadline = time.time() + 120
    init = None
    while init is None:
        check(proc.poll() is None, "systemd-nspawn exited %s: %s"
              % (proc.returncode, open(os.path.join(top, "boot.log"), errors="replace").read()[-3000:]))
        check(time.time() < deadline, "the container's systemd did not start")
        kids = children(proc.pid)
        if kids and open("/proc/%d/comm" % kids[0]).read().strip() == "systemd":
            init = kids[0]
        time.sleep(0.2)
    STATE["init"] = init
    # Until systemd listens on its socket, systemctl fails at once.
    state = ""
    while state not in ("running", "degraded"):
        check(time.time() < deadline + 60, "the container's systemd stayed %r" % state)
        state = inside("systemctl", "is-system-running").stdout.strip()
        time.sleep(0.5)
    failed = inside("systemctl", "--failed", "--no-legend", "--plain").stdout
    # "degraded": some unit of the host's own set failed in the container;
    # ours are checked one by one below.
    print("container up (%s); failed units: %s" % (state, failed.split() or "none"), flush=True)
    return init


def inside(*cmd, timeout=60, check_rc=False, pid=None):
    """Run cmd in every namespace of the container's PID 1 (or of pid)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    p = subprocess.run(["nsenter", "-t", str(pid or STATE["init"]), "-a", "--"] + list(cmd),
                       capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc:
        check(p.returncode == 0, "%s: %d %s %s" % (cmd, p.returncode, p.stdout, p.stderr))
    return p


def in_service_ns(pid, *cmd):
    """Run cmd in the mount namespace of service process pid only (as root)."""
    return subprocess.run(["nsenter", "-t", str(STATE["init"]), "-p", "-n", "--",
                           "nsenter", "-t", str(pid), "-m", "--"] + list(cmd),
                          capture_output=True, text=True, timeout=30)


def http(path, base="http://127.0.0.1:8080"):
    """GET path inside the container: (status, body)."""
    code = ("import sys, urllib.request\n"
            "try:\n"
            "    r = urllib.request.urlopen(sys.argv[1], timeout=10)\n"
            "    print(r.status); sys.stdout.write(r.read().decode())\n"
            "except Exception as e:\n"
            "    print(0); print(e)\n")
    p = inside("python3", "-c", code, base + path, check_rc=True)
    status, _, body = p.stdout.partition("\n")
    return int(status), body


def show(unit, prop):
    return inside("systemctl", "show", "-p", prop, "--value", unit, check_rc=True).stdout.strip()


def wait_for(what, pred, seconds=60):
    deadline = time.time() + seconds
    while not pred():
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.3)


def test_boot_and_install():
    boot()
    debs = sorted(os.path.basename(f) for f in build_debs().values())
    inside("dpkg", "-i", *["/debs/" + d for d in debs], timeout=120, check_rc=True)
    for pkg in ("kcovd", "kcov-collect"):
        st = inside("dpkg-query", "-W", "-f", "${Status}", pkg).stdout
        check(st == "install ok installed", "%s: %r" % (pkg, st))
    pw = inside("getent", "passwd", "kcovd").stdout.split(":")
    check(len(pw) == 7 and int(pw[2]) < 1000, "no system user kcovd: %s" % pw)
    STATE["uid"] = int(pw[2])
    check(show("kcovd.service", "LoadState") == "loaded", "kcovd.service is not loaded")


def test_unit_serves():
    check("uid" in STATE, "not installed")
    if sanitized():
        # LeakSanitizer stops the world at exit with ptrace, which the
        # unit's SystemCallFilter=@system-service forbids: the sanitized
        # kcovd would hang at stop. Leaks are checked by every other test.
        inside("sh", "-c", "mkdir -p /etc/systemd/system/kcovd.service.d && printf "
               "'[Service]\\nEnvironment=ASAN_OPTIONS=detect_leaks=0\\n' "
               "> /etc/systemd/system/kcovd.service.d/asan.conf && systemctl daemon-reload",
               check_rc=True)
    inside("systemctl", "enable", "--now", "kcovd.service", timeout=60, check_rc=True)
    wait_for("kcovd /healthz", lambda: http("/healthz")[0] == 200)
    status, page = http("/")
    check(status == 200 and "<html" in page.lower(), "web UI: %d %s" % (status, page[:200]))
    check(show("kcovd.service", "ActiveState") == "active", "kcovd.service not active")
    check(inside("systemctl", "is-enabled", "kcovd.service").stdout.strip() == "enabled",
          "kcovd.service not enabled")


def proc_status(pid):
    p = inside("cat", "/proc/%s/status" % pid, check_rc=True)
    return dict(l.split(":\t", 1) for l in p.stdout.splitlines() if ":\t" in l)


def test_hardening_holds_in_the_running_service():
    pid = show("kcovd.service", "MainPID")
    check(pid.isdigit() and int(pid) > 0, "no MainPID: %r" % pid)
    st = proc_status(pid)
    check(st["Uid"].split()[0] == str(STATE["uid"]), "kcovd runs as uid %s" % st["Uid"])
    check(int(st["CapEff"].strip(), 16) == 0 and int(st["CapBnd"].strip(), 16) == 0,
          "kcovd has capabilities: %s %s" % (st["CapEff"], st["CapBnd"]))
    check(st["NoNewPrivs"].strip() == "1", "no_new_privs is off")
    check(st["Seccomp"].strip() == "2", "no seccomp filter (Seccomp: %s)" % st["Seccomp"])
    # The host-side pid of the service, for its mount namespace.
    hpid = subprocess.run(["sh", "-c", "for p in /proc/[0-9]*; do "
                           "grep -qs '^NSpid:.*[[:space:]]%s$' $p/status && "
                           "[ \"$(cat $p/comm)\" = kcovd ] && basename $p; done" % pid],
                          capture_output=True, text=True).stdout.split()
    check(len(hpid) == 1, "the host does not see kcovd's pid %s: %s" % (pid, hpid))
    ro = in_service_ns(hpid[0], "touch", "/usr/lib/kcov-written")
    check(ro.returncode != 0 and "Read-only" in ro.stderr,
          "ProtectSystem=strict: /usr is writable: %d %s" % (ro.returncode, ro.stderr))
    etc = in_service_ns(hpid[0], "touch", "/etc/kcov-written")
    check(etc.returncode != 0, "/etc is writable by the service's namespace")
    rw = in_service_ns(hpid[0], "touch", "/var/lib/kcovd/kcov-written")
    check(rw.returncode == 0, "the state directory is not writable: %s" % rw.stderr)
    inside("touch", "/tmp/kcov-host-file", check_rc=True)
    priv = in_service_ns(hpid[0], "test", "-e", "/tmp/kcov-host-file")
    check(priv.returncode != 0, "PrivateTmp: the service sees the machine's /tmp")
    score = inside("systemd-analyze", "security", "--no-pager", "kcovd.service").stdout
    STATE["exposure"] = [l for l in score.splitlines() if "Overall exposure" in l]
    print("systemd-analyze security:", STATE["exposure"], flush=True)


def test_collector_unit_delivers():
    m = STATE["machine"]
    tok = inside("runuser", "-u", "kcovd", "--", "sh", "-c",
                 "set -a; . /etc/default/kcovd; exec kcovd token add sd-vm --scope push",
                 check_rc=True).stdout.strip()
    check(tok.startswith("kc_"), "token add: %r" % tok)
    inside("sh", "-c", "umask 077; mkdir -p /etc/kcov-collect; echo %s > /etc/kcov-collect/token"
           % tok, check_rc=True)
    conf = inside("cat", "/etc/default/kcov-collect", check_rc=True).stdout
    lines = [l for l in conf.splitlines() if not l.startswith(("KCOV_COLLECT_SERVER=",
                                                               "KCOV_COLLECT_TOKEN_FILE="))]
    lines += ["KCOV_COLLECT_SERVER=http://127.0.0.1:8080",
              "KCOV_COLLECT_TOKEN_FILE=/etc/kcov-collect/token"]
    inside("sh", "-c", "cat > /etc/default/kcov-collect <<'EOF'\n%s\nEOF" % "\n".join(lines),
           check_rc=True)
    inside("systemctl", "start", "kcov-collect-push.service", check_rc=True)
    wait_for("the push unit to empty the spool", lambda: m.reports() == [])

    def stored():
        status, body = http("/api/v1/reports?machine=sd-vm")
        return status == 200 and len(json.loads(body).get("reports", [])) == 1
    wait_for("the report in kcovd", stored)
    inside("systemctl", "stop", "kcov-collect-push.service", check_rc=True)


def test_stop_restart_keeps_data():
    inside("systemctl", "stop", "kcovd.service", timeout=90, check_rc=True)
    journal = inside("journalctl", "-u", "kcovd.service", "--no-pager").stdout
    check(show("kcovd.service", "ExecMainStatus") == "0",
          "kcovd at systemctl stop: status %s: %s"
          % (show("kcovd.service", "ExecMainStatus"), journal[-2000:]))
    check(sanitizer_report(journal) is None, "kcovd: " + journal[-2000:])
    inside("systemctl", "restart", "kcovd.service", check_rc=True)
    wait_for("kcovd /healthz after restart", lambda: http("/healthz")[0] == 200)
    status, body = http("/api/v1/reports?machine=sd-vm")
    check(status == 200 and len(json.loads(body)["reports"]) == 1,
          "the report is gone after a restart: %s" % body[:300])


def test_purge_stops_and_removes():
    inside("dpkg", "--purge", "kcovd", timeout=120, check_rc=True)
    check(show("kcovd.service", "ActiveState") != "active", "purge left kcovd running")
    check(inside("test", "-e", "/lib/systemd/system/kcovd.service").returncode != 0,
          "purge left the unit file")
    check(inside("test", "-e", "/var/lib/kcovd/kcovd.db").returncode == 0,
          "purge removed the database")


def shutdown():
    proc = STATE.get("nspawn")
    if proc and proc.poll() is None:
        if STATE.get("init"):
            inside("systemctl", "poweroff")
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if STATE.get("root") and is_mountpoint(STATE["root"]):
        subprocess.run(["umount", "-l", STATE["root"]])
    if STATE.get("nspawn_tmpfs"):
        subprocess.run(["umount", "-l", NSPAWN_RUN])
    if STATE.get("machine"):
        STATE["machine"].cleanup()


if __name__ == "__main__":
    try:
        run_tests([test_boot_and_install, test_unit_serves,
                   test_hardening_holds_in_the_running_service, test_collector_unit_delivers,
                   test_stop_restart_keeps_data, test_purge_stops_and_removes])
    finally:
        shutdown()
