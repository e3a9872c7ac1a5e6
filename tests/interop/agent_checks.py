"""grpcio, an independent gRPC implementation, against the real daemon (agent.v1:
HealthCheck unary, StreamLogs server streaming). The daemon runs with log_level debug.

Usage: agent_checks.py ADDRESS CERT_DIR PROTO_DIR [quick]
Prints one line per check and a closing 'N passed, N failed'; exits non-zero on any failure.
"""

import concurrent.futures
import sys
import time

import grpc

import stubs  # tests/interop/stubs.py, next to this file

address, certs, proto_dir = sys.argv[1:4]
quick = len(sys.argv) > 4 and sys.argv[4] == "quick"

stubs.generate(proto_dir, "agent/v1/agent.proto")
from agent.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402


read = stubs.reader(certs)


def channel(cert="client", with_cert=True, options=()):
    if with_cert:
        creds = grpc.ssl_channel_credentials(read("ca.pem"), read(f"{cert}.key"), read(f"{cert}.pem"))
    else:
        creds = grpc.ssl_channel_credentials(read("ca.pem"))
    opts = [("grpc.ssl_target_name_override", "localhost")] + list(options)
    return grpc.secure_channel(address, creds, options=opts)


checks = stubs.Checks()
check = checks.check


def expect_code(code, fn):
    try:
        fn()
    except grpc.RpcError as e:
        if e.code() != code:
            raise AssertionError(f"expected {code}, got {e.code()}: {e.details()}")
        return e
    raise AssertionError(f"expected {code}, the call succeeded")


good = channel()
stub = agent_pb2_grpc.AgentServiceStub(good)


def healthy():
    r = stub.HealthCheck(agent_pb2.HealthCheckRequest(tier=1), timeout=5)
    assert r.healthy and r.checks["agent"] == "ok", r
    assert int(r.checks["uptime_seconds"]) >= 0
    assert r.timestamp.seconds > 1_700_000_000


check("HealthCheck tier 1 over mTLS", healthy)
if not quick:
    check("tier 9 is INVALID_ARGUMENT",
          lambda: expect_code(grpc.StatusCode.INVALID_ARGUMENT,
                              lambda: stub.HealthCheck(agent_pb2.HealthCheckRequest(tier=9), timeout=5)))
    def tier3_without_ocserv():
        # No ocserv control socket where the test config points: unhealthy, and it says why.
        r = stub.HealthCheck(agent_pb2.HealthCheckRequest(tier=3), timeout=10)
        assert not r.healthy, r
        assert r.status_message.startswith("failed:") and "control_socket" in r.status_message, r
        assert "occtl" in r.checks["control_socket"], r.checks
        assert r.checks["agent"] == "ok" and "ocserv_status" in r.checks, r.checks
    check("tier 3 checks ocserv for real (unhealthy without one)", tier3_without_ocserv)
    check("ExecuteCommand refuses shell metacharacters (INVALID_ARGUMENT)",
          lambda: expect_code(grpc.StatusCode.INVALID_ARGUMENT,
                              lambda: stub.ExecuteCommand(agent_pb2.CommandRequest(
                                  command_type="occtl", args=["show", "user", "a;reboot"]),
                                  timeout=5)))
    check("a method the agent does not serve is UNIMPLEMENTED",
          lambda: expect_code(grpc.StatusCode.UNIMPLEMENTED,
                              lambda: good.unary_unary("/agent.v1.AgentService/NoSuchMethod")(
                                  b"", timeout=5)))
    check("UpdateConfig without a config_type is INVALID_ARGUMENT",
          lambda: expect_code(grpc.StatusCode.INVALID_ARGUMENT,
                              lambda: stub.UpdateConfig(agent_pb2.ConfigUpdateRequest(), timeout=5)))
    raw = good.unary_unary("/agent.v1.AgentService/HealthCheck")
    check("an undecodable message is INTERNAL",
          lambda: expect_code(grpc.StatusCode.INTERNAL, lambda: raw(b"\xff\xff\xff", timeout=5)))
    check("a 5 MiB message is RESOURCE_EXHAUSTED",
          lambda: expect_code(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              lambda: raw(b"\x00" * (5 << 20), timeout=10)))

    def fifty_concurrent():
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            calls = [pool.submit(stub.HealthCheck, agent_pb2.HealthCheckRequest(tier=1), timeout=10)
                     for _ in range(50)]
            assert all(c.result().healthy for c in calls)

    check("50 concurrent calls", fifty_concurrent)

    def no_certificate():
        s = agent_pb2_grpc.AgentServiceStub(channel(with_cert=False))
        expect_code(grpc.StatusCode.UNAVAILABLE,
                    lambda: s.HealthCheck(agent_pb2.HealthCheckRequest(tier=1), timeout=5))

    check("a client without a certificate is refused", no_certificate)

    def untrusted():
        s = agent_pb2_grpc.AgentServiceStub(channel(cert="other-client"))
        expect_code(grpc.StatusCode.UNAVAILABLE,
                    lambda: s.HealthCheck(agent_pb2.HealthCheckRequest(tier=1), timeout=5))

    check("a client certificate from another CA is refused", untrusted)

    def keepalive():
        opts = [("grpc.keepalive_time_ms", 200), ("grpc.keepalive_timeout_ms", 1000),
                ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]
        s = agent_pb2_grpc.AgentServiceStub(channel(options=opts))
        end = time.time() + 1.5
        while time.time() < end:
            assert s.HealthCheck(agent_pb2.HealthCheckRequest(tier=1), timeout=5).healthy
            time.sleep(0.1)

    check("keepalive pings every 200 ms", keepalive)

    def agent_logs(follow=False, timeout=10, start=None, s=stub):
        req = agent_pb2.LogStreamRequest(log_source="agent", follow=follow)
        if start is not None:
            req.start_time.FromNanoseconds(start)
        return s.StreamLogs(req, timeout=timeout)

    def logs_so_far():
        entries = list(agent_logs())
        texts = [e.message for e in entries]
        assert any("grpc: serving agent.v1 on" in t for t in texts), texts
        assert all(e.source == "agent" and e.level in ("error", "warn", "info", "debug", "trace")
                   for e in entries), entries
        seqs = [int(e.fields["seq"]) for e in entries]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
        # start_time in the future: nothing yet, and the stream ends cleanly.
        assert list(agent_logs(start=time.time_ns() + 3600 * 10**9)) == []

    check("StreamLogs returns the agent's recent lines in order", logs_so_far)

    def newest_seq():
        return max(int(e.fields["seq"]) for e in agent_logs())

    def wait_for_line(*needles, after=-1, deadline=5.0):
        """Waits until the agent logs a line containing one of `needles` (after seq `after`)."""
        end = time.time() + deadline
        while time.time() < end:
            if any(n in e.message and int(e.fields["seq"]) > after
                   for e in agent_logs() for n in needles):
                return
            time.sleep(0.05)
        raise AssertionError(f"no log line containing any of {needles!r}")

    def follow_then_cancel():
        mark = newest_seq()
        call = agent_logs(follow=True, timeout=30)
        assert next(call).message  # the backlog arrives at once
        call.cancel()
        try:
            for _ in call:
                pass
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.CANCELLED, e
        # The server saw the reset and dropped the handler (it logs that at debug).
        wait_for_line("StreamLogs: cancelled by the client", after=mark)
        assert stub.HealthCheck(agent_pb2.HealthCheckRequest(tier=1), timeout=5).healthy

    check("cancel mid-stream: the server sees it and stops following", follow_then_cancel)

    def deadline_while_following():
        mark = newest_seq()
        started = time.time()
        call = agent_logs(follow=True, timeout=0.5)
        e = expect_code(grpc.StatusCode.DEADLINE_EXCEEDED, lambda: list(call))
        took = time.time() - started
        assert 0.4 < took < 3.0, took
        # Client and server both time the call; whichever fires first, the server drops the
        # handler: on its own timer, or on grpcio's RST_STREAM.
        wait_for_line("StreamLogs: deadline exceeded, handler cancelled",
                      "StreamLogs: cancelled by the client", after=mark)
        return e

    check("a deadline ends a following StreamLogs", deadline_while_following)

    def follow_sees_new_lines():
        newest = newest_seq()
        call = agent_logs(follow=True, timeout=10)
        other = agent_logs(follow=True, timeout=10)
        next(other)
        other.cancel()  # logs a line while `call` follows
        for e in call:
            if int(e.fields["seq"]) > newest and "cancelled by the client" in e.message:
                call.cancel()
                return
        raise AssertionError("the stream ended without the new line")

    check("a following stream delivers lines logged after it started", follow_sees_new_lines)

    def sources():
        expect_code(grpc.StatusCode.INVALID_ARGUMENT,
                    lambda: list(stub.StreamLogs(agent_pb2.LogStreamRequest(log_source="kernel"), timeout=5)))
        ocserv = list(stub.StreamLogs(agent_pb2.LogStreamRequest(log_source="ocserv"), timeout=5))
        assert [e.message for e in ocserv] == ["main: added user 'alice'",
                                                "worker: a line from the future"], ocserv
        assert all(e.source == "ocserv" and e.fields["program"] == "ocserv" for e in ocserv)
        system = list(stub.StreamLogs(agent_pb2.LogStreamRequest(log_source="system"), timeout=5))
        assert [e.fields["program"] for e in system] == ["ocserv", "dnsmasq", "ocserv"], system
        later = agent_pb2.LogStreamRequest(log_source="ocserv")
        later.start_time.FromSeconds(1861920000)  # 2029-01-01
        assert [e.message for e in stub.StreamLogs(later, timeout=5)] == [
            "worker: a line from the future"]
        raw = good.unary_stream("/agent.v1.AgentService/StreamLogs")
        expect_code(grpc.StatusCode.INTERNAL, lambda: list(raw(b"\xff\xff", timeout=5)))

    check("StreamLogs sources and bad requests", sources)

    def many_streams_at_once():
        calls = [agent_logs(follow=True, timeout=5) for _ in range(20)]
        firsts = [next(c) for c in calls]
        assert all(f.message for f in firsts)
        for c in calls:
            c.cancel()
        assert stub.HealthCheck(agent_pb2.HealthCheckRequest(tier=1), timeout=5).healthy

    check("20 following streams at once, all cancelled", many_streams_at_once)

checks.finish()
