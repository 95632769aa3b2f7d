#!/usr/bin/env bash
# Kernel merge test (part of tests/kernel/run.sh, after both configurations):
# the coverage of one real 6.1 build (S: a boot of the default configuration,
# the spool tests/kernel/e2e.sh saved) merged with merge= onto another build
# of the same source (T: the smp-kasan configuration, imported, no coverage
# of its own). Both import with their --source trees and no strip_prefix.
# Checks against an independent oracle:
#   - S's covered lines: the innermost llvm-addr2line frame of every covered
#     PC - 5 of S's vmlinux (GNU addr2line -j .text for the module);
#   - T's lines: every coverage point of T's vmlinux (e8 calls to
#     __sanitizer_cov_trace_pc_guard in .text) and .ko (R_X86_64_PLT32
#     against it), by the same symbolizers;
#   - the line maps: identity where the two source files are byte-identical,
#     else difflib over their lines; no map where either side has no file.
# Then the merged lines of T (LCOV DA > 0 of lcov?merge=S) are exactly S's
# covered lines that map onto a line of T with points; the lost lines of
# the tree and the summary, and the files T lacks (lost_files), are exactly
# the covered lines of S that map nowhere; T's own LCOV lists exactly its
# point lines and covers none.
# Usage: tests/kernel/e2e-merge.sh KDIR_S SPOOL_S KDIR_T
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/kernel/lib.sh
ks=$(cd "$1" && pwd -P)
spool=$2
kt=$(cd "$3" && pwd -P)
build=${KC_BUILD_DIR:-build}
kc_merge_work e2e-merge
kc_merge_serve

# A copy: push deletes what it delivered, and the caller's spool may be reused.
cp -r "$spool" "$work/spool"
"$work/kcov-collect" push --spool "$work/spool" --server "$url" --token "$push"
get /api/v1/builds "$work/builds.json"
bs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["builds"][0]["build_id"])' \
	"$work/builds.json")
t0=$(date +%s)
import "$ks" "$work/mods" "$work/imports.json"
import "$kt" "$work/modt" "$work/importt.json"
t1=$(date +%s)
bt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["build_id"])' \
	"$work/importt.json")
[[ $bs != "$bt" ]] || { echo "FAIL: the two configurations have one build id $bs"; exit 1; }
echo "  e2e-merge: S $bs (default), T $bt (smp-kasan), both imported in $((t1 - t0))s"
get "/api/v1/builds/$bs/pcs" "$work/pcs.json"
get "/api/v1/builds/$bt/lcov" "$work/lcov-t.info"
get "/api/v1/builds/$bt/lcov?merge=$bs" "$work/lcov-m.info"
get "/api/v1/builds/$bt/tree?merge=$bs" "$work/tree.json"
get "/api/v1/builds/$bt/summary?merge=$bs" "$work/summary.json"
get "/api/v1/builds/$bt/files/fs/read_write.c?merge=$bs" "$work/rw.json"

python3 - "$work" "$ks" "$kt" <<'PY'
import json, os, sys
sys.dont_write_bytecode = True  # (no __pycache__ in the tree)
sys.path.insert(0, "tests/kernel")
from kcov_oracle import lcov, link_text, lines_of as lines_at, module_points, vmlinux_points
from kcov_oracle import line_map as oracle_line_map
work, ks, kt = sys.argv[1:4]
fail = []

def lines_of(k, vm_pcs, mod_offs):
    return lines_at(k, vm_pcs, mod_offs, os.path.normpath(f"{k}/linux-source-6.1") + "/")

# S's covered lines, from its canonical coverage.
bins = {b["name"]: b["offsets"] for b in json.load(open(f"{work}/pcs.json"))["binaries"]}
lts = link_text(ks)
s_cov = lines_of(ks, [lts + o for o in bins.get("vmlinux", [])], bins.get("test_kcov_unique", []))
# T's point lines.
t_pts = vmlinux_points(kt)
t_lines = lines_of(kt, t_pts, module_points(kt))
t_files = {f for f, _ in t_lines}
print(f"  e2e-merge: S covers {len(s_cov)} lines; T has {len(t_pts)} vmlinux points on "
      f"{len(t_lines)} lines in {len(t_files)} files")

own, merged = lcov(f"{work}/lcov-t.info"), lcov(f"{work}/lcov-m.info")
if set(own) != t_lines:
    a, b = sorted(set(own) - t_lines), sorted(t_lines - set(own))
    fail.append(f"T's LCOV lines differ from its points: {len(a)} extra {a[:5]}, "
                f"{len(b)} missing {b[:5]}")
if any(own.values()):
    fail.append("T has coverage of its own")

# The line maps, from the two source trees.
maps = {}
def line_map(f):
    if f not in maps:
        maps[f] = oracle_line_map(ks, kt, f)
    return maps[f]

want_merged, lost_in_t, lost_files, unpointed = set(), {}, {}, 0
for f, l in s_cov:
    if f not in t_files:
        lost_files[f] = lost_files.get(f, 0) + 1
        continue
    m = line_map(f)
    to = None if m is None else l if m == "identity" else m.get(l)
    if to is None:
        lost_in_t[f] = lost_in_t.get(f, 0) + 1
    elif (f, to) in t_lines:
        want_merged.add((f, to))
    else:
        unpointed += 1  # a line only S's instrumentation has: neither shown nor lost
got_merged = {k for k, c in merged.items() if c}
changed = sorted(f for f, m in maps.items() if m not in (None, "identity"))
print(f"  e2e-merge: {len(maps)} files of S's coverage in T: {len(changed)} differ "
      f"{changed[:5]}, {sum(m is None for m in maps.values())} without text on a side; "
      f"oracle: {len(want_merged)} merged lines of T, {sum(lost_in_t.values())} lost in T's "
      f"files, {sum(lost_files.values())} in {len(lost_files)} files T lacks, {unpointed} "
      f"on lines without points in T")
print(f"  e2e-merge: kcovd: {len(got_merged)} merged lines of T")
if got_merged != want_merged or not want_merged:
    a, b = sorted(got_merged - want_merged), sorted(want_merged - got_merged)
    fail.append(f"merged lines differ: {len(a)} extra {a[:8]}, {len(b)} missing {b[:8]}")
tree, summ = json.load(open(f"{work}/tree.json")), json.load(open(f"{work}/summary.json"))
nlost = sum(lost_in_t.values())
print(f"  e2e-merge: kcovd: tree lost_lines {tree.get('lost_lines')}, summary lost_lines "
      f"{summ.get('lost_lines')}, {len(summ.get('lost_files', []))} lost files")
if tree.get("lost_lines") != nlost:
    fail.append(f"tree lost_lines {tree.get('lost_lines')}, want {nlost}")
if summ.get("lost_lines") != nlost + sum(lost_files.values()):
    fail.append(f"summary lost_lines {summ.get('lost_lines')}, want {nlost} + "
                f"{sum(lost_files.values())}")
got_lf = {x["path"]: x["lost_lines"] for x in summ.get("lost_files", [])}
if got_lf != lost_files:
    fail.append(f"lost_files differ: {sorted(set(got_lf.items()) ^ set(lost_files.items()))[:8]}")
rw = json.load(open(f"{work}/rw.json"))
rw_other = [x["line"] for x in rw["lines"] if x["state"] != "uncovered"]
print(f"  e2e-merge: fs/read_write.c of T: {len(rw_other)} lines covered by S "
      f"(all with builds {sorted({b for x in rw['lines'] for b in x['builds']})})")
if not rw_other or rw_other != sorted(l for f, l in want_merged if f == "fs/read_write.c"):
    fail.append("fs/read_write.c: merged lines differ from the oracle")
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
PY
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
((rc == 0)) || { echo "FAIL: kcovd exited $rc on SIGTERM"; exit 1; }
echo "e2e-merge: passed"
