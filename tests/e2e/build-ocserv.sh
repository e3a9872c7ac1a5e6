#!/usr/bin/env bash
# Builds an ocserv the routers run from Debian's source package, for tests/e2e/run.sh
# (OCSERV_PREFIX). Prints the install prefix on its last line.
#
#   tests/e2e/build-ocserv.sh 1.3.0
#
# The upstream tarball comes from Debian's pool (the version OpenWrt 23.05 and 24.10 ship) and
# is checked against the SHA-256 Debian's Sources index gives; build dependencies come from
# Debian 12. The build lands in $OCSERV_AGENT_OCSERV_DIR/VERSION (default
# /var/cache/ocserv-agent-ocserv), outside the clone: a second run on the same machine reuses it.
set -euo pipefail

version=${1:?usage: tests/e2e/build-ocserv.sh VERSION}
case "$version" in
	# From `apt-cache showsrc ocserv` with trixie's deb-src (ocserv 1.3.0-2).
	1.3.0) sha256=5c562c3ea1032065ef43d6075e5722f94ce6a7a780d6a2b4c6d54c1ce3921965 ;;
	*) echo "build-ocserv: no checksum for ocserv $version" >&2; exit 1 ;;
esac
base=${OCSERV_AGENT_OCSERV_DIR:-/var/cache/ocserv-agent-ocserv}
prefix=$base/$version
if [ -x "$prefix/sbin/ocserv" ] && [ -x "$prefix/bin/occtl" ] && [ -x "$prefix/bin/ocpasswd" ]; then
	echo "$prefix"
	exit 0
fi

need=()
for p in build-essential pkg-config libgnutls28-dev libev-dev libtalloc-dev libhttp-parser-dev \
	libreadline-dev libnl-route-3-dev liblz4-dev libprotobuf-c-dev protobuf-c-compiler gperf ipcalc-ng curl xz-utils; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "build-ocserv: installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

src=$base/src-$version
rm -rf "$src"
mkdir -p "$src"
tarball=$src/ocserv_$version.orig.tar.xz
curl -fsS -o "$tarball" "http://deb.debian.org/debian/pool/main/o/ocserv/ocserv_$version.orig.tar.xz"
echo "$sha256  $tarball" | sha256sum -c --quiet
tar -C "$src" -xJf "$tarball"
cd "$src/ocserv-$version"
# Only what the end-to-end test uses: password auth, occtl, the control socket.
./configure --prefix="$prefix" --without-root-tests --without-tun-tests --disable-seccomp \
	--disable-systemd --without-pam --without-radius --without-gssapi --without-maxmind \
	--without-geoip --without-liboath --without-libwrap --without-utmp >"$src/configure.log" 2>&1 \
	|| { tail -n 30 "$src/configure.log" >&2; exit 1; }
make -j"$(nproc)" >"$src/make.log" 2>&1 || { tail -n 30 "$src/make.log" >&2; exit 1; }
make install >"$src/install.log" 2>&1 || { tail -n 30 "$src/install.log" >&2; exit 1; }
rm -rf "$src"
echo "$prefix"
