"""Shared by the Python gRPC peers: Python stubs generated from our proto/ (so the peers speak
exactly the contract the agent does), reading the test PKI, and a list of named checks."""

import os
import sys
import traceback
import tempfile

import grpc_tools
from grpc_tools import protoc


def generate(proto_dir, proto_file):
    """Generates stubs for `proto_file` (relative to `proto_dir`) and makes them importable."""
    out = tempfile.mkdtemp()
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    if protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out}",
                    f"--grpc_python_out={out}", proto_file]) != 0:
        sys.exit(f"protoc failed on proto/{proto_file}")
    sys.path.insert(0, out)


def reader(certs):
    """A function reading a file of the PKI directory `certs` as bytes."""
    def read(name):
        with open(os.path.join(certs, name), "rb") as f:
            return f.read()
    return read


class Checks:
    """Runs named checks, reporting each and going on after a failure; `finish` prints
    'N passed, N failed' (the Rust side looks for it) and exits non-zero on any failure."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        try:
            fn()
            self.passed += 1
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {name} (line {where.lineno}: {where.line}): {e!r}")

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
