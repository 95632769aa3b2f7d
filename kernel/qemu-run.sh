#!/usr/bin/env bash
# Boot the KCOV test kernel under QEMU (TCG) with a busybox initramfs and run a
# guest script; whatever the script writes to /dev/ttyS1 lands in OUT.
#
# Usage: kernel/qemu-run.sh -k KERNEL_DIR -s GUEST_SCRIPT -o OUT [-l SERIAL_LOG]
#            [-t TIMEOUT_S] [-a KERNEL_ARGS] [-f HOST_FILE:GUEST_PATH]...
#            [-b HOST_BINARY:GUEST_PATH]...
#   KERNEL_DIR   output of kernel/build.sh (bzImage, test_kcov_unique.ko,
#                .config: CONFIG_SMP=y boots with -smp 4, otherwise -smp 1)
#   -f           copy a file into the initramfs
#   -b           copy a dynamically linked binary plus the libraries ldd lists
#   -a           more kernel command-line words (an unused word such as
#                kcov_seed=N changes the boot parameters that KASLR hashes
#                into its seed, so it draws another offset)
#
# The guest /init mounts proc, sysfs, devtmpfs and debugfs, loads
# /test_kcov_unique.ko, runs GUEST_SCRIPT with /bin/sh and ends with reboot -f
# (the kernel has no ACPI; -no-reboot turns the reboot into a QEMU exit).
# Exit status: 0 if the guest script ran to completion ("KCOV-GUEST-DONE rc=N"
# appears on the console; N is the script's status, printed), 1 otherwise.
set -euo pipefail
kdir= script= out= slog= timeout=120 kargs=
files=() bins=()
while getopts k:s:o:l:t:f:b:a: opt; do
	case $opt in
	k) kdir=$OPTARG ;; s) script=$OPTARG ;; o) out=$OPTARG ;;
	l) slog=$OPTARG ;; t) timeout=$OPTARG ;; a) kargs=$OPTARG ;;
	f) files+=("$OPTARG") ;; b) bins+=("$OPTARG") ;;
	*) exit 2 ;;
	esac
done
[[ -n $kdir && -n $script && -n $out ]] || { sed -n 2,20p "$0" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,root,etc,lib,lib64}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
	[[ $a == busybox ]] || ln -sf busybox "$root/bin/$a"
done
cp "$kdir/test_kcov_unique.ko" "$root/"
cp "$script" "$root/guest.sh"
for f in "${files[@]}"; do
	mkdir -p "$root/$(dirname "${f#*:}")"
	cp "${f%%:*}" "$root/${f#*:}"
done
for b in "${bins[@]}"; do
	src=${b%%:*} dst=${b#*:}
	mkdir -p "$root/$(dirname "$dst")"
	cp "$src" "$root/$dst"
	# Shared libraries at the paths the dynamic loader expects.
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
		mkdir -p "$root/$(dirname "$lib")"
		cp -L "$lib" "$root/$lib"
	done
done
cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
echo 0 > /proc/sys/kernel/kptr_restrict
echo 0 > /proc/sys/kernel/randomize_va_space
stty -F /dev/ttyS1 raw -echo 2>/dev/null
insmod /test_kcov_unique.ko || echo "insmod failed"
echo "KCOV-GUEST-START"
/bin/sh /guest.sh
rc=$?
# The whole kernel log, also what loglevel=4 kept off the console (sysfs's
# "cannot create duplicate filename" and its stack dump are KERN_WARNING),
# so that the host's kernel_log_clean sees it.
echo "KCOV-DMESG-BEGIN"
dmesg
echo "KCOV-DMESG-END"
echo "KCOV-GUEST-DONE rc=$rc"
sync
reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"
: > "$out"
log=${slog:-$work/serial.log}
set +e
# An SMP kernel (kernel/build.sh --config smp-kasan) gets four CPUs, so that
# races between tasks on different CPUs can happen. no_timer_check: under
# TCG on a loaded host the IO-APIC timer check can miss its ticks and panic
# the boot ("IO-APIC + timer doesn't work!", seen at load average 26); the
# emulated timer works, the check is what fails.
cpus=1
grep -qx 'CONFIG_SMP=y' "$kdir/.config" 2>/dev/null && cpus=4
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg -m 512 -smp "$cpus" \
	-display none -no-reboot -nic none -monitor none \
	-kernel "$kdir/bzImage" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 loglevel=4 no_timer_check kaslr $kargs" \
	-serial "file:$log" -serial "file:$out" </dev/null >/dev/null 2>&1
qrc=$?
set -e
tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
if ! grep -q '^KCOV-GUEST-DONE' "$log"; then
	echo "guest did not finish (qemu status $qrc); serial log tail:" >&2
	tail -30 "$log" >&2
	exit 1
fi
grep '^KCOV-GUEST-DONE' "$log" >&2
exit 0
