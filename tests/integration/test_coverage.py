"""Build import and coverage queries, end to end.

A miniature kernel (vmlinux + one module) is compiled with clang from the
tests/symbolize fixture sources, laid out in a small source tree
(kernel/, lib/, include/, drivers/minimod/). Its coverage points and their
lines come from an independent oracle (llvm-objdump for the call sites,
llvm-addr2line for the first inline frame). Coverage with chosen PCs (and a
few bogus ones) is pushed to a real kcovd as wire frames made by
kc-mkframe, before the build is imported; then every query is checked
against what the oracle predicts, and genhtml must render the LCOV export
with the same totals.
"""
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

from kcovlib import KCOVD, Server, check, require_tools, run_tests, tmpdir

MKFRAME = os.environ.get("KC_MKFRAME")
FIXSRC = os.environ.get("KC_FIX_SOURCE")
LINK = 0xFFFFFFFF81000000
KASLR = 0x2A000000
MOD_BASE = 0xFFFFFFFFC0020000
MOD_TEXT = MOD_BASE + 0x1000
MOD_SIZE = 0x20000
MACHINE = "cov-machine"
BOOT = "8f1c2a3d-0000-4000-8000-0000000000c0"


def tool(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


CLANG = tool("clang", "clang-14")
LLD = tool("ld.lld", "ld.lld-14")
OBJDUMP = tool("llvm-objdump", "llvm-objdump-14")
ADDR2LINE = tool("llvm-addr2line", "llvm-addr2line-14")
GENHTML = tool("genhtml")


def require_build_tools(git=False):
    """Returns when the toolchain the coverage suites build their miniature
    kernels with is there (and git, for the suites with source revisions);
    otherwise exits as kcovlib.require_tools does."""
    tools = [("clang", CLANG), ("ld.lld", LLD), ("llvm-objdump", OBJDUMP),
             ("llvm-addr2line", ADDR2LINE)]
    if git:
        tools.append(("git", tool("git")))
    require_tools("coverage", tuple(tools + [("KC_MKFRAME", MKFRAME), ("KC_FIX_SOURCE", FIXSRC)]))

# Where each fixture source goes in the miniature tree, and the file that
# declares each function (a point belongs to a function only when the
# function is declared in the point's own file).
LAYOUT = {"alpha.c": "kernel/alpha.c", "beta.c": "lib/beta.c", "start.c": "kernel/start.c",
          "modmain.c": "drivers/minimod/modmain.c", "helpers.h": "include/helpers.h"}
DECL = {"alpha_sum": "kernel/alpha.c", "alpha_helper": "kernel/alpha.c",
        "alpha_entry": "kernel/alpha.c", "beta_store": "lib/beta.c", "beta_run": "lib/beta.c",
        "start": "kernel/start.c", "minimod_work": "drivers/minimod/modmain.c",
        "minimod_init": "drivers/minimod/modmain.c", "clamp_add": "include/helpers.h",
        "pick_max": "include/helpers.h", "count_bits": "include/helpers.h"}
# Generated files lib/gen/gNN.c (enough for the server's large-walk paths).
NGEN = 40
GEN = ["lib/gen/g%02d.c" % i for i in range(NGEN)]
for _i in range(NGEN):
    DECL["gen_%02d" % _i] = GEN[_i]
ALLFILES = sorted(set(LAYOUT.values()) | set(GEN))
KFLAGS = ["-O2", "-g", "-fno-pic", "-mcmodel=kernel", "-ffreestanding", "-fno-builtin",
          "-fno-stack-protector", "-fno-asynchronous-unwind-tables"]

STATE = {}


def sh(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    check(p.returncode == 0, "%s failed (%d): %s" % (args[0], p.returncode, p.stderr[-2000:]))
    return p.stdout


def build_kernel():
    """Compile the fixture into tmp/src (sources) and tmp/out (binaries)."""
    root = tmpdir("kcov-cov-kernel-")
    src, out, mods = (os.path.join(root, d) for d in ("src", "out", "modules"))
    for d in ("kernel", "lib", "lib/gen", "include", "drivers/minimod"):
        os.makedirs(os.path.join(src, d))
    os.makedirs(out)
    os.makedirs(os.path.join(mods, "kernel", "drivers"))
    for name, rel in LAYOUT.items():
        shutil.copy(os.path.join(FIXSRC, name), os.path.join(src, rel))
    objs = {}
    sh([CLANG] + KFLAGS + ["-c", os.path.join(FIXSRC, "cov.c"), "-o",
                           os.path.join(out, "cov.o")])
    for i, rel in enumerate(GEN):
        with open(os.path.join(src, rel), "w") as f:
            # conditional stores keep real branches (a point per block)
            f.write("%sint gen_sink;\nint gen_%02d(int x)\n{\n\tif (x > %d)\n"
                    "\t\tgen_sink = x;\n\tif (x & 1)\n\t\tgen_sink += 2;\n\treturn x;\n}\n"
                    % ("" if i == 0 else "extern ", i, i))
    for name in ["alpha.c", "beta.c", "start.c", "modmain.c"] + GEN:
        o = os.path.join(out, os.path.basename(name).replace(".c", ".o"))
        sh([CLANG] + KFLAGS + ["-fsanitize-coverage=trace-pc", "-Iinclude", "-c",
                               LAYOUT.get(name, name), "-o", o], cwd=src)
        objs[name] = o
    vmlinux = os.path.join(out, "vmlinux")
    sh([LLD, "-static", "--build-id=sha1", "-T", os.path.join(FIXSRC, "vmlinux.lds"),
        objs["alpha.c"], objs["beta.c"], objs["start.c"], os.path.join(out, "cov.o"),
        "-o", vmlinux] + [objs[g] for g in GEN])
    ko = os.path.join(mods, "kernel", "drivers", "minimod.ko")
    sh([LLD, "-r", "--build-id=sha1", "-T", os.path.join(FIXSRC, "module.lds"),
        objs["alpha.c"], objs["beta.c"], objs["modmain.c"], "-o", ko])
    return root, src, vmlinux, mods, ko


def call_sites(path, module):
    """Call-site offsets of __sanitizer_cov_trace_pc (module: .text only)."""
    out = sh([OBJDUMP, "-dr" if module else "-d", "--no-show-raw-insn", path])
    sites, section = [], ""
    for line in out.splitlines():
        m = re.match(r"Disassembly of section (\S+):", line)
        if m:
            section = m.group(1)
            continue
        if module:
            m = re.match(r"\s*([0-9a-f]+):\s+R_X86_64_(PLT32|PC32)\s+__sanitizer_cov_trace_pc-0x4",
                         line)
            if m and section == ".text":
                sites.append(int(m.group(1), 16) - 1)
        else:
            m = re.match(r"\s*([0-9a-f]+):\s+call\w*\s+\S+\s+<__sanitizer_cov_trace_pc>", line)
            if m:
                sites.append(int(m.group(1), 16) - LINK)
    return sorted(set(sites))


def frames(path, addrs, src):
    """First inline frame (file relative to src, line, function) per address."""
    out = sh([ADDR2LINE, "-a", "-i", "-f", "-e", path], input="".join("0x%x\n" % a for a in addrs))
    res, lines, i = [], out.splitlines(), 0
    while i < len(lines):
        check(lines[i].startswith("0x"), "addr2line output: %r" % lines[i])
        func, loc = lines[i + 1], lines[i + 2]
        i += 3
        while i < len(lines) and not lines[i].startswith("0x"):
            i += 1
        file, _, line = loc.rpartition(":")
        line = int(re.match(r"\d+", line).group(0)) if re.match(r"\d+", line) else 0
        if file != "??":
            file = os.path.relpath(os.path.normpath(os.path.join(src, file)), src)
        res.append((file, line, func))
    return res


def oracle(vmlinux, ko, src):
    """points: {(binary, offset): (file, line, function or None)}"""
    pts = {}
    for binary, path, module, base in (("vmlinux", vmlinux, False, LINK),
                                       ("minimod", ko, True, 0)):
        offs = call_sites(path, module)
        check(offs, "no coverage points in " + path)
        for off, (file, line, func) in zip(offs, frames(path, [base + o for o in offs], src)):
            if file == "??":
                continue
            pts[(binary, off)] = (file, line, func if DECL.get(func) == file else None)
    return pts


def expect_file(pts, covered, path):
    """Expected per-line (covered, total) and per-function (covered, total)."""
    lines, funcs = {}, {}
    for key, (file, line, func) in pts.items():
        if file != path:
            continue
        c = 1 if key in covered else 0
        if line:
            t = lines.setdefault(line, [0, 0])
            t[0] += c
            t[1] += 1
        if func:
            t = funcs.setdefault(func, [0, 0])
            t[0] += c
            t[1] += 1
    return lines, funcs


def state(c, t):
    return "covered" if c == t else "partial" if c else "uncovered"


def mkframe(kind, *args):
    path = os.path.join(STATE["root"], "frame-%d" % len(os.listdir(STATE["root"])))
    sh([MKFRAME, kind, path] + [str(a) for a in args])
    return open(path, "rb").read()


def pc_of(key):
    binary, off = key
    if binary == "vmlinux":
        return "0x%x" % (LINK + off + 5)
    return "0x%x" % (MOD_TEXT + off + 5 - KASLR)


def push_report(srv, tok, label, seed, pcs):
    frame = mkframe("report", MACHINE, BOOT, label, seed, *pcs)
    status, body = srv.post_frame("/api/v1/reports", frame, tok)
    check(status == 200, "report %s: %d %s" % (label, status, body))
    return json.loads(body)


def api(what, **params):
    q = urllib.parse.urlencode(params, doseq=True)
    return STATE["srv"].get("/api/v1/builds/%s/%s%s" % (STATE["build_id"], what,
                                                         "?" + q if q else ""))


def setup():
    root, src, vmlinux, mods, ko = build_kernel()
    STATE.update(root=root, src=src, vmlinux=vmlinux, mods=mods, ko=ko)
    pts = oracle(vmlinux, ko, src)
    STATE["pts"] = pts
    # Chosen coverage. A: all of alpha_entry (vmlinux) and of minimod_work
    # (module), one point of each multi-point helpers.h line (partial);
    # B: everything in lib/beta.c (vmlinux) and the first point of A.
    by = lambda pred: sorted(k for k, v in pts.items() if pred(k, v))
    a = set(by(lambda k, v: v[2] == "alpha_entry" and k[0] == "vmlinux"))
    a |= set(by(lambda k, v: v[2] == "minimod_work"))
    # even gen files: the first branch only (partial lines and functions)
    a |= set(by(lambda k, v: v[0] in GEN[::2] and v[1] <= 5))
    seen = {}
    for k, v in sorted(pts.items()):
        if v[0] == "include/helpers.h" and k[0] == "vmlinux" and v[1]:
            seen.setdefault(v[1], []).append(k)
    for line, keys in seen.items():
        if len(keys) > 1:
            a.add(keys[0])
    b = set(by(lambda k, v: v[0] == "lib/beta.c" and k[0] == "vmlinux"))
    b.add(sorted(a)[0])
    check(a and b and a - b and b - a, "fixture gives no usable point sets")
    STATE.update(a=a, b=b)
    # Bogus PCs: inside the text regions, but not a point + 5.
    allv = {o for (bn, o) in pts if bn == "vmlinux"}
    allm = {o for (bn, o) in pts if bn == "minimod"}
    vm_all = set(call_sites(vmlinux, False))
    mod_all = set(call_sites(ko, True))
    bogus = ["0x%x" % (LINK + o + 6) for o in sorted(vm_all)[:3] if o + 1 not in vm_all]
    bogus += ["0x%x" % (MOD_TEXT + o + 7 - KASLR) for o in sorted(mod_all)[:1]
              if o + 2 not in mod_all]
    STATE["bogus"] = bogus
    check(allv and allm, "oracle found no points")

    srv = Server().start()
    STATE["srv"] = srv
    STATE["push"] = srv.token("push", "pusher")
    STATE["admin"] = srv.token("admin", "admin")
    build_id = re.search(r"Build ID: ([0-9a-f]+)", sh(["readelf", "-n", vmlinux])).group(1)
    mod_id = re.search(r"Build ID: ([0-9a-f]+)", sh(["readelf", "-n", ko])).group(1)
    STATE.update(build_id=build_id, mod_id=mod_id)
    # The address map and coverage arrive before the build is imported.
    frame = mkframe("addrmap", MACHINE, BOOT, build_id, "0x%x" % (LINK + KASLR),
                    "0x%x" % (LINK + KASLR + 0x100000), "0x%x" % LINK,
                    "module", "minimod", mod_id, "0x%x" % MOD_BASE, "0x%x" % MOD_SIZE,
                    "0x%x" % MOD_TEXT)
    status, body = srv.post_frame("/api/v1/boots", frame, STATE["push"])
    check(status == 200, "address map: %d %s" % (status, body))
    push_report(srv, STATE["push"], "suiteA", 1, [pc_of(k) for k in sorted(a)] + bogus)
    push_report(srv, STATE["push"], "suiteB", 2, [pc_of(k) for k in sorted(b)])


def test_import_over_http():
    srv, admin = STATE["srv"], STATE["admin"]
    listed = {b["build_id"]: b for b in srv.get("/api/v1/builds")["builds"]}
    b = listed[STATE["build_id"]]
    check(b["imported"] is False and b["files"] == 0 and b["points"] == 0,
          "/api/v1/builds before import: %s" % b)
    status, body = srv.request("GET", "/api/v1/builds/%s/tree" % STATE["build_id"])
    check(status == 404 and "not been imported" in json.loads(body)["error"]
          and json.loads(body)["code"] == "not_imported",
          "tree before import: %d %s" % (status, body))
    body = json.dumps({"vmlinux": STATE["vmlinux"], "modules": STATE["mods"],
                       "source": STATE["src"]}).encode()
    hdr = {"Content-Type": "application/json"}
    for tok in (None, STATE["push"]):
        status, ans = srv.request("POST", "/api/v1/builds", body, hdr, tok)
        check(status == 401 and "error" in json.loads(ans), "import without admin: %d" % status)
    for bad in (b"{", b"[]", b'{"vmlinux": "relative/vmlinux"}', b'{"modules": "/tmp"}',
                b'{"vmlinux": "/nonexistent/vmlinux"}',
                json.dumps({"vmlinux": STATE["vmlinux"], "bogus": 1}).encode(),
                json.dumps({"vmlinux": STATE["vmlinux"], "strip_prefix": [1]}).encode()):
        status, ans = srv.request("POST", "/api/v1/builds", bad, hdr, admin)
        check(status == 400 and "error" in json.loads(ans), "bad import %r: %d %s" % (bad, status, ans))
    status, ans = srv.request("POST", "/api/v1/builds", body, hdr, admin)
    check(status == 200, "import: %d %s" % (status, ans))
    # The audit has the one import that happened, by the admin token.
    status, aud = srv.request("GET", "/api/v1/audit", token=admin)
    imports = [a for a in json.loads(aud)["audit"] if a["action"] == "build.import"]
    check(status == 200 and len(imports) == 1 and imports[0]["target"] == STATE["build_id"]
          and imports[0]["actor"].startswith("token ") and imports[0]["detail"] == STATE["vmlinux"],
          "audit after the HTTP import: %d %s" % (status, aud))
    s = json.loads(ans)
    check(s["build_id"] == STATE["build_id"] and s["link_text"] == "0x%016x" % LINK, str(s))
    b = {x["build_id"]: x for x in srv.get("/api/v1/builds")["builds"]}[STATE["build_id"]]
    check(b["imported"] is True and b["files"] == s["files"] and b["points"] == s["points"]
          and b["files"] > 0, "/api/v1/builds after import: %s (import said %s)" % (b, s))
    names = {i["name"]: i for i in s["images"]}
    check(set(names) == {"vmlinux", "minimod"}, "images: %s" % names)
    check(names["vmlinux"]["points"] == len(call_sites(STATE["vmlinux"], False)),
          "vmlinux points differ from llvm-objdump")
    check(names["minimod"]["points"] == len(call_sites(STATE["ko"], True)),
          "module points differ from llvm-objdump")
    check(s["sources"] == s["files"] == len(ALLFILES), "files/sources: %s" % s)


def test_summary_unmatched():
    j = api("summary")
    pts, a, b = STATE["pts"], STATE["a"], STATE["b"]
    check(j["imported"] is True, str(j))
    check(j["unmatched_pcs"] == len(STATE["bogus"]) and len(STATE["bogus"]) >= 2,
          "unmatched %d, pushed %d bogus" % (j["unmatched_pcs"], len(STATE["bogus"])))
    check(j["covered_points"] == len(a | b), "covered %d != %d" % (j["covered_points"], len(a | b)))
    bins = {x["name"]: x for x in j["binaries"]}
    mod_cov = len({k for k in a | b if k[0] == "minimod"})
    check(bins["minimod"]["covered_points"] == mod_cov and bins["minimod"]["imported"],
          str(bins["minimod"]))
    check(bins["vmlinux"]["unmatched_pcs"] + bins["minimod"]["unmatched_pcs"]
          == len(STATE["bogus"]), str(bins))
    # Per label: suiteB pushed no bogus PCs.
    check(api("summary", label="suiteB")["unmatched_pcs"] == 0, "suiteB unmatched")


def check_file(path, covered, **params):
    j = api("files/" + path, **params)
    lines, funcs = expect_file(STATE["pts"], covered, path)
    got = {l["line"]: (l["covered"], l["points"], l["state"]) for l in j["lines"]}
    want = {l: (c, t, state(c, t)) for l, (c, t) in lines.items()}
    check(got == want, "%s %s lines:\n got  %s\n want %s" % (path, params, got, want))
    gotf = {f["name"]: (f["covered"], f["points"]) for f in j["functions"]}
    wantf = {f: tuple(v) for f, v in funcs.items()}
    check(gotf == wantf, "%s %s functions:\n got  %s\n want %s" % (path, params, gotf, wantf))
    check(j["lines_total"] == len(lines), "lines_total")
    check(j["points_covered"] == sum(1 for k, v in STATE["pts"].items()
                                     if v[0] == path and k in covered), "points_covered")
    return j


def test_file_lines_and_functions():
    a, b = STATE["a"], STATE["b"]
    states = set()
    for path in ALLFILES:
        j = check_file(path, a | b)
        states |= {l["state"] for l in j["lines"]}
        check(j["source"] == open(os.path.join(STATE["src"], path)).read(), "source of " + path)
    check(states == {"covered", "partial", "uncovered"}, "states seen: %s" % states)


def test_label_filters_and_minus():
    a, b = STATE["a"], STATE["b"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    day = int(time.time()) // 86400
    for path in ("kernel/alpha.c", "include/helpers.h", "lib/beta.c"):
        check_file(path, a, label="suiteA")
        check_file(path, b, label="suiteB")
        check_file(path, a | b, label=["suiteA", "suiteB"])
        check_file(path, a - b, label="suiteA", minus="suiteB")
        check_file(path, a, label="suiteA", since=today, until=today)
        check_file(path, a | b, since=day - 6, until=day)
        check_file(path, set(), until=day - 1)
        check_file(path, set(), label="nosuchsuite")


def expect_labels(path, sets, line=None):
    """Expected labels answer of path (or of one line): per label with a
    covered point, (covered, lines {line: (covered, points)}), in the
    answer's order (covered descending, then name)."""
    pts = {k: v for k, v in STATE["pts"].items()
           if v[0] == path and (line is None or v[1] == line)}
    out = []
    for name, cov in sets.items():
        hit = [k for k in pts if k in cov]
        if not hit:
            continue
        lines = {}
        for k, v in pts.items():
            if v[1]:
                t = lines.setdefault(v[1], [0, 0])
                t[0] += 1 if k in cov else 0
                t[1] += 1
        out.append((name, len(hit), {l: tuple(t) for l, t in lines.items() if t[0]}))
    out.sort(key=lambda e: (-e[1], e[0]))
    return len(pts), out


def check_labels(path, sets, line=None, **params):
    if line is not None:
        params["line"] = line
    j = api("labels", file=path, **params)
    npts, want = expect_labels(path, sets, line)
    got = [(e["label"], e["covered"], {l["line"]: (l["covered"], l["points"]) for l in e["lines"]})
           for e in j["labels"]]
    check(j["path"] == path and j["points"] == npts and j.get("line") == line,
          "%s:%s %s header %s" % (path, line, params, {k: v for k, v in j.items() if k != "labels"}))
    check(got == want, "%s:%s %s labels:\n got  %s\n want %s" % (path, line, params, got, want))
    check(j["labels_total"] == len(want), "labels_total %s" % j["labels_total"])
    today = time.strftime("%Y-%m-%d", time.gmtime())
    check(all(e["first_day"] == e["last_day"] == today for e in j["labels"]), "days %s" % j)
    return j


def test_line_labels():
    """Which labels covered a file and each of its lines, with the filters."""
    a, b, pts = STATE["a"], STATE["b"], STATE["pts"]
    day = int(time.time()) // 86400
    both = {"suiteA": a, "suiteB": b}
    for path in ("kernel/alpha.c", "include/helpers.h", "lib/beta.c",
                 "drivers/minimod/modmain.c"):
        check_labels(path, both)
        check_labels(path, {"suiteA": a}, label="suiteA")
        check_labels(path, {"suiteA": a - b}, label="suiteA", minus="suiteB")
        check_labels(path, {"suiteA": a - b, "suiteB": set()}, minus="suiteB")
        check_labels(path, both, since=day, until=day)
        check_labels(path, {}, until=day - 1)
        lines = sorted({v[1] for k, v in pts.items() if v[0] == path and v[1]})
        for line in lines:
            check_labels(path, both, line)
    # Lines covered by both suites, by one, and partly: each seen.
    kinds = set()
    for k, v in pts.items():
        if v[1] and v[0] in ALLFILES:
            kinds.add((k in a, k in b))
    check({(True, True), (True, False), (False, True)} <= kinds, "fixture kinds %s" % kinds)
    shared = sorted(a & b)[0]
    file, line, _ = pts[shared]
    j = check_labels(file, both, line)
    check({e["label"] for e in j["labels"]} == {"suiteA", "suiteB"}, "shared line %s" % j)
    # A line without points, paging, and errors.
    j = api("labels", file="kernel/alpha.c", line=1000000)
    check(j["points"] == 0 and j["labels"] == [] and j["labels_total"] == 0, str(j))
    j = api("labels", file=file, line=line, limit=1)
    check(len(j["labels"]) == 1 and j["labels_total"] == 2, "limit=1: %s" % j)
    srv, bid = STATE["srv"], STATE["build_id"]
    for query, want in (("", 400), ("?file=../x", 400), ("?file=kernel/alpha.c&line=0", 400),
                        ("?file=kernel/alpha.c&line=x", 400),
                        ("?file=kernel/alpha.c&limit=0", 400),
                        ("?file=kernel/nosuch.c", 404), ("?file=kernel/alpha.c&label=", 400)):
        status, body = srv.request("GET", "/api/v1/builds/%s/labels%s" % (bid, query))
        check(status == want and "error" in json.loads(body),
              "labels%s: %d (want %d) %s" % (query, status, want, body[:200]))
    status, body = srv.request("GET", "/api/v1/builds/%s/labels?file=x" % ("ab" * 20))
    check(status == 404, "unknown build: %d" % status)


def test_label_unions_and_days():
    """A label's completed days are folded into one union (coverage day -1,
    schema 006): by the migration from existing rows, and by the store when
    a label's first report of a new day arrives. All-time label queries
    (union + rows from label_unions.upto on) equal the per-day answers, and
    "which labels" finds the first and last day from the per-day rows."""
    srv, a, b = STATE["srv"], STATE["a"], STATE["b"]
    day = int(time.time()) // 86400
    iso = lambda d: time.strftime("%Y-%m-%d", time.gmtime(d * 86400))

    def unions():
        return {r[0]: r[1] for r in srv.query(
            "SELECT l.name, count(*) FROM coverage c JOIN labels l ON l.id = c.label "
            "WHERE c.day = -1 GROUP BY l.name")}

    def check_all(what):
        for path in ("kernel/alpha.c", "include/helpers.h", "drivers/minimod/modmain.c"):
            check_file(path, a, label="suiteA")
            check_file(path, a - b, label="suiteA", minus="suiteB")
            check_file(path, b, label="suiteB")
            check_file(path, a, label="suiteA", since=day - 5, until=day - 5)
            check_file(path, set(), label="suiteB", since=day - 5, until=day - 5)
            j = api("labels", file=path)
            days = {e["label"]: (e["first_day"], e["last_day"]) for e in j["labels"]}
            want = {}
            if any(STATE["pts"][k][0] == path for k in a):
                want["suiteA"] = (iso(day - 5), iso(day))
            if any(STATE["pts"][k][0] == path for k in b):
                want["suiteB"] = (iso(day), iso(day))
            check(days == want, "%s: %s days %s, want %s" % (what, path, days, want))
            j = api("labels", file=path, since=day - 6, until=day - 1)
            check([(e["label"], e["first_day"], e["last_day"]) for e in j["labels"]] ==
                  ([("suiteA", iso(day - 5), iso(day - 5))] if "suiteA" in want else []),
                  "%s: %s window: %s" % (what, path, j["labels"]))

    srv.stop()
    # Everything so far arrived today: no completed day to fold yet, but the
    # store has recorded that every key is folded up to today.
    check(unions() == {}, "unions of today's rows: %s" % unions())
    check(srv.query("SELECT min(upto), max(upto) FROM label_unions") == [(day, day)],
          "label_unions %s" % srv.query("SELECT * FROM label_unions"))
    # suiteA also covered its points 5 days ago; the migration (version 6)
    # folds that completed day on SQLite; PostgreSQL's migration 6 folds
    # nothing (no roaring aggregate there, schema/pg/006): the writer folds
    # at the label's next report, checked below on both.
    sa = srv.query("SELECT id FROM labels WHERE name = 'suiteA'")[0][0]
    srv.query('INSERT INTO coverage ("binary", label, day, seq, bits) SELECT "binary", label, '
              '?, seq, bits FROM coverage WHERE label = ? AND day = ?', (day - 5, sa, day))
    srv.query("DROP TABLE label_unions")
    srv.query("DELETE FROM schema_version WHERE version = 6")
    # The label index (schema 010) is derived from coverage: forgetting that
    # it is complete makes kcovd recompute it at start.
    srv.query("DELETE FROM label_files_built")
    nbin = srv.query('SELECT count(DISTINCT "binary") FROM coverage WHERE label = ? AND day = ?',
                     (sa, day - 5))[0][0]
    srv.start()
    want = {} if srv.db else {"suiteA": nbin}
    check(unions() == want, "migration unions %s (%d binaries)" % (unions(), nbin))
    check_all("after the migration")
    # The store folds on a new day: forget the fold (upto 10 days ago, no
    # union) and push a report of suiteA that adds nothing.
    srv.stop()
    srv.query("DELETE FROM coverage WHERE day = -1")
    srv.query("UPDATE label_unions SET upto = ?", (day - 10,))
    srv.start()
    check_file("kernel/alpha.c", a, label="suiteA")
    push_report(srv, STATE["push"], "suiteA", 9, [pc_of(k) for k in sorted(a)])
    folded = unions()
    ups = srv.query("SELECT l.name, u.upto FROM label_unions u JOIN labels l ON l.id = u.label")
    check(folded == {"suiteA": nbin}, "store fold unions %s" % folded)
    check(all(u == day for n, u in ups if n == "suiteA") and
          all(u == day - 10 for n, u in ups if n != "suiteA"), "upto after the fold: %s" % ups)
    check_all("after the store's fold")


def test_tiny_cache_budget():
    """kcovd restarted on the same database with --cache-mb 0 (every index
    is dropped as soon as another is loaded; the newest is always kept)
    gives the same answers. (One kcovd serves a database at a time: its
    lock refuses a second.)"""
    urls, want = [], {}
    for what in ("tree", "files/kernel/alpha.c", "files/drivers/minimod/modmain.c", "summary"):
        for params in ({}, {"label": "suiteA"}):
            q = urllib.parse.urlencode(params)
            urls.append("/api/v1/builds/%s/%s%s" % (STATE["build_id"], what, "?" + q if q else ""))
    for url in urls:
        want[url] = STATE["srv"].get(url)
    srv = STATE["srv"]
    # SQLite only: the data dir's lock refuses a second kcovd; on PostgreSQL
    # several nodes on one database is the design (it_test_pg).
    if not srv.db:
        status = None
        try:
            Server(data_dir=srv.data_dir).start()
        except Exception as e:  # noqa: BLE001 - the refusal is the point
            status = str(e)
        check(status and "in use" in status, "a second kcovd on the database: %s" % status)
    srv.stop()
    other = Server(data_dir=srv.data_dir, db=srv.db, extra=["--cache-mb", "0"]).start()
    try:
        for url in urls:
            check(other.get(url) == want[url], "%s differs" % url)
    finally:
        other.stop()
        srv.start()


def test_tree():
    pts, cov = STATE["pts"], STATE["a"] | STATE["b"]
    root = api("tree")
    kids = {c["name"]: c for c in root["children"]}
    check(set(kids) == {"kernel", "lib", "include", "drivers"}, "root children %s" % kids)
    check(all(c["type"] == "dir" for c in kids.values()), "types")
    check(root["points_total"] == len(pts), "root points %d != %d" % (root["points_total"], len(pts)))
    check(root["points_covered"] == len(cov), "root covered")
    check(kids["kernel"]["files"] == 2, "kernel files")
    k = api("tree", path="kernel")
    files = {c["name"]: c for c in k["children"]}
    check(set(files) == {"alpha.c", "start.c"} and files["alpha.c"]["type"] == "file",
          "kernel children %s" % files)
    lines, funcs = expect_file(pts, cov, "kernel/alpha.c")
    f = files["alpha.c"]
    check(f["lines_total"] == len(lines) and
          f["lines_covered"] == sum(1 for c, t in lines.values() if c == t) and
          f["lines_partial"] == sum(1 for c, t in lines.values() if 0 < c < t) and
          f["functions_total"] == len(funcs) and
          f["functions_covered"] == sum(1 for c, t in funcs.values() if c), "alpha.c row %s" % f)
    check(k["points_total"] == files["alpha.c"]["points_total"] + files["start.c"]["points_total"],
          "directory totals")
    d = api("tree", path="drivers/minimod/")
    check([c["name"] for c in d["children"]] == ["modmain.c"], str(d))


def check_dir(path, covered, **params):
    """Every child of a directory against the oracle (file children only)."""
    j = api("tree", path=path, **params)
    for c in j["children"]:
        if c["type"] != "file":
            continue
        lines, funcs = expect_file(STATE["pts"], covered, c["path"])
        got = (c["points_covered"], c["points_total"], c["lines_covered"], c["lines_partial"],
               c["lines_total"], c["functions_covered"], c["functions_total"])
        want = (sum(1 for k, v in STATE["pts"].items() if v[0] == c["path"] and k in covered),
                sum(1 for v in STATE["pts"].values() if v[0] == c["path"]),
                sum(1 for x, t in lines.values() if x == t),
                sum(1 for x, t in lines.values() if 0 < x < t), len(lines),
                sum(1 for x, t in funcs.values() if x), len(funcs))
        check(got == want, "%s %s: got %s want %s" % (c["path"], params, got, want))
    return j


def test_large_directories():
    """More files than the server's small-walk limit: flat bitsets and the
    per-file totals cache, which new coverage and other filters must miss."""
    a, b = STATE["a"], STATE["b"]
    for params in ({}, {"label": "suiteA"}, {"label": "suiteA", "minus": "suiteB"}):
        cov = {(): a | b, ("suiteA",): a}.get(tuple(v for k, v in params.items() if k == "label"))
        if "minus" in params:
            cov = a - b
        api("tree", **params)  # whole build: fills the cache
        j = check_dir("lib/gen", cov, **params)
        check(len(j["children"]) == NGEN, "lib/gen children %d" % len(j["children"]))
        check(api("tree", path="lib", **params)["files"] == NGEN + 1, "lib files")
    odd = sorted(k for k, v in STATE["pts"].items() if v[0] == GEN[1])
    push_report(STATE["srv"], STATE["push"], "suiteA", 4, [pc_of(k) for k in odd])
    STATE["a"] = a = a | set(odd)
    check_dir("lib/gen", a | b)
    check_dir("lib/gen", a, label="suiteA")


def test_functions_list():
    cov = STATE["a"] | STATE["b"]
    j = api("functions", file="kernel/alpha.c")
    _, funcs = expect_file(STATE["pts"], cov, "kernel/alpha.c")
    check({f["name"]: (f["covered"], f["points"]) for f in j["functions"]} ==
          {k: tuple(v) for k, v in funcs.items()}, "alpha.c functions %s" % j)
    every = api("functions", limit=1000)
    total = every["total"]
    check(total == len(every["functions"]) and total >= 8, "whole build %d" % total)
    names = [f["name"] for f in every["functions"]]
    check(names == sorted(names), "sort=name")
    bycov = api("functions", sort="coverage", limit=1000)["functions"]
    ratios = [f["covered"] / f["points"] for f in bycov]
    check(ratios == sorted(ratios, reverse=True), "sort=coverage %s" % ratios)
    bypts = api("functions", sort="points", limit=1000)["functions"]
    check([f["points"] for f in bypts] == sorted((f["points"] for f in bypts), reverse=True),
          "sort=points")
    page = api("functions", sort="points", limit=3, offset=2)
    check(page["functions"] == bypts[2:5] and page["total"] == total, "paging")
    for sort, full in (("coverage", bycov), ("name", every["functions"])):
        for off, lim in ((0, 1), (1, 4), (7, 5), (total - 2, 10)):
            page = api("functions", sort=sort, limit=lim, offset=off)["functions"]
            check(page == full[off:off + lim], "sort=%s offset=%d limit=%d" % (sort, off, lim))
    # Search: names or paths containing the term, ignoring case.
    for term in ("ALPHA", "gen/", "sum"):
        hits = api("functions", q=term, limit=1000)
        want = [f for f in every["functions"]
                if term.lower() in f["name"].lower() or term.lower() in f["file"].lower()]
        check(hits["functions"] == want and hits["total"] == len(want) and want,
              "q=%s: %d hits, expected %d" % (term, hits["total"], len(want)))
    check(api("functions", q="no-such-thing")["total"] == 0, "q= without hits")
    # The whole list and every search against the llvm oracle, not against
    # the server's own answers.
    want_all = oracle_functions(cov)
    got_all = {f["name"]: (f["file"], f["covered"], f["points"]) for f in every["functions"]}
    check(got_all == want_all, "functions differ from the oracle: %s" %
          sorted(set(got_all.items()) ^ set(want_all.items()))[:10])
    for term in ("ALPHA", "gen/", "sum", "minimod"):
        hits = api("functions", q=term, limit=1000)["functions"]
        want = {n for n, (f, _, _) in want_all.items()
                if term.lower() in n.lower() or term.lower() in f.lower()}
        check({f["name"] for f in hits} == want and want, "q=%s vs oracle: %s"
              % (term, sorted({f["name"] for f in hits} ^ want)))


def oracle_functions(cov):
    """{function: (file, covered points, points)} over every file, from the oracle."""
    out = {}
    for path in ALLFILES:
        _, funcs = expect_file(STATE["pts"], cov, path)
        for name, (c, t) in funcs.items():
            out[name] = (path, c, t)
    return out


def lcov_records(text):
    """{SF path: ({line: DA count}, {function: FNDA count})}"""
    recs = {}
    for rec in text.split("end_of_record"):
        m = re.search(r"^SF:(.*)$", rec, re.M)
        if m:
            da = {int(l): int(c) for l, c in re.findall(r"^DA:(\d+),(\d+)$", rec, re.M)}
            fnda = {n: int(c) for c, n in re.findall(r"^FNDA:(\d+),(.*)$", rec, re.M)}
            recs[m.group(1)] = (da, fnda)
    return recs


def test_lcov_and_genhtml():
    srv = STATE["srv"]
    status, body = srv.request("GET", "/api/v1/builds/%s/lcov" % STATE["build_id"])
    check(status == 200, "lcov: %d" % status)
    text = body.decode()
    root = api("tree")
    lf = sum(int(x) for x in re.findall(r"^LF:(\d+)$", text, re.M))
    lh = sum(int(x) for x in re.findall(r"^LH:(\d+)$", text, re.M))
    fnf = sum(int(x) for x in re.findall(r"^FNF:(\d+)$", text, re.M))
    fnh = sum(int(x) for x in re.findall(r"^FNH:(\d+)$", text, re.M))
    check(lf == root["lines_total"] and lh == root["lines_covered"] + root["lines_partial"],
          "LF/LH %d/%d vs %s" % (lf, lh, root))
    check(fnf == root["functions_total"] and fnh == root["functions_covered"], "FNF/FNH")
    check(text.count("end_of_record") == len(ALLFILES), "records")
    # Every record against the llvm oracle: per line the covered points, per
    # function the covered points.
    cov = STATE["a"] | STATE["b"]
    recs = lcov_records(text)
    check(sorted(recs) == ALLFILES, "lcov files: %s" % sorted(recs))
    for path in ALLFILES:
        lines, funcs = expect_file(STATE["pts"], cov, path)
        da, fnda = recs[path]
        check(da == {l: c for l, (c, _) in lines.items()},
              "%s: lcov DA differs from the oracle: %s" % (path, sorted(set(da.items()) ^
                                                                {(l, c) for l, (c, _) in lines.items()})))
        check(fnda == {f: c for f, (c, _) in funcs.items()},
              "%s: lcov FNDA differs from the oracle: %s vs %s" % (path, fnda, funcs))
    status, part = srv.request("GET", "/api/v1/builds/%s/lcov?prefix=kernel" % STATE["build_id"])
    check(status == 200 and part.decode().count("SF:") == 2, "lcov prefix")
    check(GENHTML, "genhtml not installed (Debian lcov, scripts/install-deps.sh)")
    out = os.path.join(STATE["root"], "html")
    info = os.path.join(STATE["root"], "cov.info")
    open(info, "w").write(text)
    p = subprocess.run([GENHTML, "-o", out, info], cwd=STATE["src"], capture_output=True, text=True)
    check(p.returncode == 0 and "WARNING" not in p.stderr + p.stdout,
          "genhtml: %s %s" % (p.stdout[-1500:], p.stderr[-1500:]))
    m = re.search(r"lines\.+: [\d.]+% \((\d+) of (\d+) lines\)", p.stdout)
    f = re.search(r"functions\.+: [\d.]+% \((\d+) of (\d+) functions\)", p.stdout)
    check(m and (int(m.group(1)), int(m.group(2))) == (lh, lf), "genhtml lines: " + p.stdout)
    check(f and (int(f.group(1)), int(f.group(2))) == (fnh, fnf), "genhtml functions: " + p.stdout)
    check(os.path.exists(os.path.join(out, "index.html")), "no index.html")


def test_csv():
    srv = STATE["srv"]
    status, body = srv.request("GET", "/api/v1/builds/%s/files.csv" % STATE["build_id"])
    check(status == 200, "files.csv %d" % status)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    check(sorted(r["Filename"] for r in rows) == ALLFILES, str(rows))
    root = api("tree")
    check(sum(int(r["TotalPCs"]) for r in rows) == root["points_total"] and
          sum(int(r["CoveredPCs"]) for r in rows) == root["points_covered"], "csv totals")
    status, body = srv.request("GET", "/api/v1/builds/%s/functions.csv?prefix=kernel"
                               % STATE["build_id"])
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    check(status == 200 and rows and all(r["Filename"].startswith("kernel/") for r in rows),
          "functions.csv %s" % rows)


def test_errors():
    srv, bid = STATE["srv"], STATE["build_id"]
    cases = [
        ("/api/v1/builds/%s/tree" % ("ab" * 20), 404),
        ("/api/v1/builds/XYZ/tree", 400),
        ("/api/v1/builds/%s/files/kernel/nosuch.c" % bid, 404),
        ("/api/v1/builds/%s/files/kernel/../../etc/passwd" % bid, 400),
        ("/api/v1/builds/%s/files/kernel//alpha.c" % bid, 400),
        ("/api/v1/builds/%s/tree?path=../etc" % bid, 400),
        ("/api/v1/builds/%s/tree?path=nosuchdir" % bid, 404),
        ("/api/v1/builds/%s/functions?limit=0" % bid, 400),
        ("/api/v1/builds/%s/functions?limit=99999999" % bid, 400),
        ("/api/v1/builds/%s/functions?offset=-1" % bid, 400),
        ("/api/v1/builds/%s/functions?sort=bogus" % bid, 400),
        ("/api/v1/builds/%s/functions?file=../x" % bid, 400),
        ("/api/v1/builds/%s/tree?since=2023-13-01" % bid, 400),
        ("/api/v1/builds/%s/tree?since=2024-02-30" % bid, 400),
        ("/api/v1/builds/%s/tree?since=20000&until=10000" % bid, 400),
        ("/api/v1/builds/%s/tree?label=" % bid, 400),
        ("/api/v1/builds/%s/lcov?prefix=a/./b" % bid, 400),
    ]
    for path, want in cases:
        status, body = srv.request("GET", path)
        check(status == want, "%s: %d (want %d) %s" % (path, status, want, body[:200]))
        j = json.loads(body)
        check("error" in j and j["status"] == want and
              j["code"] == ("bad_input" if want == 400 else "not_found"),
              "%s: no JSON error with code and status: %s" % (path, j))


def test_cli_reimport():
    """kcovd import-build on the live database replaces the import in place."""
    before = api("tree")
    env = STATE["srv"].env()  # the live database, either backend
    p = subprocess.run([KCOVD, "import-build", "--data-dir", STATE["srv"].data_dir,
                        "--vmlinux", STATE["vmlinux"], "--modules", STATE["mods"],
                        "--strip-prefix", "/nonexistent"], capture_output=True, text=True,
                       env=env)
    check(p.returncode == 0, "import-build: %s" % p.stderr)
    s = json.loads(p.stdout)
    check(s["build_id"] == STATE["build_id"] and s["sources"] == 0, str(s))
    after = api("tree")
    check(before["children"] == after["children"], "re-import changed the numbers")
    j = api("files/kernel/alpha.c")
    check(j["source"] is None, "source kept after an import without --source")
    p = subprocess.run([KCOVD, "import-build", "--data-dir", STATE["srv"].data_dir],
                       capture_output=True, text=True, env=env)
    check(p.returncode != 0 and "--vmlinux" in p.stderr, "missing --vmlinux: %s" % p.stderr)
    p = subprocess.run([KCOVD, "audit", "--data-dir", STATE["srv"].data_dir],
                       capture_output=True, text=True, env=env)
    rows = [ln.split("\t") for ln in p.stdout.splitlines()[1:]]
    check(p.returncode == 0 and rows and rows[0][2:5] == ["cli", "build.import", STATE["build_id"]],
          "kcovd audit after the CLI import: %s %s" % (p.stdout, p.stderr))
    # A re-import with other content is seen at once (the point cache of the
    # server is keyed by the import): without modules, drivers/ is gone.
    sh([KCOVD, "import-build", "--data-dir", STATE["srv"].data_dir, "--vmlinux", STATE["vmlinux"]],
       env=env)
    kids = {c["name"] for c in api("tree")["children"]}
    check("drivers" not in kids and "kernel" in kids, "after vmlinux-only import: %s" % kids)
    status, _ = STATE["srv"].request("GET", "/api/v1/builds/%s/files/drivers/minimod/modmain.c"
                                     % STATE["build_id"])
    check(status == 404, "module file still there: %d" % status)
    summ = {b["name"]: b for b in api("summary")["binaries"]}
    check(summ["minimod"]["imported"] is False and summ["minimod"]["unmatched_pcs"] is None,
          "module binary after vmlinux-only import: %s" % summ["minimod"])


def test_coverage_after_import():
    """Coverage pushed after the import shows up in the next query."""
    pts, a, b = STATE["pts"], STATE["a"], STATE["b"]
    fresh = sorted(k for k, v in pts.items() if v[0] == "kernel/alpha.c" and k not in a | b)
    check(fresh, "no uncovered alpha.c point left")
    push_report(STATE["srv"], STATE["push"], "suiteC", 3, [pc_of(fresh[0])])
    check_file("kernel/alpha.c", {fresh[0]}, label="suiteC")
    check_file("kernel/alpha.c", a | b | {fresh[0]})
    check(api("summary")["unmatched_pcs"] == len(STATE["bogus"]), "unmatched changed")


def test_out_of_tree_build():
    """A build compiled like make O=DIR (absolute source names outside the
    build directory) imports with paths relative to the detected source
    root, without --strip-prefix; --strip-prefix overrides the detection."""
    import sqlite3
    src = STATE["src"]
    obj = os.path.join(STATE["root"], "obj")
    os.makedirs(obj)
    objs = []
    for name in ["alpha.c", "beta.c", "start.c"] + GEN:
        o = os.path.join(obj, os.path.basename(name).replace(".c", ".o"))
        sh([CLANG] + KFLAGS + ["-fsanitize-coverage=trace-pc", "-I" + os.path.join(src, "include"),
                               "-c", os.path.join(src, LAYOUT.get(name, name)), "-o", o], cwd=obj)
        objs.append(o)
    sh([CLANG] + KFLAGS + ["-c", os.path.join(FIXSRC, "cov.c"), "-o", os.path.join(obj, "cov.o")])
    vmlinux = os.path.join(obj, "vmlinux")
    sh([LLD, "-static", "--build-id=sha1", "-T", os.path.join(FIXSRC, "vmlinux.lds"),
        os.path.join(obj, "cov.o"), "-o", vmlinux] + objs)
    names = sh([tool("llvm-dwarfdump", "llvm-dwarfdump-14"), "--debug-line", vmlinux])
    check(os.path.join(src, "kernel") in names, "the fixture names no absolute paths")
    want = sorted({v[0] for k, v in STATE["pts"].items() if k[0] == "vmlinux"})
    for extra, root, paths in (([], src, want),
                               (["--strip-prefix", "/nonexistent"], None,
                                sorted(os.path.join(src, p) for p in want))):
        data = tmpdir("kcovd-oot-")
        out = sh([KCOVD, "import-build", "--data-dir", data, "--vmlinux", vmlinux,
                  "--source", src] + extra)
        s = json.loads(out)
        check(s.get("source_root") == root, "source_root %r, want %r" % (s.get("source_root"), root))
        con = sqlite3.connect(os.path.join(data, "kcovd.db"))
        got = sorted(r[0] for r in con.execute("SELECT path FROM files"))
        con.close()
        check(got == paths, "paths with %s: %s, want %s" % (extra, got[:5], paths[:5]))
        # relative paths find their text in --source without a prefix
        check(s["sources"] == (len(want) if root else 0), "sources: %s" % s)
        shutil.rmtree(data, ignore_errors=True)


def main():
    require_build_tools()
    setup()
    try:
        run_tests([test_import_over_http, test_summary_unmatched, test_file_lines_and_functions,
                   test_label_filters_and_minus, test_line_labels, test_label_unions_and_days,
                   test_tiny_cache_budget, test_tree, test_large_directories,
                   test_functions_list,
                   test_lcov_and_genhtml, test_csv, test_errors, test_coverage_after_import,
                   test_cli_reimport, test_functions_of_a_file_without_points,
                   test_out_of_tree_build, test_gc_keeps_all_time_and_label_coverage])
    finally:
        # run_tests stopped the server and checked its exit and its log
        shutil.rmtree(STATE["root"], ignore_errors=True)


def test_functions_of_a_file_without_points():
    """A header with a function but no coverage point (seen on the real
    kernel: csum_fold in asm/checksum_64.h) must not break the index."""
    srv = STATE["srv"]
    before = api("tree")
    build = srv.query("SELECT id FROM builds WHERE build_id = ?", (STATE["build_id"],))[0][0]
    # An empty blob: x'' on SQLite, '' (an empty bytea) on PostgreSQL.
    file_id = srv.query("INSERT INTO files (build, path, points, nlines, nfuncs, lines) "
                        "VALUES (?, 'aaa/include/empty.h', 0, 0, 1, %s) RETURNING id"
                        % ("''" if srv.db else "x''"), (build,))[0][0]
    srv.query("INSERT INTO functions (file, idx, name, line_start, line_end, points) "
              "VALUES (?, 0, 'never_instrumented', 3, 5, 0)", (file_id,))
    srv.query("UPDATE build_imports SET imported = imported + 1 WHERE build = ?", (build,))
    after = api("tree")
    check(after["points_total"] == before["points_total"] and
          after["functions_total"] == before["functions_total"], "tree changed: %s" % after)
    check(api("summary")["binaries"], "summary")


def test_gc_keeps_all_time_and_label_coverage():
    """kcovd gc over the admin API on the running server: per-day rows,
    reports and overflow rows older than keep_days go, after the days not
    yet in a label's union were folded into it, so every all-time and
    per-label answer is byte-identical before and after; the removal is
    audited. Twenty days pass by moving every day and receipt time back.
    Both backends (Server.query); integrity_check is SQLite's."""
    srv = STATE["srv"]
    day = int(time.time()) // 86400
    admin, push = STATE["admin"], STATE["push"]
    labels = sorted(l["name"] for l in srv.get("/api/v1/labels")["labels"])
    check(len(labels) >= 3, "labels %s" % labels)
    base = "/api/v1/builds/%s/" % STATE["build_id"]
    paths = ["tree", "lcov", "files.csv", "functions.csv", "functions",
             "files/kernel/alpha.c", "files/include/helpers.h", "tree?path=kernel"]
    for l in labels:
        paths += ["tree?label=" + l, "lcov?label=" + l, "files/kernel/alpha.c?label=" + l,
                  "files/lib/beta.c?label=" + l, "functions?label=" + l]
    paths.append("files/kernel/alpha.c?label=suiteA&minus=suiteB")

    def snapshot():
        out = {}
        for p in paths:
            status, body = srv.request("GET", base + p)
            check(status == 200, "GET %s: %d %s" % (p, status, body[:200]))
            out[p] = body
        return out

    def diff(x, y):
        return [p for p in paths if x[p] != y[p]]

    before = snapshot()
    srv.stop()
    for sql in ("UPDATE coverage SET day = day - 20 WHERE day >= 0",
                "UPDATE label_unions SET upto = upto - 20",
                "UPDATE label_files SET first_day = first_day - 20, last_day = last_day - 20",
                "UPDATE reports SET received = received - 20 * 86400",
                "UPDATE overflow_daily SET day = day - 20"):
        srv.query(sql)
    srv.start()
    check(not diff(before, snapshot()), "moving the days back changed answers")
    # Today's report of suiteA (its old days are folded by the store now).
    push_report(srv, push, "suiteA", 77, [pc_of(k) for k in sorted(STATE["a"])[:2]])
    before = snapshot()
    old_rows = srv.query("SELECT count(*) FROM coverage WHERE day >= 0 AND day < ?",
                         (day - 7,))[0][0]
    old_reports = srv.query("SELECT count(*) FROM reports WHERE received < ?",
                            ((day - 7) * 86400,))[0][0]
    kept_reports = srv.query("SELECT count(*) FROM reports")[0][0] - old_reports
    check(old_rows > 0 and old_reports > 0 and kept_reports == 1,
          "nothing old to remove: %d rows, %d reports, %d kept" % (old_rows, old_reports,
                                                                  kept_reports))
    status, body = srv.request("POST", "/api/v1/admin/gc", b'{"keep_days": 7}',
                               {"Content-Type": "application/json"}, STATE["push"])
    check(status == 401, "gc with a push token: %d" % status)
    for bad in (b'{"keep_days": 0}', b'{"keep_days": "7"}', b'{}', b'[7]',
                b'{"keep_days": 7, "x": 1}', b'nope'):
        status, body = srv.request("POST", "/api/v1/admin/gc", bad,
                                   {"Content-Type": "application/json"}, admin)
        check(status == 400 and json.loads(body)["code"] == "bad_input",
              "gc %s: %d %s" % (bad, status, body))
    status, body = srv.request("POST", "/api/v1/admin/gc", b'{"keep_days": 7}',
                               {"Content-Type": "application/json"}, admin)
    check(status == 200, "gc: %d %s" % (status, body))
    res = json.loads(body)
    check(res["cutoff_day"] == day - 7 and res["day_rows_deleted"] == old_rows and
          res["reports_deleted"] == old_reports, "gc answer %s (want %d rows, %d reports)"
          % (res, old_rows, old_reports))
    after = snapshot()
    check(not diff(before, after), "gc changed %s" % diff(before, after))
    left = srv.query("SELECT count(*) FROM coverage WHERE day >= 0 AND day < ?",
                     (day - 7,))[0][0]
    reps = srv.query("SELECT count(*) FROM reports")[0][0]
    audit = srv.query("SELECT actor, action, target FROM audit ORDER BY id DESC LIMIT 1")[0]
    check(left == 0 and reps == kept_reports, "after gc: %d old rows, %d reports" % (left, reps))
    check(audit[1] == "gc" and audit[0].startswith("token admin") and audit[2] == "keep 7 days",
          "audit row %s" % (audit,))
    if not srv.db:  # PostgreSQL's pages are its own business (amcheck)
        ok = srv.query("PRAGMA integrity_check")[0][0]
        check(ok == "ok", "integrity_check: " + ok)
    # "Which labels": every label is still listed (from its union); its days
    # are kept days, or null when it covered the file only on removed days.
    iso = lambda d: time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
    for path in ("kernel/alpha.c", "lib/beta.c"):
        listed = api("labels", file=path)["labels"]
        check(listed, "no labels for %s after gc" % path)
        for e in listed:
            check((e["first_day"] is None and e["last_day"] is None) or
                  (e["first_day"] >= iso(day - 7) and e["last_day"] >= e["first_day"]),
                  "%s after gc: %s" % (path, e))
        check(any(e["first_day"] is None for e in listed) or path == "kernel/alpha.c",
              "%s: a label seen only on removed days has days: %s" % (path, listed))
    # A second run finds nothing to remove and still changes nothing.
    status, body = srv.request("POST", "/api/v1/admin/gc", b'{"keep_days": 7}',
                               {"Content-Type": "application/json"}, admin)
    res = json.loads(body)
    check(status == 200 and res["day_rows_deleted"] == 0 and res["reports_deleted"] == 0,
          "second gc: %s" % res)
    check(not diff(before, snapshot()), "second gc changed answers")
    # Coverage keeps arriving after a gc.
    # (The build is vmlinux-only since test_cli_reimport.)
    fresh = sorted(k for k, v in STATE["pts"].items()
                   if v[0] == "kernel/alpha.c" and k[0] == "vmlinux")
    push_report(srv, push, "suiteD", 78, [pc_of(fresh[0])])
    j = api("files/kernel/alpha.c", label="suiteD")
    got = {l["line"]: l["covered"] for l in j["lines"] if l["covered"]}
    check(got == {STATE["pts"][fresh[0]][1]: 1}, "suiteD after gc: %s" % got)


if __name__ == "__main__":
    main()
