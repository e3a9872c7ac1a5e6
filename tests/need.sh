#!/bin/sh
# Installs the Debian packages of the commands that are missing: tests/need.sh CMD:PACKAGE...
# (the e2e and chaos scripts run on a fresh machine). Debian starts ocserv on install; the
# tests run their own in a namespace, so the system's is disabled again.
set -eu
need=
for c in "$@"; do
	command -v "${c%%:*}" >/dev/null || need="$need ${c#*:}"
done
[ -n "$need" ] || exit 0
echo "installing$need" >&2
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
case "$need" in *" ocserv"*) systemctl disable --now ocserv >/dev/null 2>&1 || true ;; esac
# Likewise Prometheus and node-exporter: the monitoring test starts its own on free ports.
case "$need" in *" prometheus"*)
	systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true ;;
esac
