#!/usr/bin/env bash
# Kernel end-to-end test (part 2 of tests/kernel/run.sh): the real path
#   patched kernel -> kcov-collect (unique mode, in the QEMU guest)
#   -> spool out over the second serial port -> kcov-collect push -> kcovd
# Boots the kernel twice (different KASLR offsets and module addresses) and
# checks that
#   - both boots deliver two reports with zero PCs the server could not
#     canonicalize: one taken before the test module was loaded (so the
#     collector's first address map lacks it) and one after, with module
#     coverage (the collector must notice the late module);
#   - both boots give the same canonical coverage (GET /api/v1/builds/B/pcs):
#     identical for the workload's own code (fs/read_write.c,
#     drivers/char/mem.c, the module), within 1% for the exec/mm noise around;
#   - every canonical PC is a coverage point of the very vmlinux / .ko that
#     booted (vmlinux: e8 call to __sanitizer_cov_trace_pc_guard ending at the
#     PC; .ko: R_X86_64_PLT32 against it at offset - 4 of .text), and the PCs
#     include lines of fs/read_write.c and lib/test_kcov_unique.c;
#   - kcovd's covered lines (its LCOV export of the imported build) are
#     exactly the innermost file:line of every covered PC - 5 by
#     llvm-addr2line (vmlinux) and GNU addr2line -j .text (module);
#   - the two boots drew different KASLR offsets (a boot that drew the same
#     one is repeated with other boot parameters), the guest's rmmod/insmod
#     worked, and no serial log shows a kernel bug, warning or KASAN report.
# Usage: tests/kernel/e2e.sh KERNEL_BUILD_DIR   (from tests/kernel/run.sh)
#        KCOV_E2E_KEEP=1 keeps the work directory (spools, kcovd data and logs).
#        KCOV_E2E_SAVE_SPOOL=DIR copies boot 1's spool to DIR (for
#        tests/kernel/e2e-merge.sh, which merges it onto another build).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/testlib.sh
# The physical path: vmlinux's DWARF names its sources under it, and the
# import must detect exactly that root (the cache may be reached via a symlink).
kdir=$(cd "$1" && pwd -P)
build=${KC_BUILD_DIR:-build}
if [[ ! -x $build/collector/kcov-collect || ! -x $build/server/kcovd ]]; then
	echo "FAIL: e2e: $build/collector/kcov-collect or $build/server/kcovd not built"
	exit 1
fi
work=$(mktemp -d)
srv_pids=()
cleanup() {
	for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [[ -n ${KCOV_E2E_KEEP:-} ]]; then echo "e2e: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
# Private copies: others may rebuild build/ while this runs.
cp "$build/collector/kcov-collect" "$build/server/kcovd" "$work/"
gcc -O2 -Wall -static -o "$work/e2e-workload" tests/kernel/e2e-workload.c
awk '$3 == "_text" { print $1; exit }' "$kdir/System.map" > "$work/link_text"

boot_guest() { # BOOT KERNEL_ARGS
	local boot=$1
	echo "qemu-e2e" > "$work/machine"
	kernel/qemu-run.sh -k "$kdir" -s tests/kernel/guest-e2e.sh -o "$work/out$boot" \
		-l "$work/serial$boot.log" -t "${KCOV_E2E_TIMEOUT:-180}" -a "$2" \
		-b "$work/kcov-collect:/kcov-collect" -f "$work/e2e-workload:/e2e-workload" \
		-f "$work/link_text:/link_text" -f "$work/machine:/machine"
	tr -d '\r' < "$work/out$boot" > "$work/out$boot.txt"
	grep -E '^(text|module_text|early_rc|collect_rc)=' "$work/out$boot.txt" | sed "s/^/  boot $boot: /"
	kernel_log_clean "$work/serial$boot.log" || exit 1
	if grep -E '^(rmmod|insmod) failed' "$work/out$boot.txt"; then
		echo "FAIL: boot $boot: the guest could not unload/load the test module, so the"
		echo "      late-module path would not be tested"
		exit 1
	fi
	grep -q '^early_rc=0$' "$work/out$boot.txt" && grep -q '^collect_rc=0$' "$work/out$boot.txt" || {
		echo "FAIL: kcov-collect failed in the guest:"; sed -n "1,/^BEGIN-SPOOL/p" "$work/out$boot.txt" | head -40; exit 1; }
	rm -rf "$work/boot$boot"
	mkdir -p "$work/boot$boot"
	sed -n '/^BEGIN-SPOOL$/,/^END-SPOOL$/p' "$work/out$boot.txt" | sed '1d;$d' |
		base64 -d | tar -C "$work/boot$boot" -mxf -
}
boot_guest 1 ""
t1=$(grep '^text=' "$work/out1.txt")
# The test is about two different KASLR offsets: a second boot that drew the
# same one is repeated with other boot parameters (which KASLR's seed hashes).
for attempt in 1 2 3 4; do
	boot_guest 2 "kcov_seed=$attempt$RANDOM"
	t2=$(grep '^text=' "$work/out2.txt")
	[[ $t1 == "$t2" ]] || break
	echo "  boot 2 drew the same KASLR offset ($t2): booting again"
done
if [[ $t1 == "$t2" ]]; then
	echo "FAIL: four boots drew the KASLR offset of the first ($t1): is KASLR on?"
	exit 1
fi
if [[ -n ${KCOV_E2E_SAVE_SPOOL:-} ]]; then
	rm -rf "$KCOV_E2E_SAVE_SPOOL"
	cp -r "$work/boot1/spool" "$KCOV_E2E_SAVE_SPOOL"
fi

# GET URL into OUT; on an HTTP error print the answer and fail.
get() { # URL OUT
	local code
	code=$(curl -s -o "$2" -w '%{http_code}' "$1" || true)
	if [[ $code != 200 ]]; then
		echo "FAIL: GET $1 answered $code: $(head -c 300 "$2" 2>/dev/null)"
		exit 1
	fi
}

# One kcovd per boot, so that each boot's canonical coverage can be read alone.
start_kcovd() { # DATA_DIR -> sets port
	local d=$1
	mkdir -p "$d"
	"$work/kcovd" serve --data-dir "$d" --listen 127.0.0.1:0 --port-file "$d/port" \
		>"$d/kcovd.log" 2>&1 &
	srv_pids+=($!)
	for _ in $(seq 200); do [[ -s $d/port ]] && break; sleep 0.05; done
	[[ -s $d/port ]] || { echo "FAIL: kcovd did not start"; cat "$d/kcovd.log"; exit 1; }
	port=$(cat "$d/port")
}
# Import the very vmlinux and .ko into kcovd (POST /api/v1/builds) and check
# the coverage views: no unmatched PC, lines covered in fs/read_write.c and in
# the module's source; the LCOV export is kept for the line oracle below.
mkdir -p "$work/modules"
cp "$kdir/test_kcov_unique.ko" "$work/modules/"
import_build() { # DATA_DIR PORT BUILD BOOT
	local d=$1 port=$2 b=$3 boot=$4 admin code
	admin=$("$work/kcovd" token add "e2e-admin" --scope admin --data-dir "$d" 2>/dev/null)
	# No strip_prefix: the kernel is built with O=, so DWARF names its
	# sources by absolute paths, and the import must find the source root
	# itself (issue 17; the summary says which root it used).
	printf '{"vmlinux":"%s","modules":"%s","source":"%s"}' \
		"$kdir/vmlinux" "$work/modules" "$kdir/linux-source-6.1" > "$work/import.json"
	code=$(curl -s -o "$work/import$boot.out" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
		--data-binary @"$work/import.json" "http://127.0.0.1:$port/api/v1/builds" || true)
	if [[ $code != 200 ]]; then
		echo "FAIL: build import answered $code: $(head -c 500 "$work/import$boot.out" 2>/dev/null)"
		echo "kcovd log:"; tail -n 20 "$d/kcovd.log"
		exit 1
	fi
	get "http://127.0.0.1:$port/api/v1/builds/$b/summary" "$work/summary$boot.json"
	get "http://127.0.0.1:$port/api/v1/builds/$b/lcov" "$work/lcov$boot.info"
	get "http://127.0.0.1:$port/api/v1/builds/$b/files/fs/read_write.c" "$work/rw$boot.json"
	get "http://127.0.0.1:$port/api/v1/builds/$b/files/lib/test_kcov_unique.c" "$work/mod$boot.json"
	python3 - "$work" "$boot" "$kdir" <<'PY'
import json, os, sys
work, boot, kdir = sys.argv[1], sys.argv[2], sys.argv[3]
s = json.load(open(f"{work}/summary{boot}.json"))
fail = []
# The detected source root is the tree's, and every path is relative to it.
imp = json.load(open(f"{work}/import{boot}.out"))
root = os.path.normpath(f"{kdir}/linux-source-6.1")
sfs = [l[3:].strip() for l in open(f"{work}/lcov{boot}.info") if l.startswith("SF:")]
bad = [f for f in sfs if f.startswith("/") or f.startswith("..")]
print(f"  boot {boot}: source_root {imp.get('source_root')}, {imp.get('files')} files, "
      f"{imp.get('sources')} sources, {len(bad)} of {len(sfs)} LCOV paths not relative")
if os.path.normpath(imp.get("source_root") or "/") != root:
    fail.append(f"import detected source_root {imp.get('source_root')}, want {root}")
if bad or not sfs:
    fail.append(f"LCOV paths not relative to the source root: {bad[:5]}")
if "fs/read_write.c" not in sfs:
    fail.append("fs/read_write.c is not among the LCOV paths")
print(f"  boot {boot}: imported={s.get('imported')} pcs={s.get('pcs')} points={s.get('points')} "
      f"covered_points={s.get('covered_points')} unmatched_pcs={s.get('unmatched_pcs')} "
      f"pcs_not_imported={s.get('pcs_not_imported')}")
if s.get("unmatched_pcs") != 0 or s.get("pcs_not_imported") != 0 or not s.get("covered_points"):
    fail.append("summary: unmatched or unimported PCs, or nothing covered")
for name in ("rw", "mod"):
    f = json.load(open(f"{work}/{name}{boot}.json"))
    cov = [l["line"] for l in f.get("lines", []) if l.get("covered")]
    print(f"  boot {boot}: {f.get('path')}: {len(cov)} covered lines, e.g. {cov[:8]}")
    if not cov:
        fail.append(f"no covered lines in {f.get('path')}")
for m in fail:
    print("FAIL:", m)
sys.exit(1 if fail else 0)
PY
}

for boot in 1 2; do
	d=$work/kcovd$boot
	mkdir -p "$d"
	token=$("$work/kcovd" token add "qemu-e2e-$boot" --scope push --data-dir "$d" 2>/dev/null)
	start_kcovd "$d"
	"$work/kcov-collect" push --spool "$work/boot$boot/spool" \
		--server "http://127.0.0.1:$port" --token "$token"
	get "http://127.0.0.1:$port/api/v1/reports?limit=100" "$work/reports$boot.json"
	get "http://127.0.0.1:$port/api/v1/builds" "$work/builds$boot.json"
	b=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["builds"][0]["build_id"])' \
		"$work/builds$boot.json")
	get "http://127.0.0.1:$port/api/v1/builds/$b/pcs" "$work/pcs$boot.json"
	import_build "$d" "$port" "$b" "$boot"
done

python3 - "$work" "$kdir" <<'PY'
import json, os, shutil, subprocess, sys, struct
work, kdir = sys.argv[1], sys.argv[2]
fail = []
link_text = int(open(f"{work}/link_text").read(), 16)
vmlinux, ko = f"{kdir}/vmlinux", f"{kdir}/test_kcov_unique.ko"

def load(n):
    return json.load(open(f"{work}/{n}"))

def sh(*a):
    return subprocess.run(a, check=True, capture_output=True, text=True).stdout

# Coverage points of vmlinux: "e8 rel32" calls to the guard callback.
guard = next(int(l.split()[0], 16) for l in sh("nm", vmlinux).splitlines()
             if l.split()[-1] == "__sanitizer_cov_trace_pc_guard")
for line in sh("readelf", "-SW", vmlinux).splitlines():
    f = line.replace("[ ", "[").split()
    if len(f) > 5 and f[1] == ".text":
        t_addr, t_off, t_size = int(f[3], 16), int(f[4], 16), int(f[5], 16)
image = open(vmlinux, "rb").read()

def vmlinux_point(o):
    pc = link_text + o
    i = t_off + (pc - 5 - t_addr)
    return t_off <= i < t_off + t_size - 5 and image[i] == 0xE8 and \
        pc + struct.unpack("<i", image[i + 1:i + 5])[0] == guard

# Coverage points of the module: R_X86_64_PLT32 against the callback in .text.
sites, sec = set(), None
for line in sh("readelf", "-rW", ko).splitlines():
    if line.startswith("Relocation section"):
        sec = line.split("'")[1]
    f = line.split()
    if sec and sec.startswith(".rela.text") and len(f) >= 5 and \
            f[2] == "R_X86_64_PLT32" and f[4] == "__sanitizer_cov_trace_pc_guard":
        sites.add(int(f[0], 16))

def files_of(binary, offs):
    if binary == "vmlinux":
        out = sh("addr2line", "-f", "-e", vmlinux, *[hex(link_text + o - 5) for o in offs])
    else:
        out = sh("addr2line", "-f", "-j", ".text", "-e", ko, *[hex(o - 5) for o in offs])
    lines = out.splitlines()
    return {o: (lines[2 * i], lines[2 * i + 1]) for i, o in enumerate(offs)}

cov = {}
for boot in (1, 2):
    reps = load(f"reports{boot}.json")["reports"]
    # One report from before the module was loaded, one after.
    if len(reps) != 2:
        fail.append(f"boot {boot}: {len(reps)} reports reached kcovd, expected 2")
    for r in reps:
        if r.get("unknown_pcs"):
            fail.append(f"boot {boot}: {r['unknown_pcs']} PCs not canonicalized")
    bins = {b["name"]: set(b["offsets"]) for b in load(f"pcs{boot}.json")["binaries"]}
    cov[boot] = bins
    vm, mod = bins.get("vmlinux", set()), bins.get("test_kcov_unique", set())
    vbad = sum(not vmlinux_point(o) for o in vm)
    mbad = sum((o - 4) not in sites for o in mod)
    print(f"  boot {boot}: reports {[r['pcs'] for r in reps]} unknown "
          f"{[r.get('unknown_pcs') for r in reps]}; vmlinux {len(vm)} PCs ({vbad} not "
          f"coverage points), test_kcov_unique {len(mod)} PCs of {len(sites)} points ({mbad} not)")
    if not vm or not mod:
        fail.append(f"boot {boot}: no vmlinux or no module coverage")
    if vbad or mbad:
        fail.append(f"boot {boot}: {vbad + mbad} canonical PCs match no coverage point")

# KASLR: the same code gives the same canonical offsets. The workload's own
# paths (fs/read_write.c, drivers/char/mem.c, the module) must be identical;
# exec and memory-management paths of the process around it vary a little
# from boot to boot (page-table allocation with randomized layouts, dcache
# hash chains, preemption), so the rest only has to agree within 1%.
v1, v2 = cov[1].get("vmlinux", set()), cov[2].get("vmlinux", set())
loc = files_of("vmlinux", sorted(v1 | v2))
core = lambda s: {o for o in s if any(f in loc[o][1] for f in ("fs/read_write.c", "drivers/char/mem.c"))}
c1, c2 = core(v1), core(v2)
print(f"  fs/read_write.c + drivers/char/mem.c: boot1 {len(c1)} boot2 {len(c2)} PCs")
if not c1 or c1 != c2:
    fail.append(f"workload coverage differs between boots: {sorted(c1 ^ c2)}")
diff = sorted(v1 ^ v2)
for o in diff:
    print(f"    only boot {1 if o in v1 else 2}: +{o:#x} {loc[o][0]} {loc[o][1].split('/')[-1]}")
if len(diff) > max(20, len(v1 | v2) // 100):
    fail.append(f"vmlinux coverage of the two boots differs in {len(diff)} PCs")
m1, m2 = cov[1].get("test_kcov_unique", set()), cov[2].get("test_kcov_unique", set())
if m1 != m2:
    fail.append("module coverage differs between boots")
mloc = files_of("test_kcov_unique", sorted(m1))
if not any("lib/test_kcov_unique.c" in v[1] for v in mloc.values()):
    fail.append("no coverage in lib/test_kcov_unique.c")
print(f"  module: {len(m1)} PCs in lib/test_kcov_unique.c "
      f"({', '.join(sorted({v[0] for v in mloc.values()}))})")

# kcovd's covered lines against an independent symbolizer: the innermost
# inline frame of every covered PC - 5 (llvm-addr2line for vmlinux, GNU
# addr2line -j .text for the relocatable module), with the same source root
# stripped, must be exactly the lines the LCOV export counts as hit.
src_root = os.path.normpath(f"{kdir}/linux-source-6.1") + "/"
def innermost(cmd, addrs):
    out = subprocess.run(cmd, input="".join(f"{a:#x}\n" for a in addrs), check=True,
                         capture_output=True, text=True).stdout.splitlines()
    res, i = [], 0
    while i < len(out):
        assert out[i].startswith("0x"), out[i]
        loc = out[i + 2]
        i += 3
        while i < len(out) and not out[i].startswith("0x"):
            i += 1
        f, _, l = loc.rpartition(":")
        l = l.split()[0] if l.split() else "0"
        if f != "??" and l.isdigit() and int(l):
            f = os.path.normpath(f)
            res.append((f[len(src_root):] if f.startswith(src_root) else f, int(l)))
    return res
a2l = shutil.which("llvm-addr2line") or shutil.which("llvm-addr2line-14")
for boot in (1, 2):
    want = set(innermost([a2l, "-a", "-i", "-f", "-e", vmlinux],
                         [link_text + o - 5 for o in sorted(cov[boot].get("vmlinux", ()))]))
    want |= set(innermost(["addr2line", "-a", "-i", "-f", "-j", ".text", "-e", ko],
                          [o - 5 for o in sorted(cov[boot].get("test_kcov_unique", ()))]))
    got, sf = set(), None
    for line in open(f"{work}/lcov{boot}.info"):
        line = line.strip()
        if line.startswith("SF:"):
            sf = line[3:]
        elif line.startswith("DA:"):
            l, c = line[3:].split(",")[:2]
            if int(c):
                got.add((sf, int(l)))
    print(f"  boot {boot}: kcovd covers {len(got)} lines in {len({f for f, _ in got})} files; "
          f"addr2line predicts {len(want)}")
    if got != want:
        extra, missing = sorted(got - want), sorted(want - got)
        fail.append(f"boot {boot}: kcovd's covered lines differ from addr2line's: "
                    f"{len(extra)} extra {extra[:10]}, {len(missing)} missing {missing[:10]}")
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
PY
# kcovd must stop cleanly (exit 0 on SIGTERM).
for p in "${srv_pids[@]}"; do
	kill -TERM "$p"
	rc=0
	wait "$p" || rc=$?
	((rc == 0)) || { echo "FAIL: kcovd (pid $p) exited $rc on SIGTERM"; exit 1; }
done
srv_pids=()
echo "e2e: passed"
