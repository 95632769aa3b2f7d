#!/usr/bin/env bash
# bench/distro-layouts.sh - import the cached real 6.1 test kernel twice,
# as built (vmlinux + .ko with DWARF) and as a distribution ships it
# (vmlinux stripped with objcopy --strip-debug, DWARF in a .build-id debug
# directory, the module stripped and xz-compressed in a modules_install
# tree), print both import times and check that both databases hold the
# same rows. Not part of bench/run (one figure, needs the kernel cache).
#
#   bench/distro-layouts.sh [KCOVD] [KERNEL_BUILD_DIR]
#
# Defaults: build/server/kcovd and the first /var/cache/kcov-kernel/build-*
# holding a vmlinux and test_kcov_unique.ko.
set -euo pipefail
KCOVD=${1:-build/server/kcovd}
K=${2:-$(dirname "$(ls /var/cache/kcov-kernel/build-*/test_kcov_unique.ko | head -1)")}
KCOVD=$(realpath "$KCOVD")
W=$(mktemp -d /tmp/kcov-distro-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
bid() { readelf -n "$1" | sed -n 's/.*Build ID: //p'; }
mkdir -p plain/mods distro/lib/modules/6.1.0/kernel/test dbg
cp "$K/test_kcov_unique.ko" plain/mods/
objcopy --only-keep-debug "$K/vmlinux" dbg/vmlinux.debug
objcopy --strip-debug "$K/vmlinux" distro/vmlinux
# llvm-objcopy for the clang/lld -r module: GNU objcopy --strip-debug
# drops most of its .rela.text relocations (54 points -> 11, see
# docs/symbolization.md).
llvm-objcopy --only-keep-debug "$K/test_kcov_unique.ko" dbg/mod.debug
llvm-objcopy --strip-debug "$K/test_kcov_unique.ko" \
  distro/lib/modules/6.1.0/kernel/test/test_kcov_unique.ko
xz distro/lib/modules/6.1.0/kernel/test/test_kcov_unique.ko
for pair in "vmlinux.debug $K/vmlinux" "mod.debug $K/test_kcov_unique.ko"; do
  set -- $pair
  b=$(bid "$2")
  mkdir -p "dbg/.build-id/${b:0:2}"
  ln -s "$W/dbg/$1" "dbg/.build-id/${b:0:2}/${b:2}.debug"
done
/usr/bin/time -f "plain import: %e s, %M KiB max RSS" "$KCOVD" import-build --data-dir db1 \
  --vmlinux "$K/vmlinux" --modules plain/mods >/dev/null
/usr/bin/time -f "distro import: %e s, %M KiB max RSS" "$KCOVD" import-build --data-dir db2 \
  --vmlinux distro/vmlinux --modules distro/lib/modules/6.1.0 --debug-dir dbg >/dev/null
python3 - "$W" <<'PY'
import sqlite3, sys
qs = ("SELECT kind, name, points, skipped_points, unresolved_points, hex(bits) FROM images ORDER BY 1, 2",
      "SELECT path, points, nlines, nfuncs, hex(lines) FROM files ORDER BY 1",
      "SELECT f.path, fn.idx, fn.name, fn.line_start, fn.line_end, fn.points FROM functions fn "
      "JOIN files f ON f.id = fn.file ORDER BY 1, 2",
      "SELECT f.path, i.name, hex(fp.bits), hex(fp.line_idx), hex(fp.func_idx) FROM file_points fp "
      "JOIN files f ON f.id = fp.file JOIN images i ON i.id = fp.image ORDER BY 1, 2")
dump = lambda db: [sqlite3.connect(db).execute(q).fetchall() for q in qs]
a, b = dump(sys.argv[1] + "/db1/kcovd.db"), dump(sys.argv[1] + "/db2/kcovd.db")
print("images:", [r[:5] for r in a[0]])
print("files %d, functions %d, file_points %d" % (len(a[1]), len(a[2]), len(a[3])))
print("same rows:", a == b)
sys.exit(0 if a == b else 1)
PY
