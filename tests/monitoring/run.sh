#!/bin/sh
# The monitoring kit against Debian's Prometheus tools (tests/monitoring.rs): installs
# prometheus and prometheus-node-exporter if missing (root), then runs that test.
set -eu
cd "$(dirname "$0")/../.."
tests/need.sh promtool:prometheus prometheus-node-exporter:prometheus-node-exporter
OCSERV_AGENT_PYTHON=$(tests/python-env.sh)
export OCSERV_AGENT_PYTHON
exec cargo test --test monitoring -- --ignored --nocapture
