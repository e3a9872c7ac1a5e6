"""A raw HTTP/2 client (the `h2` package) for trying the daemon's gRPC endpoint the way a hostile
peer would: frames chosen by hand, not by a gRPC library that plays by the rules.

Usage: raw_h2.py ADDRESS CERT_DIR CERT flood CONNS STREAMS BYTES PATH HOLD
           CONNS connections x STREAMS streams, each announcing a BYTES-byte message to PATH
           (an hour's grpc-timeout) and sending as much of it as flow control lets through,
           never its last byte. Prints "ready" once every stream is open, keeps pushing for HOLD
           seconds (or until every stream has its answer; with RAW_H2_REPEAT=1 answered
           streams are opened again instead, for the whole HOLD), then prints one JSON line: {"codes": {grpc-status: streams}, "resets": n,
           "sent": bytes the server's windows let through, "unanswered": streams}.
       raw_h2.py ADDRESS CERT_DIR CERT call PATH [HEX]
           One unary call whose message is HEX (default empty); prints the grpc-status (or
           "reset"/"closed").

       raw_h2.py ADDRESS CERT_DIR none handshakes RATE SECONDS
           TLS handshakes without a client certificate (each refused by the server after its
           part of the work), RATE a second for SECONDS; prints "tried N".

CERT names the client certificate in CERT_DIR (CERT.pem, CERT.key); ADDRESS is host:port; the
environment's RAW_H2_SOURCE, if set, is the source address (another loopback address).
"""

import json
import os
import select
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions


def connect(address, cert_dir, cert):
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "ca.pem"))
    ctx.load_cert_chain(os.path.join(cert_dir, cert + ".pem"), os.path.join(cert_dir, cert + ".key"))
    ctx.set_alpn_protocols(["h2"])
    source = os.environ.get("RAW_H2_SOURCE")
    sock = socket.create_connection((host, int(port)), timeout=10,
                                    source_address=(source, 0) if source else None)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    return tls, conn


def headers(path):
    return [(":method", "POST"), (":scheme", "https"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"),
            ("te", "trailers"), ("grpc-timeout", "3600S")]


class Flood:
    """One connection's streams, each pushing an unfinished message."""

    def __init__(self, address, cert_dir, cert, streams, size, path):
        self.tls, self.conn = connect(address, cert_dir, cert)
        self.left = {}
        self.codes = {}
        self.resets = 0
        self.answered = set()
        self.sent = 0
        self.closed = False
        self.shape = (streams, size, path)
        self.opened = 0
        self.open_streams()

    def open_streams(self):
        streams, size, path = self.shape
        for _ in range(streams):
            sid = self.conn.get_next_available_stream_id()
            self.conn.send_headers(sid, headers(path))
            # What is left to send: the message's prefix, then all of it but its last byte.
            self.left[sid] = (struct.pack(">BI", 0, size), max(size - 1, 0))
        self.opened += streams
        self.push()
        self.flush()

    def push(self):
        for sid, (prefix, rest) in list(self.left.items()):
            try:
                room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            except (h2.exceptions.StreamClosedError, KeyError):
                del self.left[sid]
                continue
            while room > 0 and (prefix or rest):
                if prefix:
                    chunk = prefix[:room]
                    prefix = prefix[len(chunk):]
                else:
                    n = min(room, rest)
                    chunk = b"\0" * n
                    rest -= n
                try:
                    self.conn.send_data(sid, chunk)
                except h2.exceptions.H2Error:
                    rest, prefix = 0, b""
                    break
                self.sent += len(chunk)
                room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if prefix or rest:
                self.left[sid] = (prefix, rest)
            else:
                del self.left[sid]

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.closed:
            try:
                self.tls.sendall(data)
            except OSError:
                self.closed = True

    def read(self):
        try:
            data = self.tls.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            status = None
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                status = dict((k.decode() if isinstance(k, bytes) else k,
                               v.decode() if isinstance(v, bytes) else v)
                              for k, v in event.headers).get("grpc-status")
            # A stream counts once: by its status, or by a reset that came without one.
            if status is not None and event.stream_id not in self.answered:
                self.codes[status] = self.codes.get(status, 0) + 1
            elif isinstance(event, h2.events.StreamReset) and event.stream_id not in self.answered:
                self.resets += 1
            else:
                if isinstance(event, h2.events.ConnectionTerminated):
                    self.closed = True
                continue
            self.answered.add(event.stream_id)
            self.left.pop(event.stream_id, None)
        self.push()
        self.flush()


def flood(address, cert_dir, cert, conns, streams, size, path, hold):
    floods = [Flood(address, cert_dir, cert, streams, size, path) for _ in range(conns)]
    print("ready", flush=True)
    until = time.monotonic() + hold
    # RAW_H2_REPEAT=1 (the benchmark): streams answered are opened again, on the same
    # connections, for the whole HOLD: a sustained flood rather than one wave.
    repeat = os.environ.get("RAW_H2_REPEAT") == "1"
    while time.monotonic() < until:
        live = [f for f in floods if not f.closed]
        if repeat:
            for f in live:
                if streams and len(f.answered) == f.opened:
                    f.open_streams()
        elif not live or (streams and all(len(f.answered) == streams for f in floods)):
            break
        ready, _, _ = select.select([f.tls for f in live], [], [], 0.1)
        for f in live:
            if f.tls in ready or f.tls.pending():
                f.read()
    codes = {}
    for f in floods:
        for k, v in f.codes.items():
            codes[k] = codes.get(k, 0) + v
    answered = sum(codes.values()) + sum(f.resets for f in floods)
    print(json.dumps({"codes": codes, "resets": sum(f.resets for f in floods),
                      "sent": sum(f.sent for f in floods),
                      "unanswered": sum(f.opened for f in floods) - answered}), flush=True)


def call(address, cert_dir, cert, path, message):
    try:
        tls, conn = connect(address, cert_dir, cert)
    except OSError:  # refused, reset, a TLS alert
        print("closed")
        return
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, headers(path))
    conn.send_data(sid, struct.pack(">BI", 0, len(message)) + message, end_stream=True)
    try:
        tls.sendall(conn.data_to_send())
    except OSError:
        print("closed")
        return
    while True:
        try:
            data = tls.recv(65536)
        except OSError:  # reset, or a TLS alert: closed all the same
            data = b""
        if not data:
            print("closed")
            return
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                fields = dict((k.decode() if isinstance(k, bytes) else k,
                               v.decode() if isinstance(v, bytes) else v) for k, v in event.headers)
                if "grpc-status" in fields:
                    print(fields["grpc-status"])
                    return
            elif isinstance(event, h2.events.StreamReset):
                print("reset")
                return
        tls.sendall(conn.data_to_send())


def handshakes(address, cert_dir, rate, seconds):
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "ca.pem"))
    ctx.set_alpn_protocols(["h2"])
    source = os.environ.get("RAW_H2_SOURCE")
    start = time.monotonic()
    n = 0
    while time.monotonic() < start + seconds:
        wait = start + n / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        n += 1
        try:
            sock = socket.create_connection((host, int(port)), timeout=1,
                                            source_address=(source, 0) if source else None)
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.recv(1)  # TLS 1.3: the server's refusal of the missing certificate
        except OSError:
            pass
    print(f"tried {n}", flush=True)


def main():
    address, cert_dir, cert, what = sys.argv[1:5]
    args = sys.argv[5:]
    if what == "flood":
        flood(address, cert_dir, cert, int(args[0]), int(args[1]), int(args[2]), args[3],
              float(args[4]))
    elif what == "handshakes":
        handshakes(address, cert_dir, float(args[0]), float(args[1]))
    elif what == "call":
        call(address, cert_dir, cert, args[0], bytes.fromhex(args[1] if len(args) > 1 else ""))
    else:
        sys.exit(f"unknown mode {what}")


main()
