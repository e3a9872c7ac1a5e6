"""Calls the daemon's agent.v1 services over mTLS with grpcio (the test PKI's client
certificate) and prints the answer.

Usage: agent_call.py ADDRESS CERT_DIR PROTO_DIR health TIER        exit 0 only if healthy
       agent_call.py ADDRESS CERT_DIR PROTO_DIR sessions [USER]    one line per session
       agent_call.py ADDRESS CERT_DIR PROTO_DIR disconnect USER all|newest
       agent_call.py ADDRESS CERT_DIR PROTO_DIR notify-connect USER SESSION CLIENT_IP VPN_IP
       agent_call.py ADDRESS CERT_DIR PROTO_DIR notify-disconnect USER SESSION IN OUT SECONDS
       agent_call.py ADDRESS CERT_DIR PROTO_DIR routes USER reload|keep ROUTE...
       agent_call.py ADDRESS CERT_DIR PROTO_DIR exec WORD...          ExecuteCommand occtl WORDS
       agent_call.py ADDRESS CERT_DIR PROTO_DIR config main|user|group NAME CONTENT [validate]
A call that fails prints 'error CODE: details' and exits 3. With AGENT_CALL_TRACEPARENT in the
environment, NotifyConnect, NotifyDisconnect, DisconnectUser and UpdateUserRoutes send it as
`traceparent`."""

import os
import sys

import grpc

import stubs  # tests/interop/stubs.py, next to this file

address, certs, proto_dir, what = sys.argv[1:5]
args = sys.argv[5:]
stubs.generate(proto_dir, "agent/v1/agent.proto")
from agent.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402

read = stubs.reader(certs)
creds = grpc.ssl_channel_credentials(read("ca.pem"), read("client.key"), read("client.pem"))
channel = grpc.secure_channel(address, creds,
                              options=[("grpc.ssl_target_name_override", "localhost")])

meta = [("traceparent", os.environ["AGENT_CALL_TRACEPARENT"])] \
    if os.environ.get("AGENT_CALL_TRACEPARENT") else None


def fail(e):
    print(f"error {e.code().name}: {e.details()}")
    sys.exit(3)


if what == "health":
    r = agent_pb2_grpc.AgentServiceStub(channel).HealthCheck(
        agent_pb2.HealthCheckRequest(tier=int(args[0])), timeout=10)
    print(f"healthy={r.healthy} {r.status_message}")
    for k in sorted(r.checks):
        print(f"  {k}: {r.checks[k]}")
    sys.exit(0 if r.healthy else 1)
if what == "exec":
    try:
        r = agent_pb2_grpc.AgentServiceStub(channel).ExecuteCommand(
            agent_pb2.CommandRequest(request_id="e2e", command_type="occtl", args=args,
                                     timeout_seconds=10), timeout=15)
    except grpc.RpcError as e:
        fail(e)
    sys.stdout.write(r.stdout)
    sys.exit(r.exit_code)
vpn = agent_pb2_grpc.VPNAgentServiceStub(channel)
if what == "sessions":
    r = vpn.GetActiveSessions(agent_pb2.GetActiveSessionsRequest(
        username_filter=args[0] if args else "", include_stats=True), timeout=10)
    print(f"total={r.total_count}")
    for s in r.sessions:
        print(f"session id={s.session_id} user={s.username} vpn_ip={s.vpn_ip} "
              f"client_ip={s.client_ip} device={s.device_id} in={s.bytes_in} out={s.bytes_out}")
elif what == "disconnect":
    try:
        r = vpn.DisconnectUser(agent_pb2.DisconnectUserRequest(
            username=args[0], reason="e2e", disconnect_all_sessions=args[1] == "all"),
            timeout=15, metadata=meta)
    except grpc.RpcError as e:
        fail(e)
    print(f"success={r.success} disconnected={r.sessions_disconnected} note={r.error_message!r}")
    sys.exit(0 if r.success else 1)
elif what == "notify-connect":
    user, session, client_ip, vpn_ip = args
    try:
        r = vpn.NotifyConnect(agent_pb2.NotifyConnectRequest(
            username=user, session_id=session, client_ip=client_ip, vpn_ip=vpn_ip,
            device_id="vpns0"), timeout=10, metadata=meta)
    except grpc.RpcError as e:
        fail(e)
    print(f"allowed={r.allowed} source={r.config_params['source']} deny_reason={r.deny_reason!r}")
elif what == "notify-disconnect":
    user, session, bytes_in, bytes_out, seconds = args
    try:
        r = vpn.NotifyDisconnect(agent_pb2.NotifyDisconnectRequest(
            username=user, session_id=session, bytes_in=int(bytes_in), bytes_out=int(bytes_out),
            duration_seconds=int(seconds)), timeout=10, metadata=meta)
    except grpc.RpcError as e:
        fail(e)
    print(f"acknowledged={r.acknowledged} message={r.message!r}")
elif what == "routes":
    user, reload, routes = args[0], args[1] == "reload", args[2:]
    try:
        r = vpn.UpdateUserRoutes(agent_pb2.UpdateUserRoutesRequest(
            username=user, routes=routes, reload_if_connected=reload), timeout=15,
            metadata=meta)
    except grpc.RpcError as e:
        fail(e)
    print(f"success={r.success} path={r.config_path} reconnected={r.user_reconnected} "
          f"note={r.error_message!r}")
    sys.exit(0 if r.success else 1)
elif what == "config":
    kind = {"main": agent_pb2.CONFIG_TYPE_MAIN, "user": agent_pb2.CONFIG_TYPE_PER_USER,
            "group": agent_pb2.CONFIG_TYPE_PER_GROUP}[args[0]]
    try:
        r = agent_pb2_grpc.AgentServiceStub(channel).UpdateConfig(agent_pb2.ConfigUpdateRequest(
            request_id="e2e", config_type=kind, config_name=args[1], config_content=args[2],
            validate_only=args[3:] == ["validate"], create_backup=True), timeout=15)
    except grpc.RpcError as e:
        fail(e)
    print(f"success={r.success} result={r.validation_result!r} backup={r.backup_path} "
          f"error={r.error_message!r}")
    sys.exit(0 if r.success else 1)
else:
    sys.exit(f"unknown call {what}")
