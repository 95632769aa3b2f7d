"""Build import of distribution kernel layouts (issue 23 item 3), and
import-build's progress and summary lines and asynchronous imports over
HTTP (item 4).

The miniature kernel of test_coverage.py (vmlinux + one module, compiled
with clang) is laid out the ways distributions and CI ship kernels, with
the real tools: a `make modules_install` tree (lib/modules/RELEASE with
modules.* files and build/source symlinks), modules compressed with xz,
zstd and gzip, and debug information split off with
`objcopy --only-keep-debug` / `--strip-debug` / `--add-gnu-debuglink`,
found by build id (DIR/.build-id/xx/yyyy.debug) or by debuglink name.
Every layout must import to exactly the same images, files, lines,
functions and point arrays as the plain build tree (compared row by row in
the database), and broken inputs must fail with a message naming the file.
"""
import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

from kcovlib import KCOVD, Server, check, run_tests, skipped, tmpdir
import test_coverage as tc

RELEASE = "6.1.0-kc-test"
STATE = {}
XZ, ZSTD = shutil.which("xz"), shutil.which("zstd")
OBJCOPY, READELF = shutil.which("objcopy"), shutil.which("readelf")


def sh(args, **kw):
    return tc.sh(args, **kw)


def build_id(path):
    m = re.search(r"Build ID: ([0-9a-f]+)", sh([READELF, "-n", path]))
    check(m, "%s has no build id" % path)
    return m.group(1)


def import_build(vmlinux, modules=None, debug_dir=None, want_ok=True):
    """kcovd import-build into a fresh database; returns (summary, dump)."""
    data = tmpdir("kcovd-distro-")
    args = [KCOVD, "import-build", "--data-dir", data, "--vmlinux", vmlinux]
    if modules:
        args += ["--modules", modules]
    if debug_dir:
        args += ["--debug-dir", debug_dir]
    p = subprocess.run(args, capture_output=True, text=True)
    if not want_ok:
        shutil.rmtree(data, ignore_errors=True)
        check(p.returncode != 0, "import of a broken layout succeeded: %s" % p.stdout)
        return None, p.stderr
    check(p.returncode == 0, "import-build %s: %s" % (args[4:], p.stderr))
    check("Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr)
    summary = json.loads(p.stdout)
    d = dump(os.path.join(data, "kcovd.db"))
    shutil.rmtree(data, ignore_errors=True)
    return summary, d


def dump(db):
    """Everything an import stores, without the file names it came from."""
    con = sqlite3.connect(db)
    q = lambda sql: [tuple(r) for r in con.execute(sql)]  # noqa: E731
    out = {
        "images": q("SELECT kind, name, build_id, text_base, points, skipped_points, "
                    "unresolved_points, hex(bits) FROM images ORDER BY kind, name"),
        "files": q("SELECT path, points, nlines, nfuncs, hex(lines) FROM files ORDER BY path"),
        "functions": q("SELECT f.path, fn.idx, fn.name, fn.line_start, fn.line_end, fn.points "
                       "FROM functions fn JOIN files f ON f.id = fn.file "
                       "ORDER BY f.path, fn.idx"),
        "file_points": q("SELECT f.path, i.name, hex(fp.bits), hex(fp.line_idx), "
                         "hex(fp.func_idx) FROM file_points fp JOIN files f ON f.id = fp.file "
                         "JOIN images i ON i.id = fp.image ORDER BY f.path, i.name"),
    }
    con.close()
    return out


def same_as_plain(what, summary, d):
    ps, pd = STATE["plain"]
    for k in ("build_id", "files", "functions", "points"):
        check(summary[k] == ps[k], "%s: summary %s %s != plain %s" % (what, k, summary[k], ps[k]))
    for table in pd:
        check(d[table] == pd[table], "%s: table %s differs from the plain import:\n%s\n%s"
              % (what, table, d[table][:3], pd[table][:3]))


def setup():
    root, src, vmlinux, mods, ko = tc.build_kernel()
    STATE.update(root=root, vmlinux=vmlinux, mods=mods, ko=ko)
    STATE["plain"] = import_build(vmlinux, mods)
    ps, pd = STATE["plain"]
    check(ps["points"] > 100 and ps["files"] > 40, "plain import too small: %s" % ps)
    check(any(r[0] == "module" and r[4] > 0 for r in pd["images"]), "no module points")
    check(all(r[6] == 0 for r in pd["images"]), "plain import has unresolved points")


def modules_install_tree(name, compress=None):
    """lib/modules/RELEASE as `make modules_install` leaves it; compress is
    None, "xz", "zst" or "gz". Returns the RELEASE directory."""
    top = os.path.join(STATE["root"], name, "lib", "modules", RELEASE)
    kdir = os.path.join(top, "kernel", "drivers", "minimod")
    os.makedirs(kdir)
    dst = os.path.join(kdir, "minimod.ko")
    shutil.copy(STATE.get("ko_for_tree", STATE["ko"]), dst)
    rel = "kernel/drivers/minimod/minimod.ko"
    if compress == "xz":
        sh([XZ, "--check=crc32", "--lzma2=dict=1MiB", dst])  # as kmod/kbuild call it
    elif compress == "zst":
        sh([ZSTD, "-q", "-T0", "--rm", dst])
    elif compress == "gz":
        sh(["gzip", "-9", "-n", dst])
    if compress:
        rel += "." + compress
    for f, text in (("modules.order", rel + "\n"), ("modules.dep", rel + ":\n"),
                    ("modules.builtin", "kernel/lib/beta.ko\n"), ("modules.alias", "")):
        with open(os.path.join(top, f), "w") as fh:
            fh.write(text)
    # build/ and source/ point at the build tree, which holds the same
    # module again: following them would import it twice.
    os.symlink(os.path.dirname(STATE["mods"]), os.path.join(top, "build"))
    os.symlink(os.path.dirname(STATE["mods"]), os.path.join(top, "source"))
    return top


def test_modules_install_tree():
    """--modules lib/modules/RELEASE: same import as the build tree."""
    top = modules_install_tree("mi-plain")
    same_as_plain("modules_install", *import_build(STATE["vmlinux"], top))


def test_compressed_modules():
    """.ko.xz, .ko.zst and .ko.gz, decompressed in memory."""
    for comp in ("xz", "zst", "gz"):
        top = modules_install_tree("mi-" + comp, comp)
        f = os.path.join(top, "kernel/drivers/minimod/minimod.ko." + comp)
        check(os.path.exists(f) and not os.path.exists(f[:-len(comp) - 1]),
              "%s: no compressed module" % comp)
        with open(f, "rb") as fh:
            check(fh.read(4)[:2] != b"\x7fE", "%s: module is not compressed" % comp)
        s, d = import_build(STATE["vmlinux"], top)
        same_as_plain("modules ." + comp, s, d)
        check([r[1] for r in d["images"] if r[0] == "module"] == ["minimod"],
              "%s: module name %s" % (comp, d["images"]))


def split(path, out_dir):
    """objcopy the DWARF of path into a debug file; returns (stripped
    binary, debug file). The stripped file carries a .gnu_debuglink."""
    base = os.path.basename(path)
    dbg = os.path.join(out_dir, base + ".debug")
    stripped = os.path.join(out_dir, base)
    sh([OBJCOPY, "--only-keep-debug", path, dbg])
    sh([OBJCOPY, "--strip-debug", "--add-gnu-debuglink=" + dbg, path, stripped])
    secs = sh([READELF, "-S", "-W", stripped])
    check(".debug_info" not in secs and ".gnu_debuglink" in secs,
          "%s: debug info not split off" % base)
    check(".debug_info" in sh([READELF, "-S", "-W", dbg]), "%s: no DWARF in %s" % (base, dbg))
    return stripped, dbg


def by_build_id(dbgroot, binary, dbg):
    bid = build_id(binary)
    d = os.path.join(dbgroot, ".build-id", bid[:2])
    os.makedirs(d, exist_ok=True)
    # Debian -dbg / Fedora debuginfo: the .debug name is a link or the file.
    os.symlink(dbg, os.path.join(d, bid[2:] + ".debug"))


def test_split_debug_by_build_id():
    """Stripped vmlinux and module, DWARF in DIR/.build-id/xx/yyyy.debug."""
    work = os.path.join(STATE["root"], "split")
    os.makedirs(os.path.join(work, "bin"))
    os.makedirs(os.path.join(work, "store"))
    dbgroot = os.path.join(work, "usr-lib-debug")
    vm, vmdbg = split(STATE["vmlinux"], os.path.join(work, "store"))
    ko, kodbg = split(STATE["ko"], os.path.join(work, "store"))
    shutil.move(vm, os.path.join(work, "bin", "vmlinux"))
    vm = os.path.join(work, "bin", "vmlinux")
    by_build_id(dbgroot, vm, vmdbg)
    by_build_id(dbgroot, ko, kodbg)
    STATE["ko_for_tree"] = ko
    try:
        top = modules_install_tree("mi-split-xz", "xz")
    finally:
        STATE.pop("ko_for_tree")
    same_as_plain("split debug by build id", *import_build(vm, top, dbgroot))
    # Without the debug dir the points stay, but nothing resolves: the
    # DWARF really comes from the .debug files.
    s, d = import_build(vm, top)
    ps, pd = STATE["plain"]
    check(s["points"] == ps["points"] and s["files"] == 0,
          "stripped import without --debug-dir: %s" % s)
    check(all(r[4] == r[6] for r in d["images"]), "points resolved without DWARF")
    # An unrelated debug dir finds nothing either.
    empty = os.path.join(work, "empty")
    os.makedirs(os.path.join(empty, ".build-id"))
    s, _ = import_build(vm, top, empty)
    check(s["files"] == 0, "empty debug dir resolved files: %s" % s)
    STATE["split"] = (vm, top, dbgroot)


def test_split_debug_by_debuglink():
    """No .build-id directory: the .gnu_debuglink name below the dir."""
    work = os.path.join(STATE["root"], "link")
    os.makedirs(os.path.join(work, "debug"))
    vm, _ = split(STATE["vmlinux"], os.path.join(work, "debug"))
    ko, _ = split(STATE["ko"], os.path.join(work, "debug"))
    bindir = os.path.join(work, "bin")
    os.makedirs(os.path.join(bindir, "mods"))
    shutil.move(vm, os.path.join(bindir, "vmlinux"))
    shutil.move(ko, os.path.join(bindir, "mods", "minimod.ko"))
    same_as_plain("split debug by debuglink",
                  *import_build(os.path.join(bindir, "vmlinux"), os.path.join(bindir, "mods"),
                                os.path.join(work, "debug")))
    # A stale debuglink target (the debug file of another build of the
    # vmlinux, here: its build id note changed) is refused by its build id:
    # vmlinux stays unresolved, the module (whose file is right) resolves.
    stale = os.path.join(work, "stale")
    os.makedirs(stale)
    bid = bytes.fromhex(build_id(os.path.join(bindir, "vmlinux")))
    data = open(os.path.join(work, "debug", "vmlinux.debug"), "rb").read()
    check(data.count(bid) == 1, "build id note not found once in vmlinux.debug")
    with open(os.path.join(stale, "vmlinux.debug"), "wb") as f:
        f.write(data.replace(bid, bytes(b ^ 0xFF for b in bid)))
    check(build_id(os.path.join(stale, "vmlinux.debug")) != bid.hex(), "build id unchanged")
    shutil.copy(os.path.join(work, "debug", "minimod.ko.debug"), stale)
    s, d = import_build(os.path.join(bindir, "vmlinux"), os.path.join(bindir, "mods"), stale)
    img = {r[1]: r for r in d["images"]}
    check(img["vmlinux"][6] == img["vmlinux"][4] > 0 and img["minimod"][6] == 0,
          "stale debuglink: %s" % [(r[1], r[4], r[6]) for r in d["images"]])


def test_import_over_http():
    """POST /api/v1/builds takes debug_dir and compressed modules too."""
    vm, top, dbgroot = STATE["split"]
    srv = Server().start()
    try:
        admin = srv.token("admin", "adm")
        body = json.dumps({"vmlinux": vm, "modules": top, "debug_dir": dbgroot}).encode()
        status, resp = srv.request("POST", "/api/v1/builds", body,
                                   {"Content-Type": "application/json"}, token=admin)
        check(status in (200, 201), "POST /api/v1/builds: %d %s" % (status, resp[:300]))
        j = json.loads(resp)
        ps, _ = STATE["plain"]
        check(j["points"] == ps["points"] and j["files"] == ps["files"], str(j))
        status, resp = srv.request("POST", "/api/v1/builds",
                                   json.dumps({"vmlinux": vm, "debug_dir": "relative"}).encode(),
                                   {"Content-Type": "application/json"}, token=admin)
        check(status == 400 and json.loads(resp)["code"] == "bad_input",
              "relative debug_dir: %d %s" % (status, resp[:200]))
    finally:
        srv.stop()
    d = dump(os.path.join(srv.data_dir, "kcovd.db"))
    for table in d:
        check(d[table] == STATE["plain"][1][table], "HTTP import: %s differs" % table)
    shutil.rmtree(srv.data_dir, ignore_errors=True)


def test_broken_compressed_module():
    """A truncated .ko.xz / .ko.zst / .ko.gz fails naming the file."""
    for comp in ("xz", "zst", "gz"):
        top = modules_install_tree("bad-" + comp, comp)
        f = os.path.join(top, "kernel/drivers/minimod/minimod.ko." + comp)
        data = open(f, "rb").read()
        with open(f, "wb") as fh:
            fh.write(data[:len(data) // 2])
        _, err = import_build(STATE["vmlinux"], top, want_ok=False)
        check("minimod.ko." + comp in err and comp.replace("zst", "zstd").replace("gz", "gzip")
              in err, "%s: unclear error: %s" % (comp, err))
    # Compressed garbage that is no ELF file.
    top = os.path.join(STATE["root"], "bad-elf")
    os.makedirs(top)
    with gzip.open(os.path.join(top, "junk.ko.gz"), "wb") as fh:
        fh.write(b"not an ELF file\n" * 100)
    _, err = import_build(STATE["vmlinux"], top, want_ok=False)
    check("junk.ko.gz" in err and "not an ELF" in err, "garbage module: %s" % err)


SUMMARY = re.compile(r"^import-build: imported build ([0-9a-f]+): (\d+) binaries, (\d+) points, "
                     r"(\d+) files, (\d+) functions, (\d+) sources in [0-9.]+ s$", re.M)


def check_summary_line(text, what):
    ps, _ = STATE["plain"]
    m = SUMMARY.search(text)
    check(m, "%s: no summary line in %r" % (what, text[-500:]))
    got = (m.group(1),) + tuple(int(x) for x in m.group(2, 3, 4, 5, 6))
    want = (ps["build_id"], len(ps["images"]), ps["points"], ps["files"], ps["functions"],
            ps["sources"])
    check(got == want, "%s: summary line %s, import says %s" % (what, got, want))


def test_import_progress():
    """A final summary line always; progress only when stderr is a tty."""
    import pty
    data = tmpdir("kcovd-progress-")
    args = [KCOVD, "import-build", "--data-dir", data, "--vmlinux", STATE["vmlinux"],
            "--modules", STATE["mods"]]
    p = subprocess.run(args, capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout)["points"] == STATE["plain"][0]["points"],
          "import-build: %s" % p.stderr)
    check_summary_line(p.stderr, "pipe")
    check("\r" not in p.stderr and "binaries," not in p.stderr.replace(
        SUMMARY.search(p.stderr).group(0), ""), "progress on a pipe: %r" % p.stderr)
    master, slave = pty.openpty()
    try:
        q = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        slave = -1
        out = q.stdout.read()
        tty = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            tty += chunk
        check(q.wait(timeout=60) == 0, "import-build on a tty failed: %r" % tty)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    text = tty.decode(errors="replace").replace("\r\n", "\n")
    ps = STATE["plain"][0]
    n = len(ps["images"])
    check(json.loads(out)["build_id"] == ps["build_id"], "stdout on a tty: %r" % out)
    check("\rimport-build: %d/%d binaries, %d points, %d files; storing\n"
          % (n, n, ps["points"], ps["files"]) in text, "no final progress line: %r" % text)
    check(re.search(r"\rimport-build: 1/%d binaries, \d+ points" % n, text),
          "no per-binary progress: %r" % text)
    check_summary_line(text, "tty")
    shutil.rmtree(data, ignore_errors=True)


def poll_job(srv, url, token, deadline=60):
    t0 = time.time()
    while True:
        status, body = srv.request("GET", url, token=token)
        check(status == 200, "GET %s: %d %s" % (url, status, body[:300]))
        j = json.loads(body)
        if j["state"] != "running":
            return j
        check(time.time() - t0 < deadline, "job %s still running" % url)
        time.sleep(0.05)


def test_async_import_over_http():
    """POST /api/v1/builds async: 202 + job URL, polled to the same import."""
    vm, top, dbgroot = STATE["split"]
    ps, pd = STATE["plain"]
    srv = Server().start()
    try:
        admin, read = srv.token("admin", "adm"), srv.token("read", "rd")
        hdr = {"Content-Type": "application/json"}
        body = json.dumps({"vmlinux": vm, "modules": top, "debug_dir": dbgroot,
                           "async": True}).encode()
        status, resp = srv.request("POST", "/api/v1/builds", body, hdr, token=admin)
        check(status == 202, "async POST: %d %s" % (status, resp[:300]))
        j = json.loads(resp)
        check(j["state"] == "running" and j["url"] == "/api/v1/jobs/" + j["job"] and
              re.fullmatch(r"[0-9a-f]{32}", j["job"]), "202 body: %s" % j)
        done = poll_job(srv, j["url"], admin)
        check(done["state"] == "done" and done["kind"] == "build.import" and
              done["finished"] >= done["created"], "job: %s" % done)
        res = done["result"]
        for k in ("build_id", "files", "functions", "points"):
            check(res[k] == ps[k], "async result %s: %s != %s" % (k, res[k], ps[k]))
        # The import is stored and audited like a synchronous one.
        tree = srv.get("/api/v1/builds/%s/tree" % ps["build_id"])
        check(tree["points_total"] == ps["points"], "tree after the async import: %s" % tree)
        audit = srv.get("/api/v1/audit", token=admin)
        check([a["actor"].startswith("token ") for a in audit["audit"]
               if a["action"] == "build.import" and a["target"] == ps["build_id"]] == [True],
              "audit of the async import (by the admin token): %s" % audit)
        # Prefer: respond-async asks the same; a failing import is a failed job.
        status, resp = srv.request("POST", "/api/v1/builds",
                                   json.dumps({"vmlinux": "/nonexistent/vmlinux"}).encode(),
                                   dict(hdr, Prefer="respond-async, wait=10"), token=admin)
        check(status == 202, "Prefer: respond-async: %d %s" % (status, resp[:200]))
        failed = poll_job(srv, json.loads(resp)["url"], admin)
        check(failed["state"] == "failed" and failed["error"]["code"] == "bad_input" and
              failed["error"]["status"] == 400 and
              "import failed" in failed["error"]["error"] and
              "/nonexistent/vmlinux" in failed["error"]["error"] and "result" not in failed,
              "failed job: %s" % failed)
        # Bad requests are still refused at once, async or not.
        for b, want in (({"vmlinux": vm, "async": "yes"}, 400),
                        ({"vmlinux": "relative", "async": True}, 400)):
            status, resp = srv.request("POST", "/api/v1/builds", json.dumps(b).encode(), hdr,
                                       token=admin)
            check(status == want and json.loads(resp)["code"] == "bad_input",
                  "%s: %d %s" % (b, status, resp[:200]))
        # Jobs are an admin resource; unknown ids are 404.
        url = j["url"]
        for tok, want in ((None, 401), (read, 401)):  # as for /api/v1/audit
            status, _ = srv.request("GET", url, token=tok)
            check(status == want, "GET job with %s: %d" % (tok and "read token", status))
        for bad in ("0" * 32, "nothex", "A" * 32, "0" * 33):
            status, resp = srv.request("GET", "/api/v1/jobs/" + bad, token=admin)
            check(status == 404 and json.loads(resp)["code"] == "not_found",
                  "job %s: %d" % (bad, status))
    finally:
        srv.stop()
    d = dump(os.path.join(srv.data_dir, "kcovd.db"))
    for table in d:
        check(d[table] == pd[table], "async import: %s differs" % table)
    shutil.rmtree(srv.data_dir, ignore_errors=True)


def main():
    missing = [n for n, v in (("clang", tc.CLANG), ("ld.lld", tc.LLD), ("xz", XZ),
                              ("zstd", ZSTD), ("objcopy", OBJCOPY), ("readelf", READELF),
                              ("KC_FIX_SOURCE", tc.FIXSRC)) if not v]
    if missing:
        if skipped("distro-layouts", "missing " + ", ".join(missing)):
            sys.exit(0)
        print("FAIL: missing " + ", ".join(missing) + " (scripts/install-deps.sh installs them)")
        sys.exit(1)
    setup()
    try:
        run_tests([test_modules_install_tree, test_compressed_modules,
                   test_split_debug_by_build_id, test_split_debug_by_debuglink,
                   test_import_over_http, test_broken_compressed_module,
                   test_import_progress, test_async_import_over_http])
    finally:
        shutil.rmtree(STATE["root"], ignore_errors=True)


if __name__ == "__main__":
    main()
