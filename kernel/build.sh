#!/usr/bin/env bash
# Build the KCOV_UNIQUE test kernel: Debian linux-source-6.1 + kernel/patches/*
# + kernel/config.fragment on top of x86_64 tinyconfig, built with LLVM=1.
# --config smp-kasan builds the second configuration: the same plus
# kernel/config-smp-kasan.fragment (SMP, PREEMPT, KASAN, comparisons).
#
# The build lives outside the repository, in $KCOV_KERNEL_CACHE (default
# /var/cache/kcov-kernel), keyed by a hash of the source package version, the
# patches, the config fragment(s), the clang version and a recipe number, so
# a second run reuses it.
# On success prints the build directory; it holds:
#   bzImage  vmlinux  test_kcov_unique.ko  .config  System.map
#
# Usage: kernel/build.sh [--no-deps] [--print-dir] [--config default|smp-kasan]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KCOV_KERNEL_CACHE:-/var/cache/kcov-kernel}
deps=1
print_only=0
config=default
while (($#)); do
	case $1 in
	--no-deps) deps=0 ;;
	--print-dir) print_only=1; deps=0 ;;
	--config) config=${2:-}; shift ;;
	*) echo "usage: $0 [--no-deps] [--print-dir] [--config default|smp-kasan]" >&2; exit 2 ;;
	esac
	shift
done
# The fragments merged onto tinyconfig, in order.
fragments=("$here/config.fragment")
case $config in
default) ;;
smp-kasan) fragments+=("$here/config-smp-kasan.fragment") ;;
*) echo "unknown --config '$config' (default, smp-kasan)" >&2; exit 2 ;;
esac

# Bump when the build steps below change in a way that changes the output.
recipe=1

log() { echo "[kernel/build] $*" >&2; }

install_deps() {
	local pkgs=(linux-source-6.1 clang lld llvm qemu-system-x86 busybox-static
		flex bison bc libelf-dev libssl-dev cpio xz-utils python3 make gcc
		libc6-dev rsync kmod)
	local missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	if ((${#missing[@]})); then
		log "installing: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >&2
		apt-get install -y -q "${missing[@]}" >&2
	fi
}
((deps)) && install_deps

tarball=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null || true)
[[ -n $tarball ]] || { echo "linux-source-6.1 is not installed" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo unknown)

# Patches that only touch Documentation/ or tools/testing/ do not change the
# kernel binaries: leave them out of the key (and of the other patches, the
# text before the first diff: the message) so a doc or selftest edit does
# not force a rebuild (the source tree of a cached build may hold older versions
# of them; tests/kernel/run.sh takes the selftest from kernel/patches).
build_patches() {
	local p
	for p in "$here"/patches/*.patch; do
		if grep -E '^\+\+\+ b/' "$p" | grep -qvE '^\+\+\+ b/(Documentation|tools/testing)/'; then
			echo "$p"
		fi
	done
}
# Only the diffs count: a commit message or diffstat edit does not change
# what is built.
key=$( {
	echo "src $srcver"
	build_patches | xargs sed -s -n '/^diff --git /,$p'
	cat "$here/config.fragment"
	# (the default configuration keeps the key it had before there were two)
	[[ $config == default ]] || { echo "config $config"; cat "${fragments[@]:1}"; }
	echo "recipe $recipe"
	clang --version | head -1
} | sha256sum | cut -c1-16)
dir=$cache/build-$key
if ((print_only)); then echo "$dir"; exit 0; fi
if [[ -f $dir/done ]]; then
	log "cached build $dir"
	echo "$dir"
	exit 0
fi

mkdir -p "$cache"
rm -rf "$dir"
mkdir -p "$dir"
t0=$(date +%s)
# The patched source tree is shared by the configurations: unpacked once
# into $cache/src-KEY (KEY: the package version and every patch), then
# copied as hard links (make with O= never writes to the source tree;
# kernel/build-patched.sh gives the files it patches their own copies).
srckey=$( { echo "src $srcver"; cat "$here"/patches/*.patch; } | sha256sum | cut -c1-16)
shared=$cache/src-$srckey
if [[ ! -f $shared/done ]]; then
	rm -rf "$shared"
	mkdir -p "$shared"
	log "unpacking $tarball"
	tar -C "$shared" -xf "$tarball"
	for p in "$here"/patches/*.patch; do
		log "applying $(basename "$p")"
		patch -d "$shared/linux-source-6.1" -p1 --quiet --forward < "$p"
	done
	touch "$shared/done"
fi
cp -al "$shared/linux-source-6.1" "$dir/"
src=$dir/linux-source-6.1
out=$dir/obj
mkdir -p "$out"
mk() { make -C "$src" O="$out" ARCH=x86_64 LLVM=1 "$@"; }
mk tinyconfig >/dev/null
"$src"/scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null
mk olddefconfig >/dev/null
# Every option of the fragments must have survived olddefconfig (this is
# also what catches CONFIG_KCOV_UNIQUE being dropped by a dependency).
bad=0
while IFS= read -r line; do
	[[ $line =~ ^CONFIG_ ]] || continue
	grep -qx -- "$line" "$out/.config" || { log "config option lost: $line"; bad=1; }
done < <(cat "${fragments[@]}")
((bad == 0)) || exit 1
t1=$(date +%s)
log "building (this takes a few minutes)"
# 6.1's tools/ build (objtool's libsubcmd) has a rare -j race ("fixdep: error
# opening depfile"); make is incremental, so a second attempt finishes it.
mk -j"$(nproc)" bzImage modules >"$dir/build.log" 2>&1 ||
	{ log "make failed, retrying once"; mk -j"$(nproc)" bzImage modules >>"$dir/build.log" 2>&1; } || {
	tail -40 "$dir/build.log" >&2; exit 1; }
t2=$(date +%s)
cp "$out/arch/x86/boot/bzImage" "$out/vmlinux" "$out/System.map" "$out/.config" "$dir/"
find "$out" -name test_kcov_unique.ko -exec cp {} "$dir/" \;
[[ -f $dir/test_kcov_unique.ko ]] || { log "test module missing"; exit 1; }
echo "unpack+patch+config $((t1 - t0))s build $((t2 - t1))s" > "$dir/times"
log "$(cat "$dir/times")"
touch "$dir/done"
echo "$dir"
