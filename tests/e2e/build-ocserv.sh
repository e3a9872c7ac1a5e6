#!/usr/bin/env bash
# Makes an ocserv the routers run available to tests/e2e/run.sh (OCSERV_PREFIX): DIR/sbin/ocserv
# (and ocserv-worker), DIR/bin/occtl, DIR/bin/ocpasswd. Prints DIR on its last line.
#
#   tests/e2e/build-ocserv.sh 1.3.0|1.5.0
#
# 1.3.0 (OpenWrt 23.05 and 24.10) is built from the upstream tarball of Debian's source package
# (trixie), checked against the SHA-256 Debian's Sources index gives, with Debian 12's build
# dependencies. 1.5.0 (upstream's latest) is Debian's own build of it from sid: the mirror this
# runs against serves sid's binary package but not its source (the .dsc and the .orig tarball
# answer 404), so debootstrap fetches ocserv and its libraries into a sid root (every file
# checked against sid's signed InRelease) and the four programs are copied out with their
# interpreter and library path pointing into that root, so they run here as themselves.
# Everything lands in $OCSERV_AGENT_OCSERV_DIR (default /var/cache/ocserv-agent-ocserv),
# outside the clone: a second run on the same machine reuses it.
set -euo pipefail

version=${1:?usage: tests/e2e/build-ocserv.sh VERSION}
case "$version" in
	# From `apt-cache showsrc ocserv` with trixie's deb-src (ocserv 1.3.0-2).
	1.3.0) sha256=5c562c3ea1032065ef43d6075e5722f94ce6a7a780d6a2b4c6d54c1ce3921965 ;;
	1.5.0) package=1.5.0-1 ;; # sid's
	*) echo "build-ocserv: no checksum for ocserv $version" >&2; exit 1 ;;
esac
base=${OCSERV_AGENT_OCSERV_DIR:-/var/cache/ocserv-agent-ocserv}
prefix=$base/$version
if [ -x "$prefix/sbin/ocserv" ] && [ -x "$prefix/bin/occtl" ] && [ -x "$prefix/bin/ocpasswd" ]; then
	echo "$prefix"
	exit 0
fi

# install PACKAGE...: Debian 12's packages that are not installed yet.
install() {
	local need=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
	done
	[ ${#need[@]} -gt 0 ] || return 0
	echo "build-ocserv: installing ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

if [ -n "${package:-}" ]; then
	install debootstrap patchelf
	mkdir -p "$base"
	root=$base/sid-root
	if ! [ -x "$root/usr/sbin/ocserv" ]; then
		rm -rf "$root"
		debootstrap --variant=minbase --include=ocserv sid "$root" http://deb.debian.org/debian \
			>"$base/debootstrap.log" 2>&1 || { tail -n 30 "$base/debootstrap.log" >&2; exit 1; }
	fi
	got=$(chroot "$root" dpkg-query -W -f='${Version}' ocserv)
	[ "$got" = "$package" ] || { echo "build-ocserv: sid has ocserv $got now, not $package" >&2; exit 1; }
	rm -rf "$prefix"
	mkdir -p "$prefix/sbin" "$prefix/bin"
	# ocserv starts its workers from the ocserv-worker beside its own executable.
	for f in sbin/ocserv sbin/ocserv-worker bin/occtl bin/ocpasswd; do
		cp "$root/usr/$f" "$prefix/$f"
		patchelf --set-interpreter "$root/usr/lib64/ld-linux-x86-64.so.2" --force-rpath \
			--set-rpath "$root/usr/lib/x86_64-linux-gnu" "$prefix/$f"
	done
	"$prefix/sbin/ocserv" --version 2>&1 | grep -q "Server $version\$" \
		|| { echo "build-ocserv: $prefix/sbin/ocserv is not $version" >&2; exit 1; }
	echo "$prefix"
	exit 0
fi

install build-essential pkg-config libgnutls28-dev libev-dev libtalloc-dev libhttp-parser-dev \
	libreadline-dev libnl-route-3-dev liblz4-dev libprotobuf-c-dev protobuf-c-compiler gperf ipcalc-ng curl xz-utils

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
