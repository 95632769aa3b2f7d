#!/usr/bin/env bash
# Install every Debian package the project needs to build, run and test.
# Safe to run repeatedly; runs as root (CI) or through sudo.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libsqlite3-dev sqlite3
  libelf-dev libdw-dev zlib1g-dev liblzma-dev libzstd-dev libroaring-dev libjansson-dev libsodium-dev libcmocka-dev libgit2-dev
  libpcre2-dev
  postgresql libpq-dev  # the PostgreSQL backend (server/store/sql_pg.c) and its test server (tests/integration/pgserver.py)
  linux-source-6.1
  clang lld llvm libclang-rt-14-dev lcov curl python3 openssl git binutils xz-utils zstd
  systemd  # systemd-analyze verify of the packaged units (tests/integration/test_packages.py)
  systemd-container  # systemd-nspawn boots this machine's root under systemd (test_systemd.py)
  faketime  # the demo's machines run on earlier days (scripts/demokernel.py)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The web UI's browser tests: Debian's Chromium (driven by playwright-core,
# no browser download) and Node.js with npm unless a node is already there.
web=()
dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" || web+=(chromium)
command -v node >/dev/null || web+=(nodejs)
command -v npm >/dev/null || web+=(npm)
if [ "${#web[@]}" -gt 0 ]; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${web[@]}"
fi
