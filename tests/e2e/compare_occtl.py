"""Compares occtl's --json output with ocserv-agent occtl's: same keys (ours may add
raw_connected_at, which newer occtl versions print too) and same values, except the ones that
move between two runs a moment apart (counters, durations, rates).

Usage: compare_occtl.py THEIRS.json OURS.json
occtl 1.1.6 repeats the "Routes" key; the last one wins here, as in most JSON readers."""

import json
import sys

VOLATILE = {"RX", "TX", "_RX", "_TX", "Average RX", "Average TX", "_Connected at", "uptime",
            "_Up since", "_Last stats reset", "raw_rx", "raw_tx", "Connected at"}
EXTRA_OK = {"raw_connected_at"}


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
        elif k not in VOLATILE and a[k] != b[k]:
            problems.append(f"{k!r}: occtl {a[k]!r}, ours {b[k]!r}")
    problems += [f"extra key {k!r}" for k in b if k not in a and k not in EXTRA_OK]
if problems:
    sys.exit("\n".join(problems))
print(f"same: {len(theirs)} object(s), {sum(len(a) for a in theirs)} keys")
