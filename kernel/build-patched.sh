#!/usr/bin/env bash
# Build a patched variant of a cached test kernel incrementally, for the
# merge test of two builds of different source (tests/kernel/e2e-patched.sh):
# BASE is a finished kernel/build.sh directory, PATCH a small -p1 patch
# (kernel/test-patches/). The cache entry BASE is never written:
#   - its source tree is copied as hard links, except the files PATCH
#     touches, which become new files before the patch is applied;
#   - its object directory is copied with cp -a (timestamps kept), so make
#     rebuilds only what the patch touches (and relinks);
#   - Kbuild's command lines and dependency files name the absolute source
#     and object paths (srctree is absolute with this O= layout), so make runs
#     in a private mount namespace with the copy bind-mounted over BASE's path:
#     the command lines match, nothing else is rebuilt, and the new objects'
#     DWARF names the same absolute source root as BASE's (the import detects
#     it; the source text is read from the copy, given as --source).
# The result is cached itself under $KCOV_KERNEL_CACHE/patched-KEY, KEY a hash
# of BASE's directory name, the patch and a recipe number: a second run costs
# nothing. On success prints the directory; it holds the files build.sh's do
# (bzImage vmlinux test_kcov_unique.ko .config System.map linux-source-6.1)
# and `rebuilt`, the objects make wrote.
# Usage: kernel/build-patched.sh BASE_DIR PATCH
set -euo pipefail
base=$(cd "$1" && pwd -P)
patchf=$2
cache=${KCOV_KERNEL_CACHE:-/var/cache/kcov-kernel}
recipe=1
log() { echo "[kernel/build-patched] $*" >&2; }
[[ -f $base/done && -d $base/obj && -d $base/linux-source-6.1 ]] ||
	{ echo "not a finished kernel/build.sh directory: $base" >&2; exit 1; }
key=$( { echo "base $(basename "$base")"; cat "$patchf"; echo "recipe $recipe"; } |
	sha256sum | cut -c1-16)
dir=$cache/patched-$key
if [[ -f $dir/done ]]; then
	log "cached build $dir"
	echo "$dir"
	exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
t0=$(date +%s)
cp -al "$base/linux-source-6.1" "$dir/"
src=$dir/linux-source-6.1
# The files the patch touches become files of their own (a patch through a
# hard link would change the base tree's file too).
while read -r f; do
	cp --remove-destination -p "$base/linux-source-6.1/$f" "$src/$f"
done < <(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$patchf")
patch -d "$src" -p1 --quiet --forward < "$patchf"
cp -a "$base/obj" "$dir/"
touch "$dir/stamp"
t1=$(date +%s)
log "building incrementally on $(basename "$base")"
unshare -m --propagation private bash -c '
	set -e
	mount --bind "$1" "$2"
	make -C "$2/linux-source-6.1" O="$2/obj" ARCH=x86_64 LLVM=1 -j"$(nproc)" bzImage modules
' _ "$dir" "$base" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log" >&2; exit 1; }
t2=$(date +%s)
out=$dir/obj
find "$out" -name '*.o' -newer "$dir/stamp" -printf '%P\n' | sort > "$dir/rebuilt"
cp "$out/arch/x86/boot/bzImage" "$out/vmlinux" "$out/System.map" "$out/.config" "$dir/"
find "$out" -name test_kcov_unique.ko -exec cp {} "$dir/" \;
[[ -f $dir/test_kcov_unique.ko ]] || { log "test module missing"; exit 1; }
echo "copy+patch $((t1 - t0))s build $((t2 - t1))s objects rebuilt $(wc -l < "$dir/rebuilt")" > "$dir/times"
log "$(cat "$dir/times")"
touch "$dir/done"
echo "$dir"
