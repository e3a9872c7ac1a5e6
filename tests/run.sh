#!/bin/sh
# The test command: makes sure the Python grpcio peer is installed, then runs cargo test.
# Arguments go to cargo test.
set -eu
cd "$(dirname "$0")/.."
OCSERV_AGENT_PYTHON=$(tests/python-env.sh)
export OCSERV_AGENT_PYTHON
exec cargo test "$@"
