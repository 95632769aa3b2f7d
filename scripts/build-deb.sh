#!/usr/bin/env bash
# Build the Debian packages kcovd_VERSION_ARCH.deb and
# kcov-collect_VERSION_ARCH.deb from a built tree, with dpkg-deb.
# Usage: scripts/build-deb.sh BUILD_DIR OUT_DIR [VERSION]
# (VERSION defaults to 0.0~gitYYYYMMDD.HASH of the checkout.) Build the tree
# without sanitizers (scripts/build.sh build); KC_DEB_SANITIZED=1 packages
# a sanitizer tree anyway (the packaging test of the ASan tree). The Depends lines are the
# packages that own the shared libraries each binary needs (objdump, ldd,
# dpkg -S).
# docs/operations.md, "Packages and systemd units".
set -euo pipefail
build=$(cd "$1" && pwd)
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
version=${3:-}
if [ -z "$version" ]; then
  hash=$(git -C "$root" rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
  version="0.0~git$(date -u +%Y%m%d).$hash"
fi
arch=$(dpkg --print-architecture)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for bin in "$build/server/kcovd" "$build/collector/kcov-collect"; do
  [ -x "$bin" ] || { echo "build-deb: $bin missing: build the tree first" >&2; exit 1; }
  if [ "${KC_DEB_SANITIZED:-0}" != 1 ] && ldd "$bin" | grep -q 'libasan\|libubsan'; then
    echo "build-deb: $bin is a sanitizer build; package a plain one" >&2
    exit 1
  fi
done

# depends BINARY: the packages owning the shared libraries it needs
# directly (its DT_NEEDED entries, found where ldd finds them), sorted.
depends() {
  local needed
  needed=$(objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }')
  ldd "$1" | awk '/=> \// { print $1, $3 }' | while read -r name lib; do
    grep -qxF "$name" <<<"$needed" || continue
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null ||
      { echo "build-deb: no package owns $lib ($1)" >&2; exit 1; }
  done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g'
}

# control PKG DEPENDS DESCRIPTION...
control() {
  local pkg=$1 deps=$2
  shift 2
  cat <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: kcov fleet maintainers <kcov-fleet@localhost>
Section: devel
Priority: optional
Depends: $deps
Installed-Size: $(du -sk "$work/$pkg" --exclude=DEBIAN | cut -f1)
Homepage: https://localhost/kcov-fleet
Description: $1
$(shift; for l in "$@"; do echo " $l"; done)
EOF
}

# --- kcovd
d=$work/kcovd
install -D -m 0755 "$build/server/kcovd" "$d/usr/bin/kcovd"
strip --strip-unneeded "$d/usr/bin/kcovd"
install -D -m 0644 "$root/packaging/systemd/kcovd.service" "$d/lib/systemd/system/kcovd.service"
install -D -m 0644 "$root/packaging/default/kcovd" "$d/etc/default/kcovd"
mkdir -p "$d/usr/share/kcovd/web" "$d/usr/share/doc/kcovd"
(cd "$root/web" && cp -r --parents index.html app.css main.js lib views vendor \
  "$d/usr/share/kcovd/web/")
for f in operations.md api.md api-coverage.md; do
  install -m 0644 "$root/docs/$f" "$d/usr/share/doc/kcovd/$f"
done
mkdir -p "$d/DEBIAN"
echo /etc/default/kcovd > "$d/DEBIAN/conffiles"
cat > "$d/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# Create the service user; /var/lib/kcovd is the unit's StateDirectory.
# DPKG_ROOT (dpkg --root with --force-script-chrootless): the package goes
# into another root, so the user goes into its /etc and systemd is not
# asked.
set -e
if [ "$1" = configure ]; then
  if [ -n "${DPKG_ROOT:-}" ]; then
    grep -q '^kcovd:' "$DPKG_ROOT/etc/passwd" ||
      useradd --prefix "$DPKG_ROOT" --system --user-group --home-dir /var/lib/kcovd \
        --no-create-home --shell /usr/sbin/nologin --comment "kcovd coverage server" kcovd
  elif ! getent passwd kcovd >/dev/null; then
    adduser --system --group --home /var/lib/kcovd --no-create-home \
      --gecos "kcovd coverage server" kcovd >/dev/null
  fi
  if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
    # An upgrade restarts a running kcovd (it finishes queued writes first).
    systemctl try-restart kcovd.service >/dev/null || true
  fi
fi
exit 0
EOF
cat > "$d/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl stop kcovd.service >/dev/null || true
fi
exit 0
EOF
cat > "$d/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# The database in /var/lib/kcovd is kept, also on purge: remove it by hand.
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
fi
exit 0
EOF
chmod 0755 "$d/DEBIAN/postinst" "$d/DEBIAN/prerm" "$d/DEBIAN/postrm"
control kcovd "$(depends "$build/server/kcovd"), adduser, passwd" \
  "kernel coverage server (KCOV reports over HTTP, SQLite, web UI)" \
  "kcovd receives coverage reports from kcov-collect on test machines," \
  "stores them per kernel build, label and day in SQLite and serves the" \
  "REST API and the browser UI. Runs as the kcovd.service systemd unit." \
  > "$d/DEBIAN/control"

# --- kcov-collect
d=$work/kcov-collect
install -D -m 0755 "$build/collector/kcov-collect" "$d/usr/bin/kcov-collect"
strip --strip-unneeded "$d/usr/bin/kcov-collect"
install -D -m 0644 "$root/packaging/systemd/kcov-collect-push.service" \
  "$d/lib/systemd/system/kcov-collect-push.service"
install -D -m 0644 "$root/packaging/default/kcov-collect" "$d/etc/default/kcov-collect"
install -d -m 0700 "$d/var/spool/kcov-collect" "$d/etc/kcov-collect"
install -D -m 0644 "$root/docs/collector.md" "$d/usr/share/doc/kcov-collect/collector.md"
mkdir -p "$d/DEBIAN"
echo /etc/default/kcov-collect > "$d/DEBIAN/conffiles"
cat > "$d/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
  systemctl try-restart kcov-collect-push.service >/dev/null || true
fi
exit 0
EOF
chmod 0755 "$d/DEBIAN/postinst"
control kcov-collect "$(depends "$build/collector/kcov-collect")" \
  "kernel coverage collector for test machines (KCOV)" \
  "kcov-collect runs a command under KCOV, spools the coverage report and" \
  "pushes it to kcovd; kcov-collect-push.service delivers the spool." \
  > "$d/DEBIAN/control"

for pkg in kcovd kcov-collect; do
  dpkg-deb --root-owner-group --build -Zxz "$work/$pkg" "$out/${pkg}_${version}_${arch}.deb" \
    >/dev/null
  echo "$out/${pkg}_${version}_${arch}.deb"
done
