#!/usr/bin/env python3
"""A throw-away PostgreSQL server for the tests (issue 19): initdb in a
temporary directory, pg_ctl start on a free 127.0.0.1 port with the unix
socket in that directory, one database, and stop + remove at the end (also
when the test fails or is interrupted). A harness killed with SIGKILL (ctest
at its timeout) runs no cleanup: each cluster's directory names the pid of
the process that made it (file `owner`), and every start first stops and
removes the clusters whose owner is gone.

PostgreSQL refuses to run as root, and the tests run as root in CI: then
the server runs as the unprivileged system user `kcovpg` (created with
useradd when missing) through runuser. As any other user it runs as that
user. Clients connect over TCP as the database superuser `kcovpg` with
trust authentication (the server listens on 127.0.0.1 only and lives as
long as one test).

Two forms:
  - Python: `with PgServer() as pg: ... pg.url ...` (or start()/stop()),
    pg.stop_server()/pg.start_server() to take the same cluster down and
    up again on the same port (the PostgreSQL restart tests);
  - shell: `pgserver.py run -- CMD ARGS...` runs CMD with KC_PG_URL (a
    libpq URI of the test database), KC_PG_DIR (the cluster's temporary
    directory), KC_PG_STOP and KC_PG_START (shell
    commands stopping the cluster with `pg_ctl stop -m fast` and starting
    it again) in its environment and exits with CMD's status, after
    removing the cluster.

Only the standard library; no kcovd binaries needed (importable from any
test). The binaries come from $KC_PG_BIN or /usr/lib/postgresql/NN/bin
(Debian's layout, highest version), else from PATH.
"""
import atexit
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_USER = "kcovpg"
DB_NAME = "kcov_test"


class PgError(Exception):
    pass


def pg_bindir():
    """The directory of initdb/pg_ctl/psql, or raise PgError."""
    env = os.environ.get("KC_PG_BIN")
    cands = [env] if env else []
    cands += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                    reverse=True)
    for d in cands:
        if d and os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    w = shutil.which("initdb")
    if w:
        return os.path.dirname(w)
    raise PgError("no PostgreSQL server binaries (initdb): install postgresql "
                  "(scripts/install-deps.sh) or set KC_PG_BIN")


def ensure_user():
    """As root: the system user the server runs as (created when missing).
    Returns (uid, gid); as another user, that user's ids."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", PG_USER],
                           capture_output=True, text=True)
        # A concurrent test may have made it between our check and useradd.
        if r.returncode not in (0, 9):
            raise PgError("useradd %s failed: %s" % (PG_USER, r.stderr.strip()))
        pw = pwd.getpwnam(PG_USER)
    return pw.pw_uid, pw.pw_gid


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


LIVE = []  # servers to stop at exit


def _owner_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans(base):
    """Stop and remove the clusters under base whose owner process is gone;
    returns their directories. A directory without a readable owner (being
    made right now, or not ours) is left alone."""
    gone = []
    for d in glob.glob(os.path.join(base, "kcov-pg-*")):
        try:
            pid = int(open(os.path.join(d, "owner")).read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if _owner_alive(pid):
            continue
        orphan = PgServer()
        orphan.dir = d
        orphan.stop()
        gone.append(d)
    return gone


class PgServer:
    """One cluster in a temporary directory; see the module comment."""

    def __init__(self, port=None):
        self.bindir = pg_bindir()
        self.port = port
        self.dir = None
        self.running = False

    # Commands run as the server's user: runuser from root, else directly.
    def _as_user(self, args):
        if os.geteuid() == 0:
            return ["runuser", "-u", PG_USER, "--"] + args
        return args

    def _run(self, args, what):
        r = subprocess.run(self._as_user(args), capture_output=True, text=True, cwd=self.dir)
        if r.returncode != 0:
            raise PgError("%s failed (%d): %s%s" % (what, r.returncode, r.stdout[-2000:],
                                                    r.stderr[-2000:]))
        return r

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def logfile(self):
        return os.path.join(self.dir, "server.log")

    @property
    def url(self):
        """libpq URI of the test database."""
        return "postgresql://%s@127.0.0.1:%d/%s" % (PG_USER, self.port, DB_NAME)

    def ctl_command(self, action):
        """The shell command that stops (action 'stop', fast) or starts the
        cluster (what start_server/stop_server run)."""
        if action == "stop":
            args = [self._bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"]
        else:
            args = [self._bin("pg_ctl"), "-D", self.data, "-l", self.logfile, "-w",
                    "-t", "60", "start"]
        return " ".join(shlex.quote(a) for a in self._as_user(args))

    def start(self):
        uid, gid = ensure_user()
        base = os.environ.get("TMPDIR", "/tmp")
        sweep_orphans(base)
        self.dir = tempfile.mkdtemp(prefix="kcov-pg-", dir=base)
        LIVE.append(self)
        try:
            with open(os.path.join(self.dir, "owner"), "w") as f:
                f.write("%d\n" % os.getpid())
            os.chown(self.dir, uid, gid)
            os.chmod(self.dir, 0o700)
            if self.port is None:
                self.port = free_port()
            self._run([self._bin("initdb"), "-D", self.data, "-U", PG_USER, "--auth=trust",
                       "--encoding=UTF8", "--locale=C", "--no-sync"], "initdb")
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("\n# kcov tests (tests/integration/pgserver.py)\n"
                        "listen_addresses = '127.0.0.1'\n"
                        "port = %d\n"
                        "unix_socket_directories = '%s'\n"
                        "max_connections = 200\n"
                        "shared_buffers = 32MB\n"
                        "synchronous_commit = on\n"
                        "fsync = on\n" % (self.port, self.dir))
            self.start_server()
            self._run([self._bin("createdb"), "-h", self.dir, "-p", str(self.port),
                       "-U", PG_USER, DB_NAME], "createdb")
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self):
        """Start the cluster (again) on the same port."""
        r = subprocess.run(self.ctl_command("start"), shell=True, capture_output=True,
                           text=True, cwd=self.dir)
        if r.returncode != 0:
            raise PgError("pg_ctl start failed (%d): %s %s\nserver log:\n%s"
                          % (r.returncode, r.stdout, r.stderr, self.log_text()))
        self.running = True

    def stop_server(self):
        """pg_ctl stop -m fast: connections are cut, the data stays."""
        r = subprocess.run(self.ctl_command("stop"), shell=True, capture_output=True,
                           text=True, cwd=self.dir)
        if r.returncode != 0:
            raise PgError("pg_ctl stop failed (%d): %s %s" % (r.returncode, r.stdout,
                                                               r.stderr))
        self.running = False

    def psql(self, sql):
        """Run SQL through psql on the test database; returns stdout
        (unaligned, tuples only)."""
        return self.psql_db(DB_NAME, sql)

    def psql_db(self, db, sql):
        """psql() on another database of this server."""
        r = self._run([self._bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                       "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", db,
                       "-c", sql], "psql")
        return r.stdout

    def log_text(self):
        try:
            return open(self.logfile, errors="replace").read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        """Stop the server (immediate if fast fails) and remove the cluster."""
        if self.dir is None:
            return
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            for mode in ("fast", "immediate"):
                r = subprocess.run(self._as_user([self._bin("pg_ctl"), "-D", self.data, "-m",
                                                  mode, "-w", "-t", "30", "stop"]),
                                   capture_output=True, text=True, cwd="/")
                if r.returncode == 0:
                    break
        self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        if self in LIVE:
            LIVE.remove(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


@atexit.register
def _stop_all():
    for s in list(LIVE):
        s.stop()


def _main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print("usage: pgserver.py run -- CMD [ARGS...]", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    # SIGTERM (ctest's timeout) must still remove the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with PgServer() as pg:
            env = dict(os.environ, KC_PG_URL=pg.url, KC_PG_DIR=pg.dir,
                       KC_PG_STOP=pg.ctl_command("stop"),
                       KC_PG_START=pg.ctl_command("start"))
            return subprocess.run(cmd, env=env).returncode
    except PgError as e:
        print("pgserver: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
