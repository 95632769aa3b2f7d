#!/usr/bin/env bash
# Load demo coverage into a running kcovd: three emulated test machines
# (the KCOV stand-in, each boot with its own KASLR and module placement) run
# a few workloads with the real kcov-collect and push them.
# Usage: scripts/demo-load.sh BUILD_DIR SERVER_URL PUSH_TOKEN
set -euo pipefail
build=$1 url=$2 token=$3
root=$(cd "$(dirname "$0")/.." && pwd)
desc=$root/tests/fixtures/standin/kernel.desc
work=$(mktemp -d /tmp/kcov-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
collect=$build/collector/kcov-collect
st=$build/tests/kcov-standin

machine() { # NAME KASLR NET_BASE FS_BASE BOOT_ID
  local d=$work/$1
  mkdir -p "$d/state"
  "$st/kcov-standin-mksysroot" "$desc" "$d/sysroot" --kaslr "$2" \
    --module "standin_net=$3" --module "standin_fs=$4" --boot-id "$5"
}
run() { # NAME LABEL MODE SYSCALLS...
  local name=$1 label=$2 mode=$3; shift 3
  local d=$work/$name
  LD_PRELOAD=$st/libkcov_standin.so KCOV_STANDIN_KERNEL=$desc \
    KCOV_STANDIN_SYSROOT=$d/sysroot KCOV_STANDIN_STATE=$d/state KCOV_STANDIN_DEVICE=$d/kcov \
    "$collect" run --spool "$d/spool" --machine "$name" --label "$label" --mode "$mode" \
      --device "$d/kcov" --sysroot "$d/sysroot" --words 4096 --bitmap-words 64 \
      --workload "$*" -- "$st/kcov-standin-workload" "$@" 2>/dev/null
}
machine ci-vm-01 0x1e000000 0xffffffffc0010000 0xffffffffc0040000 11111111-aaaa-4bbb-8ccc-000000000001
machine ci-vm-02 0x0a400000 0xffffffffc0230000 0xffffffffc0120000 22222222-aaaa-4bbb-8ccc-000000000002
machine fuzz-07 0x26200000 0xffffffffc0500000 0xffffffffc0600000 33333333-aaaa-4bbb-8ccc-000000000003
run ci-vm-01 ltp unique read write open close || true
run ci-vm-01 ltp unique stat mmap || true
run ci-vm-02 kselftest unique getpid sendmsg || true
run ci-vm-02 kselftest trace poll_loop || true
run fuzz-07 syzkaller unique futex_loop open sendmsg || true
run fuzz-07 syzkaller trace futex_loop || true
for m in ci-vm-01 ci-vm-02 fuzz-07; do
  "$collect" push --spool "$work/$m/spool" --server "$url" --token "$token"
done
