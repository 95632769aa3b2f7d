#!/usr/bin/env bash
# Kernel merge test across a source change (part of tests/kernel/run.sh,
# after e2e-merge): S is a boot of the default configuration (the spool
# tests/kernel/e2e.sh saved), T the same kernel with a small patch to
# fs/read_write.c (kernel/build-patched.sh: lines inserted in vfs_read, one
# covered line changed), built incrementally from S's cached tree. T is booted
# under QEMU with the e2e workload (its own coverage), both builds import
# with --source (their own trees) and no strip_prefix, and S is merged onto T.
# Checks against an independent oracle:
#   - each build's covered lines: the innermost llvm-addr2line frame of every
#     covered PC - 5 of its vmlinux (GNU addr2line -j .text for the module);
#   - T's point lines: every guard call in T's vmlinux and .ko, likewise;
#   - the line maps: identity where the two source files are byte-identical
#     (every file but fs/read_write.c), else Python's difflib over the lines.
# Then (lcov?merge=S, files/fs/read_write.c?merge=S, tree, summary):
#   - the merged covered lines of T are exactly T's own covered lines plus
#     S's covered lines mapped onto a line of T with points: in fs/read_write.c
#     the unchanged, shifted lines keep S's coverage (S listed in `builds`),
#     and every other file is the plain union;
#   - S's covered lines of fs/read_write.c that map nowhere (the changed
#     line) are exactly the `lost` lines with reason `changed`, and the only
#     lost lines of the tree and the summary; no file of S is missing in T;
#   - T's own LCOV lists exactly its point lines and covers exactly its PCs.
# T's objects that make did not rebuild keep S's DWARF, and the rebuilt ones
# were compiled through S's path (see kernel/build-patched.sh): T's DWARF
# names S's source root, which the import detects; T's text comes from T's
# own --source tree.
# Usage: tests/kernel/e2e-patched.sh KDIR_S SPOOL_S KDIR_T
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/testlib.sh
. tests/kernel/lib.sh
ks=$(cd "$1" && pwd -P)
spool=$2
kt=$(cd "$3" && pwd -P)
build=${KC_BUILD_DIR:-build}
kc_merge_work e2e-patched
gcc -O2 -Wall -static -o "$work/e2e-workload" tests/kernel/e2e-workload.c

# The build was incremental: make compiled the patched file and relinked
# (kallsyms passes, the version stamp, the compressed boot image), nothing else.
if [[ ! -s $kt/rebuilt ]] || ! grep -qx 'fs/read_write.o' "$kt/rebuilt"; then
	echo "FAIL: e2e-patched: $kt/rebuilt does not list fs/read_write.o"; exit 1
fi
other=$(grep -vxE 'fs/read_write\.o|vmlinux\.o|\.tmp_vmlinux\.kallsyms[0-9]\.o|init/version(-timestamp)?\.o|arch/x86/boot/.*' \
	"$kt/rebuilt" || true)
[[ -z $other ]] || { echo "FAIL: e2e-patched: objects rebuilt beyond the patch: $other"; exit 1; }
echo "  e2e-patched: T: $(cat "$kt/times")"

# T's own coverage: one boot with the e2e guest script and workload.
awk '$3 == "_text" { print $1; exit }' "$kt/System.map" > "$work/link_text"
echo "qemu-e2e-patched" > "$work/machine"
t0=$(date +%s)
kernel/qemu-run.sh -k "$kt" -s tests/kernel/guest-e2e.sh -o "$work/out" \
	-l "$work/serial.log" -t "${KCOV_E2E_TIMEOUT:-180}" \
	-b "$work/kcov-collect:/kcov-collect" -f "$work/e2e-workload:/e2e-workload" \
	-f "$work/link_text:/link_text" -f "$work/machine:/machine"
tr -d '\r' < "$work/out" > "$work/out.txt"
kernel_log_clean "$work/serial.log"
grep -q '^early_rc=0$' "$work/out.txt" && grep -q '^collect_rc=0$' "$work/out.txt" || {
	echo "FAIL: kcov-collect failed in the guest:"; sed -n "1,/^BEGIN-SPOOL/p" "$work/out.txt" | head -40; exit 1; }
mkdir -p "$work/bootT"
sed -n '/^BEGIN-SPOOL$/,/^END-SPOOL$/p' "$work/out.txt" | sed '1d;$d' |
	base64 -d | tar -C "$work/bootT" -mxf -
echo "  e2e-patched: T booted in $(( $(date +%s) - t0 ))s"

kc_merge_serve
bid() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["build_id"])' "$1"; }

# Copies: push deletes what it delivered, and the caller's spool may be reused.
cp -r "$spool" "$work/spoolS"
"$work/kcov-collect" push --spool "$work/spoolS" --server "$url" --token "$push"
"$work/kcov-collect" push --spool "$work/bootT/spool" --server "$url" --token "$push"
t1=$(date +%s)
import "$ks" "$work/mods" "$work/imports.json"
import "$kt" "$work/modt" "$work/importt.json"
t2=$(date +%s)
bs=$(bid "$work/imports.json")
bt=$(bid "$work/importt.json")
[[ $bs != "$bt" ]] || { echo "FAIL: the two builds have one build id $bs"; exit 1; }
echo "  e2e-patched: S $bs (default), T $bt (patched), both imported in $((t2 - t1))s"
get "/api/v1/builds/$bs/pcs" "$work/pcs-s.json"
get "/api/v1/builds/$bt/pcs" "$work/pcs-t.json"
get "/api/v1/builds/$bt/lcov" "$work/lcov-t.info"
get "/api/v1/builds/$bt/lcov?merge=$bs" "$work/lcov-m.info"
get "/api/v1/builds/$bt/tree?merge=$bs" "$work/tree.json"
get "/api/v1/builds/$bt/summary?merge=$bs" "$work/summary.json"
get "/api/v1/builds/$bt/files/fs/read_write.c?merge=$bs" "$work/rw.json"

python3 - "$work" "$ks" "$kt" "$bs" "$bt" <<'PY'
import json, os, sys
sys.dont_write_bytecode = True  # (no __pycache__ in the tree)
sys.path.insert(0, "tests/kernel")
from kcov_oracle import lcov, line_map, link_text, lines_of as lines_at, module_points, vmlinux_points
work, ks, kt, bs, bt = sys.argv[1:6]
fail = []
PATCHED = "fs/read_write.c"

# Both builds' DWARF names S's tree (T was compiled through S's path).
root = os.path.normpath(f"{ks}/linux-source-6.1") + "/"
imp_t = json.load(open(f"{work}/importt.json"))
if os.path.normpath(imp_t.get("source_root") or "/") + "/" != root:
    fail.append(f"T's detected source_root {imp_t.get('source_root')}, want {root}")

def lines_of(k, vm_pcs, mod_offs):
    return lines_at(k, vm_pcs, mod_offs, root)

def covered(k, name):
    bins = {b["name"]: b["offsets"] for b in json.load(open(f"{work}/{name}"))["binaries"]}
    lt = link_text(k)
    return lines_of(k, [lt + o for o in bins.get("vmlinux", [])], bins.get("test_kcov_unique", []))

s_cov, t_cov = covered(ks, "pcs-s.json"), covered(kt, "pcs-t.json")
t_lines = lines_of(kt, vmlinux_points(kt), module_points(kt))
t_files = {f for f, _ in t_lines}
print(f"  e2e-patched: S covers {len(s_cov)} lines, T {len(t_cov)}; T has points on "
      f"{len(t_lines)} lines in {len(t_files)} files")

own, merged = lcov(f"{work}/lcov-t.info"), lcov(f"{work}/lcov-m.info")
if set(own) != t_lines:
    a, b = sorted(set(own) - t_lines), sorted(t_lines - set(own))
    fail.append(f"T's LCOV lines differ from its points: {len(a)} extra {a[:5]}, "
                f"{len(b)} missing {b[:5]}")
got_own = {k for k, c in own.items() if c}
if got_own != t_cov:
    a, b = sorted(got_own - t_cov), sorted(t_cov - got_own)
    fail.append(f"T's own covered lines differ: {len(a)} extra {a[:5]}, {len(b)} missing {b[:5]}")

# The line maps: which files differ between the trees (only the patched one
# should), and difflib's map for those.
maps = {f: line_map(ks, kt, f) for f in sorted({f for f, _ in s_cov})}
changed = sorted(f for f, m in maps.items() if m not in (None, "identity"))
if changed != [PATCHED]:
    fail.append(f"files that differ between the trees: {changed}, want [{PATCHED}]")

want_merged, lost, lost_files, shifted = set(t_cov), {}, {}, 0
for f, l in sorted(s_cov):
    if f not in t_files:
        lost_files[f] = lost_files.get(f, 0) + 1
        continue
    m = maps[f]
    to = None if m is None else l if m == "identity" else m.get(l)
    if to is None:
        lost.setdefault(f, []).append(l)
    elif (f, to) in t_lines:
        want_merged.add((f, to))
        shifted += to != l
got_merged = {k for k, c in merged.items() if c}
nlost = sum(len(v) for v in lost.values())
print(f"  e2e-patched: oracle: {len(want_merged)} merged lines of T ({len(want_merged - t_cov)} "
      f"from S alone, {shifted} of S's lines shifted), lost {lost}, files T lacks {lost_files}")
print(f"  e2e-patched: kcovd: {len(got_merged)} merged lines of T")
if got_merged != want_merged:
    a, b = sorted(got_merged - want_merged), sorted(want_merged - got_merged)
    fail.append(f"merged lines differ: {len(a)} extra {a[:8]}, {len(b)} missing {b[:8]}")
if not shifted or not lost.get(PATCHED) or set(lost) != {PATCHED}:
    fail.append(f"the patch should shift covered lines and lose some in {PATCHED} only: "
                f"shifted {shifted}, lost {lost}")

# The patched file: S's coverage on the unchanged lines, the changed ones lost.
rw = json.load(open(f"{work}/rw.json"))
by_line = {x["line"]: x for x in rw["lines"]}
want_s = sorted(maps[PATCHED][l] for f, l in s_cov if f == PATCHED and
                maps[PATCHED].get(l) and (f, maps[PATCHED][l]) in t_lines)
got_s = sorted(l for l, x in by_line.items() if bs in x.get("builds", []))
print(f"  e2e-patched: {PATCHED} of T: S covers lines {want_s} (oracle), kcovd {got_s}")
if got_s != want_s:
    fail.append(f"{PATCHED}: lines with S's coverage differ: got {got_s}, want {want_s}")
got_t = sorted(l for l, x in by_line.items() if bt in x.get("builds", []))
want_t = sorted(l for f, l in t_cov if f == PATCHED)
if got_t != want_t:
    fail.append(f"{PATCHED}: lines with T's coverage differ: got {got_t}, want {want_t}")
want_lost = [{"build_id": bs, "reason": "changed", "lines": sorted(lost.get(PATCHED, []))}]
print(f"  e2e-patched: {PATCHED}: lost {rw.get('lost')} (lost_lines {rw.get('lost_lines')}), "
      f"oracle {want_lost}")
if rw.get("lost") != want_lost or rw.get("lost_lines") != len(lost.get(PATCHED, [])):
    fail.append(f"{PATCHED}: lost {rw.get('lost')} / {rw.get('lost_lines')}, want {want_lost}")

tree, summ = json.load(open(f"{work}/tree.json")), json.load(open(f"{work}/summary.json"))
print(f"  e2e-patched: kcovd: tree lost_lines {tree.get('lost_lines')}, summary lost_lines "
      f"{summ.get('lost_lines')}, lost_files {summ.get('lost_files')}")
if tree.get("lost_lines") != nlost:
    fail.append(f"tree lost_lines {tree.get('lost_lines')}, want {nlost}")
if summ.get("lost_lines") != nlost + sum(lost_files.values()):
    fail.append(f"summary lost_lines {summ.get('lost_lines')}, want {nlost} + "
                f"{sum(lost_files.values())}")
got_lf = {x["path"]: x["lost_lines"] for x in summ.get("lost_files", [])}
if got_lf != lost_files:
    fail.append(f"lost_files differ: {sorted(set(got_lf.items()) ^ set(lost_files.items()))[:8]}")
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
PY
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
((rc == 0)) || { echo "FAIL: kcovd exited $rc on SIGTERM"; exit 1; }
echo "e2e-patched: passed"
