#!/bin/sh
# Prints the path of a Python with grpcio and h2 (for the interop and hostile-peer tests), creating a venv if needed:
# $OCSERV_AGENT_TEST_VENV, default target/test-venv. Needs python3 with venv (Debian:
# python3-venv) and PyPI.
set -eu
cd "$(dirname "$0")/.."
venv=${OCSERV_AGENT_TEST_VENV:-$PWD/target/test-venv}
if ! "$venv/bin/python" -c "import grpc, grpc_tools, h2" 2>/dev/null; then
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q -r tests/interop/requirements.txt >&2
fi
echo "$venv/bin/python"
