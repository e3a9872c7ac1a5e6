"""grpcio as the client of our gRPC server's streaming calls (test handlers speaking raw bytes,
see tests/grpc_streaming.rs): client streaming, bidi, metadata both ways, cancel, deadline,
backpressure.

Usage: streaming_checks.py ADDRESS CERT_DIR
Prints one line per check and 'N passed, N failed'; exits non-zero on any failure.
"""

import queue
import struct
import sys
import threading
import time

import grpc

import stubs  # tests/interop/stubs.py, next to this file

address, certs = sys.argv[1:3]
read = stubs.reader(certs)
creds = grpc.ssl_channel_credentials(read("ca.pem"), read("client.key"), read("client.pem"))
options = [("grpc.ssl_target_name_override", "localhost")]
channel = grpc.secure_channel(address, creds, options=options)
# Counters are read on a connection of their own: a stalled stream may hold the shared
# connection's flow-control window, and the answer would wait behind it.
side = grpc.secure_channel(address, creds, options=options + [("grpc.use_local_subchannel_pool", 1)])

checks = stubs.Checks()
check = checks.check


def stats():
    # 60 s: under qemu-mips the single-threaded server can be busy encrypting flood data for
    # longer than 10 s before it gets to this answer (seen once in the qemu runs).
    flooded, dropped = side.unary_unary("/t.S/Stats")(b"", timeout=60).decode().split()
    return int(flooded), int(dropped)


def client_streaming():
    total = channel.stream_unary("/t.S/Sum")(iter([b"x" * 100] * 1000), timeout=10)
    assert total == b"1000 100000", total
    assert channel.stream_unary("/t.S/Sum")(iter([]), timeout=10) == b"0 0"
    big = [b"y" * (1 << 20)] * 3  # each message larger than any HTTP/2 window
    assert channel.stream_unary("/t.S/Sum")(iter(big), timeout=20) == b"3 3145728"


def bidi_interleaved_with_metadata():
    requests = queue.Queue()

    def gen():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item

    call = channel.stream_stream("/t.S/Echo")(gen(), timeout=10, metadata=[("x-tag", "abc")])
    for i in range(100):
        requests.put(f"m{i}".encode())
        # The answer arrives while the request stream is still open: true bidi.
        assert next(call) == f"M{i}".encode()
    assert ("x-tag", "abc") in call.initial_metadata(), call.initial_metadata()
    requests.put(None)
    assert list(call) == []
    assert call.code() == grpc.StatusCode.OK
    trailers = dict(call.trailing_metadata())
    assert trailers["x-count-bin"] == struct.pack(">I", 100), trailers


def cancel_mid_stream():
    _, before = stats()
    call = channel.unary_stream("/t.S/Endless")(b"", timeout=30)
    for _ in range(5):
        assert next(call) == b"tick"
    call.cancel()
    end = time.time() + 5
    while stats()[1] == before and time.time() < end:
        time.sleep(0.02)
    assert stats()[1] == before + 1, "the handler was not cancelled"


def deadline_mid_stream():
    _, before = stats()
    started = time.time()
    call = channel.unary_stream("/t.S/Endless")(b"", timeout=0.3)
    try:
        for _ in call:
            pass
        raise AssertionError("the stream did not end")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    assert time.time() - started < 3
    end = time.time() + 5
    while stats()[1] == before and time.time() < end:
        time.sleep(0.02)
    assert stats()[1] == before + 1, "the handler ran on past the deadline"


def backpressure():
    before, _ = stats()
    # Generous: under qemu (MIPS) our side moves TLS data at a few MB/s.
    call = channel.unary_stream("/t.S/Flood")(b"", timeout=120)
    next(call)
    # Read nothing: grpcio's windows (grown by its BDP probing, several MiB) fill, then the
    # handler must stop; an unbounded sender never does (~100 000 messages a second here).
    previous, end = -1, time.time() + 30
    while True:
        time.sleep(0.3)
        sent = stats()[0] - before
        if sent == previous:
            break
        assert time.time() < end, f"still sending after 30 s: {sent} x 16 KiB"
        previous = sent
    assert sent < 2000, f"{sent} x 16 KiB sent to a reader that reads nothing"
    # Reading lets it go on.
    for _ in range(sent + 100):
        assert len(next(call)) == 16 * 1024
    call.cancel()
    assert stats()[0] - before >= sent + 100


def errors_and_unknown():
    try:
        channel.unary_unary("/t.S/Fail")(b"", timeout=60)
        raise AssertionError("succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
        assert e.details() == "not now: 50% ✓", e.details()
    try:
        list(channel.stream_stream("/t.S/Nope")(iter([b"a"]), timeout=60))
        raise AssertionError("succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e


def many_streams():
    calls = [channel.unary_stream("/t.S/Endless")(b"", timeout=10) for _ in range(50)]
    for c in calls:
        assert next(c) == b"tick"
    for c in calls:
        c.cancel()


check("client streaming, including messages larger than the window", client_streaming)
check("bidi: answers interleave with requests; metadata both ways", bidi_interleaved_with_metadata)
check("cancel mid-stream cancels the handler", cancel_mid_stream)
check("a deadline ends a stream and its handler", deadline_mid_stream)
check("a reader that stops reading stalls the sender", backpressure)
check("errors with encoded messages; unknown streaming method", errors_and_unknown)
check("50 concurrent streams", many_streams)

threading.Thread(target=channel.close, daemon=True).start()
threading.Thread(target=side.close, daemon=True).start()
checks.finish()
