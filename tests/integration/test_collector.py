"""kcov-collect against the KCOV stand-in: unique and fallback modes agree,
overflow detection, --keep-bitmap, strict snapshot parsing, kernels without
module support, which problem is reported first, and the C API used from
forked children (kcov-fuzz-executor)."""
import os
import re
import shutil
import subprocess

from kcovlib import (COLLECT, KERNEL, Server, check_output, LINK_TEXT, WORKLOAD, Machine, check, collect,
                     expected, run_tests, started)

KASLR = 0x1E000000
BASES = {"standin_net": 0xFFFFFFFFC0010000, "standin_fs": 0xFFFFFFFFC0040000}
BOOT = "3d6f1c2a-0000-4000-8000-000000000001"


def raw_pcs(syscalls):
    """PCs as the (emulated) kernel reports them: link-time for vmlinux,
    runtime - kaslr for modules."""
    out = set()
    for s in syscalls:
        for binary, off in KERNEL["syscalls"][s]:
            if binary == "vmlinux":
                out.add(LINK_TEXT + off + 5)
            else:
                text = BASES[binary] + int(KERNEL["modules"][binary]["text_offset"], 0)
                out.add(text + off + 5 - KASLR)
    return out


def newest(m):
    return m.show(m.reports()[-1])


def test_unique_and_trace_agree():
    m = Machine("agree", KASLR, BASES, BOOT)
    work = ["read", "open", "sendmsg"]
    m.run(work, extra=["--mode", "unique"])
    u = newest(m)
    m.run(work, extra=["--mode", "trace"])
    t = newest(m)
    check(u["runs"][0]["mode"] == "unique", "first run not unique: %s" % u["runs"])
    check(t["runs"][0]["mode"] == "trace", "second run not trace: %s" % t["runs"])
    check(u["pcs"] == t["pcs"], "unique %d PCs vs trace %d" % (len(u["pcs"]), len(t["pcs"])))
    check(u["pcs"] == raw_pcs(work), "PCs differ from the kernel description")
    m.cleanup()


def test_fallback_without_unique_mode():
    m = Machine("fallback", KASLR, BASES, BOOT, unique="enotty")
    p = m.run(["read", "write"])
    check("coverage mode: trace" in p.stderr, "no fallback message: " + p.stderr)
    r = newest(m)
    check(r["runs"][0]["mode"] == "trace" and r["runs"][0]["bitmap_words"] == "0", str(r["runs"]))
    check(r["pcs"] == raw_pcs(["read", "write"]), "fallback PCs differ")
    p = m.run(["read"], extra=["--mode", "unique"], check_rc=False)
    check(p.returncode == 125 and "ENOTTY" in p.stderr, "forced unique: %s" % p.stderr)
    m2 = Machine("notsupp", KASLR, BASES, BOOT, unique="enotsupp")
    p = m2.run(["read"], extra=["--mode", "unique"], check_rc=False)
    check(p.returncode == 125 and "ENOTSUPP" in p.stderr, "ENOTSUPP: %s" % p.stderr)
    m.cleanup()
    m2.cleanup()


def test_overflow_trace_not_unique():
    m = Machine("overflow", KASLR, BASES, BOOT)
    small = ["--words", "512", "--bitmap-words", "64"]
    m.run(["poll_loop"], extra=["--mode", "trace"] + small)
    t = newest(m)["runs"][0]
    m.run(["poll_loop"], extra=["--mode", "unique"] + small)
    u = newest(m)["runs"][0]
    check(t["overflowed"] == "1" and t["used"] == t["capacity"] == "511", "trace: %s" % t)
    check(u["overflowed"] == "0" and int(u["used"]) < int(u["capacity"]), "unique: %s" % u)
    check(u["capacity"] == str(512 - 64 - 1), "unique capacity: %s" % u)
    m.cleanup()


def test_keep_bitmap_sends_only_new():
    for mode in ("unique", "trace"):
        m = Machine("keep-" + mode, KASLR, BASES, BOOT)
        m.run(["read", "open"], extra=["--mode", mode, "--repeat", "2", "--keep-bitmap"])
        first, second = (m.show(n) for n in m.reports())
        check(len(first["pcs"]) > 50, "%s first run: %d PCs" % (mode, len(first["pcs"])))
        check(len(second["pcs"]) == 0 and second["runs"][0]["npcs"] == "0",
              "%s: kept bitmap still sent %d PCs" % (mode, len(second["pcs"])))
        # A run that adds a syscall after the kept runs reports only what it
        # adds: the workload does read+open on its first repeat and read+write
        # on the second.
        flag = os.path.join(m.dir, "second")
        script = ('if [ -e %s ]; then exec %s read write; else touch %s; exec %s read open; fi'
                  % (flag, WORKLOAD, flag, WORKLOAD))
        n = len(m.reports())
        p = collect(["run", "--spool", m.spool, "--machine", m.name, "--device", m.device,
                     "--sysroot", m.sysroot, "--words", "65536", "--bitmap-words", "1024",
                     "--mode", mode, "--repeat", "2", "--keep-bitmap", "--",
                     "/bin/sh", "-c", script], env=m.env())
        check(p.returncode == 0 and len(m.reports()) == n + 2, "scripted keep-bitmap run: %s"
              % p.stderr)
        a, b = (m.show(r) for r in m.reports()[n:])
        adds = raw_pcs(["read", "write"]) - raw_pcs(["read", "open"])
        check(adds and a["pcs"] == raw_pcs(["read", "open"]), "%s: first repeat" % mode)
        check(b["pcs"] == adds and b["runs"][0]["npcs"] == str(len(adds)),
              "%s: kept bitmap sent %d PCs, the new syscall adds %d (extra %d, missing %d)"
              % (mode, len(b["pcs"]), len(adds), len(b["pcs"] - adds), len(adds - b["pcs"])))
        m.cleanup()
    m = Machine("nokeep", KASLR, BASES, BOOT)
    m.run(["read", "open"], extra=["--repeat", "2"])
    a, b = (m.show(n) for n in m.reports())
    check(a["pcs"] == b["pcs"] and a["upload_id"] != b["upload_id"], "without keep-bitmap")
    m.cleanup()


def test_malformed_snapshot_is_a_clear_error():
    m = Machine("broken", KASLR, BASES, BOOT)
    path = os.path.join(m.sysroot, "proc", "kallsyms")
    lines = open(path).read().splitlines()
    lines[3] = "ffffffffzz000000 T broken"
    open(path, "w").write("\n".join(lines) + "\n")
    p = m.run(["read"], check_rc=False)
    check(p.returncode == 125, "exit %d" % p.returncode)
    check("proc/kallsyms:4:" in p.stderr, "message does not name file:line: " + p.stderr)
    check(m.reports() == [] if os.path.isdir(m.spool) else True, "a report was spooled")
    m.cleanup()


def without_modules(m):
    """Make m's sysroot a kernel built with CONFIG_MODULES=n: no
    /proc/modules, no /sys/module."""
    os.unlink(os.path.join(m.sysroot, "proc", "modules"))
    shutil.rmtree(os.path.join(m.sysroot, "sys", "module"))


def test_kernel_without_module_support():
    m = Machine("nomodules", KASLR, BASES, BOOT)
    without_modules(m)
    work = ["read", "write"]  # vmlinux only: this kernel has no modules
    # The map as the server will see it: the kernel, no module lines.
    p = collect(["addrmap", "--sysroot", m.sysroot + "/", "--machine", m.name])
    check(p.returncode == 0, "addrmap failed (%d): %s" % (p.returncode, p.stderr))
    lines = p.stdout.splitlines()
    check("build_id " + KERNEL["build_id"] in lines, "addrmap: " + p.stdout)
    check(not [l for l in lines if l.startswith("module ")], "modules in the map: " + p.stdout)
    srv = started(Server().start())
    p = m.run(work, server=srv.url, token=srv.token())
    check("delivered 1 report(s)" in p.stderr and "1 map(s) sent" in p.stderr,
          "report or map not pushed: " + p.stderr)
    check(m.reports() == [], "spool not empty after push: %s" % m.reports())
    builds = srv.get("/api/v1/builds")["builds"]
    check(len(builds) == 1 and builds[0]["build_id"] == KERNEL["build_id"] and
          builds[0]["modules"] == 0, "builds: %s" % builds)
    check(srv.pcs(KERNEL["build_id"]) == expected(work), "canonical coverage differs")
    # The push says what it delivered: the report's PCs, its bytes, where.
    m_ = re.search(r"delivered 1 report\(s\) \(0 duplicate\), (\d+) PCs, (\d+) bytes to (\S+);"
                   r".* 0 still spooled$", p.stderr, re.M)
    check(m_ and int(m_.group(1)) == sum(map(len, expected(work).values())) and int(m_.group(2)) > 0 and
          m_.group(3) == srv.url, "push summary line: " + p.stderr)
    machines = srv.get("/api/v1/machines")["machines"]
    check(machines[0]["reports"] == 1 and machines[0]["unknown_pcs"] == 0, str(machines))
    # Later runs of the same boot (map already spooled) work too.
    p = m.run(["getpid"], server=srv.url, token=srv.token())
    check("delivered 1 report(s)" in p.stderr and "0 map(s) sent" in p.stderr, p.stderr)
    srv.stop()
    m.cleanup()


def test_missing_device_reported_first():
    m = Machine("nodevice", KASLR, BASES, BOOT)
    without_modules(m)
    # The address map is broken too (kptr_restrict zeroes kallsyms), but the
    # missing kcov device is what the user must fix first.
    path = os.path.join(m.sysroot, "proc", "kallsyms")
    zeroed = ["0" * 16 + line[16:] for line in open(path).read().splitlines()]
    open(path, "w").write("\n".join(zeroed) + "\n")
    device = os.path.join(m.dir, "debug", "kcov")
    p = m.run(["read"], extra=["--device", device], check_rc=False)
    check(p.returncode == 125, "exit %d: %s" % (p.returncode, p.stderr))
    check(p.stderr == "kcov-collect: %s: No such file or directory (is debugfs mounted and "
          "CONFIG_KCOV set?)\n" % device, "device not reported first: %r" % p.stderr)
    check(not os.path.isdir(m.spool) or m.reports() == [], "a report was spooled")
    # A device this user may not open is a different fix: run as root. (As
    # root, run the collector as nobody: root opens any file.)
    device = os.path.join(m.dir, "kcov-root-only")
    open(device, "w").close()
    os.chmod(device, 0)
    as_user = {"user": 65534, "group": 65534} if os.geteuid() == 0 else {}
    p = collect(["run", "--spool", m.spool, "--device", device,
                 "--sysroot", m.sysroot, "--", "true"], **as_user)
    check(p.returncode == 125 and p.stderr == "kcov-collect: %s: Permission denied (run as "
          "root)\n" % device, "unreadable device: %r" % p.stderr)
    # With the device there, the address map's problem is named, with what
    # to do, one slash between sysroot and path, and a final newline.
    p = m.run(["read"], extra=["--sysroot", m.sysroot + "/"], check_rc=False)
    want = ("kcov-collect: address map: %s/proc/kallsyms: all addresses are 0: run as root or "
            "set kernel.kptr_restrict=0 (sysctl)\n" % m.sysroot)
    check(p.returncode == 125 and p.stderr.endswith(want), "run: %r" % p.stderr)
    p = collect(["addrmap", "--sysroot", m.sysroot + "/"])
    check(p.returncode == 125 and p.stdout == "" and
          p.stderr == want.replace("address map: ", ""), "addrmap: %r" % p.stderr)
    m.cleanup()


def test_remote_coverage():
    m = Machine("remote", KASLR, BASES, BOOT)
    m.run(["usb_submit"], extra=["--remote-handle", "0x42"])
    r = newest(m)
    run = r["runs"][0]
    remote = {LINK_TEXT + off + 5 for b, off in KERNEL["remote"]["usb_submit"] if b == "vmlinux"}
    check(int(run["remote_capacity"]) > 0 and int(run["remote_used"]) > 0, "remote run: %s" % run)
    check(remote <= r["pcs"], "remote PCs missing from the report")
    check(raw_pcs(["usb_submit"]) <= r["pcs"], "local PCs missing with remote coverage on")
    m.run(["usb_submit"])
    plain = newest(m)
    check(not (remote & plain["pcs"]), "remote PCs appear without --remote-handle")
    m.cleanup()


def test_exit_status_and_duration_recorded():
    m = Machine("status", KASLR, BASES, BOOT)
    p = m.run(["no_such_syscall"], check_rc=False)
    r = newest(m)["runs"][0]
    check(p.returncode != 0 and r["exit_status"] != "0", "status %d %s" % (p.returncode, r))
    check(int(r["duration_us"]) > 0, "no duration")
    # A workload's own exit status 126 is its business, not a collector error.
    n = len(m.reports())
    args = [COLLECT, "run", "--spool", m.spool, "--machine", m.name, "--device", m.device,
            "--sysroot", m.sysroot, "--", "/bin/sh", "-c", "exit 126"]
    p = collect(args[1:], env=m.env())
    check(p.returncode == 126 and len(m.reports()) == n + 1, "exit 126: %d %s" % (p.returncode, p.stderr))
    check(newest(m)["runs"][0]["exit_status"] == str(126 << 8), "recorded status")
    m.cleanup()


def test_executor_children_flush_distinct_reports():
    """kcov-fuzz-executor (tests/kernel/executor.c) runs each program in a
    forked child that calls kc_session_begin/end/flush on the session it
    inherited: every program must arrive as a report of its own (the upload
    id is drawn at the flush; an inherited one would make all of them one
    report, spool file and server row)."""
    m = Machine("executor", KASLR, BASES, BOOT)
    work = os.path.join(m.dir, "work")
    os.makedirs(work)
    for mode in ("unique", "trace"):
        p = check_output("kcov-fuzz-executor", subprocess.run(
            [os.environ["KC_FUZZ_EXECUTOR"], "--spool", m.spool, "--machine", m.name,
             "--device", m.device, "--sysroot", m.sysroot, "--mode", mode, "--seed", "7",
             "--programs", "5", "--calls", "6", "--words", "65536", "--bitmap-words", "1024",
             "--workdir", work, "--link-text", hex(LINK_TEXT)],
            env=m.env(), capture_output=True, text=True))
        check(p.returncode == 0 and "mode=%s seed=7 programs=5 reported=5" % mode in p.stdout,
              "executor (%s): %d %s %s" % (mode, p.returncode, p.stdout, p.stderr[-500:]))
    reps = [m.show(r) for r in m.reports()]
    ids = {r["upload_id"] for r in reps}
    check(os.listdir(work) == [], "program directories left: %s" % os.listdir(work))
    runs = sorted((r["runs"][0]["mode"], r["runs"][0]["workload"]) for r in reps)
    check(len(reps) == 10 and len(ids) == 10 and all(len(r["runs"]) == 1 for r in reps),
          "%d reports, %d upload ids" % (len(reps), len(ids)))
    check(runs == sorted((mo, "prog-7-%d" % i) for mo in ("unique", "trace") for i in range(5)),
          "runs: %s" % runs)
    check(os.listdir(work) == [], "program directories left: %s" % os.listdir(work))
    # Programs past --timeout-ms are stopped (SIGUSR1 from the parent) and
    # still reported, with exit status 124.
    p = check_output("kcov-fuzz-executor", subprocess.run(
        [os.environ["KC_FUZZ_EXECUTOR"], "--spool", m.spool, "--machine", m.name,
         "--device", m.device, "--sysroot", m.sysroot, "--seed", "8", "--programs", "3",
         "--calls", "1000", "--timeout-ms", "1", "--workdir", work, "--words", "65536",
         "--bitmap-words", "1024", "--link-text", hex(LINK_TEXT)],
        env=m.env(), capture_output=True, text=True))
    check(p.returncode == 0 and "reported=3 timed_out=3 failed=0" in p.stdout,
          "timeouts: %d %s %s" % (p.returncode, p.stdout, p.stderr[-500:]))
    timed = [r for r in (m.show(f) for f in m.reports()) if r["runs"][0]["workload"].startswith("prog-8-")]
    check(len(timed) == 3 and all(r["runs"][0]["exit_status"] == "124" for r in timed),
          "timed-out runs: %s" % [r["runs"] for r in timed])
    srv = Server().start()
    m.delivered(srv.url, srv.token())
    got = srv.get("/api/v1/reports?machine=executor&limit=100")["reports"]
    check(len(got) == 13, "%d reports at kcovd" % len(got))
    srv.stop()
    m.cleanup()


if __name__ == "__main__":
    run_tests([test_unique_and_trace_agree, test_fallback_without_unique_mode,
               test_overflow_trace_not_unique, test_keep_bitmap_sends_only_new,
               test_malformed_snapshot_is_a_clear_error, test_remote_coverage,
               test_exit_status_and_duration_recorded, test_kernel_without_module_support,
               test_missing_device_reported_first, test_executor_children_flush_distinct_reports])
