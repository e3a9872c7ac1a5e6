"""Compares occtl's --json output with ocserv-agent occtl's: same keys (ours may add
raw_connected_at, which occtl prints from 1.3.0) and same values. The values that move between
two runs a moment apart (counters, durations, rates, a time whose minute may turn) are compared
in their form: digits stand for any number and runs of spaces for one, so that "150 bytes/s"
and "151 bytes/s" match and "150 bytes/sec" does not.

Usage: compare_occtl.py THEIRS.json OURS.json
occtl 1.1.6 repeats the "Routes" key; the last one wins here, as in most JSON readers."""

import json
import re
import sys

VOLATILE = {"RX", "TX", "_RX", "_TX", "Average RX", "Average TX", "uptime", "_Up since",
            "_Last stats reset", "raw_rx", "raw_tx", "Connected at", "_Connected at",
            "Last connected at", "_Last connected at", "Session started at",
            "_Session started at"}
EXTRA_OK = {"raw_connected_at"}


def form(value):
    """A moving value's form: numbers as N, runs of spaces as one."""
    text = re.sub(r"[0-9]+(\.[0-9]+)?", "N", str(value))
    return re.sub(r" +", " ", text)


def load(path):
    data = json.load(open(path))
    return data if isinstance(data, list) else [data]


theirs, ours = load(sys.argv[1]), load(sys.argv[2])
problems = []
if len(theirs) != len(ours):
    problems.append(f"{len(theirs)} objects from occtl, {len(ours)} from ours")
for a, b in zip(theirs, ours):
    for k in a:
        if k not in b:
            problems.append(f"missing key {k!r}")
        elif (form(a[k]) != form(b[k])) if k in VOLATILE else (a[k] != b[k]):
            problems.append(f"{k!r}: occtl {a[k]!r}, ours {b[k]!r}")
    problems += [f"extra key {k!r}" for k in b if k not in a and k not in EXTRA_OK]
if problems:
    sys.exit("\n".join(problems))
print(f"same: {len(theirs)} object(s), {sum(len(a) for a in theirs)} keys")
