"""A fake policy portal on grpcio (an independent gRPC implementation): vpn.v1.AuthService
over mutual TLS, for testing our gRPC client.

Usage: fake_portal.py CERT_DIR PROTO_DIR [PORT [EVENTS_FILE]]
Prints 'listening PORT' once serving on 127.0.0.1 (or $FAKE_PORTAL_HOST; PORT, or any free port
if 0 or absent), then
serves until killed (stdin closed).
CheckPolicy answers by username:
  alice    allowed, routes ['10.0.0.0/8'], metadata peer=<the caller's address>
  bob      denied with reason 'not today'
  slow     sleeps 2 s, then allowed
  broken   fails with UNAVAILABLE 'portal database down'
  other    allowed
  calls:X  denied, with the number of CheckPolicy calls seen so far for user X as the reason
  suspended  allowed but should_disconnect, reason 'account suspended'
Scripted verdicts: with FAKE_PORTAL_VERDICTS=DIR in the environment, a user with a file DIR/USER
is answered by its first line instead (the file can change between calls): 'allow' or 'deny',
optionally followed by ' ttl=VALUE' (metadata cache_ttl_seconds VALUE, sent as is) and
' sleep=SECONDS' (answers that much later); 'status
CODE' (grpc.StatusCode name, e.g. PERMISSION_DENIED); 'hang' (sleeps 30 s). Every scripted call
appends the user's name to DIR/calls.
ValidateSession: 'revoked' invalid ('account revoked'), 'kicked' force_disconnect, 'broken'
UNAVAILABLE, anyone else valid.
vpn.v1.EventService: ReportConnect / ReportDisconnect append one JSON line per call to
EVENTS_FILE (kind, username, session_id, client_ip, vpn_ip, bytes_received, bytes_sent,
duration_seconds, event_id) and answer success, except for user 'refused' (success false).
agent.v1.AgentService/AgentStream (the dial-out control stream), for a client whose x-agent-id
starts with 'scripted': records every AgentMessage in EVENTS_FILE (kind heartbeat/event, stream
number), sends the orders in SCRIPT after each stream's first heartbeat, and ends stream 1 once
'act-1' is answered. For one whose x-agent-id starts with 'quiet': reads, sends nothing. For
any other client: answers each AgentMessage with
a ServerMessage carrying a 'status' command whose request_id is the message's agent_id; sends
response header x-portal=fake and trailer x-heartbeats=<messages received>.
"""

import collections
import json
import os
import queue
import sys
import threading
import time
from concurrent import futures

import grpc

import stubs  # tests/interop/stubs.py, next to this file

certs, proto_dir = sys.argv[1:3]
stubs.generate(proto_dir, "vpn/v1/auth.proto")
stubs.generate(proto_dir, "agent/v1/agent.proto")
stubs.generate(proto_dir, "vpn/v1/events.proto")
from vpn.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from vpn.v1 import events_pb2, events_pb2_grpc  # noqa: E402
from agent.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402


read = stubs.reader(certs)


class Auth(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self):
        self.calls = collections.Counter()
        self.lock = threading.Lock()

    def scripted(self, user, context):
        """The answer DIR/USER scripts, or None when there is no such file."""
        directory = os.environ.get("FAKE_PORTAL_VERDICTS")
        if not directory or "/" in user or not os.path.exists(os.path.join(directory, user)):
            return None
        with open(os.path.join(directory, user)) as f:
            words = f.readline().split()
        with self.lock, open(os.path.join(directory, "calls"), "a") as f:
            f.write(user + "\n")
        if words[0] == "status":
            context.abort(getattr(grpc.StatusCode, words[1]), "scripted " + words[1])
        if words[0] == "hang":
            time.sleep(30)
        for word in words[1:]:
            if word.startswith("sleep="):
                time.sleep(float(word[len("sleep="):]))
        reply = auth_pb2.CheckPolicyResponse(allowed=words[0] == "allow")
        if words[0] == "deny":
            reply.deny_reason = "scripted deny"
        for word in words[1:]:
            if word.startswith("ttl="):
                reply.metadata["cache_ttl_seconds"] = word[len("ttl="):]
        return reply

    def CheckPolicy(self, request, context):
        user = request.username
        scripted = self.scripted(user, context)
        if scripted is not None:
            return scripted
        if user.startswith("calls:"):
            with self.lock:
                seen = self.calls[user[len("calls:"):]]
            return auth_pb2.CheckPolicyResponse(allowed=False, deny_reason=str(seen))
        with self.lock:
            self.calls[user] += 1
        if user == "slow":
            time.sleep(2)
        if user == "broken":
            context.abort(grpc.StatusCode.UNAVAILABLE, "portal database down")
        if user == "bob":
            return auth_pb2.CheckPolicyResponse(allowed=False, deny_reason="not today")
        if user == "suspended":
            return auth_pb2.CheckPolicyResponse(allowed=True, should_disconnect=True,
                                                deny_reason="account suspended")
        reply = auth_pb2.CheckPolicyResponse(allowed=True)
        if user == "alice":
            reply.routes.append("10.0.0.0/8")
            reply.metadata["peer"] = context.peer()
            reply.metadata["client_ip"] = request.client_ip
        return reply


    def ValidateSession(self, request, context):
        if request.username == "revoked":
            return auth_pb2.ValidateSessionResponse(valid=False, invalid_reason="account revoked")
        if request.username == "kicked":
            return auth_pb2.ValidateSessionResponse(valid=True, force_disconnect=True)
        if request.username == "broken":
            context.abort(grpc.StatusCode.UNAVAILABLE, "portal database down")
        return auth_pb2.ValidateSessionResponse(valid=True)


class Events(events_pb2_grpc.EventServiceServicer):
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def record(self, kind, request, **extra):
        line = dict(kind=kind, username=request.username, session_id=request.session_id,
                    event_id=request.metadata["event_id"], **extra)
        with self.lock, open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
        return request.username != "refused"

    def ReportConnect(self, request, context):
        ok = self.record("connect", request, client_ip=request.client_ip, vpn_ip=request.vpn_ip)
        return events_pb2.ReportConnectResponse(success=ok, message="" if ok else "no thanks")

    def ReportDisconnect(self, request, context):
        s = request.stats
        ok = self.record("disconnect", request, bytes_received=s.bytes_received,
                         bytes_sent=s.bytes_sent, duration_seconds=s.duration_seconds)
        return events_pb2.ReportDisconnectResponse(success=ok, message="" if ok else "no thanks")


def command(request_id, *args):
    return agent_pb2.ServerMessage(request_id=request_id, command=agent_pb2.CommandInstruction(
        command_type="occtl", args=list(args), timeout_seconds=5))


DAVE = agent_pb2.ServerMessage(request_id="cfg-1", config_update=agent_pb2.ConfigUpdate(
    config_type=agent_pb2.CONFIG_TYPE_PER_USER, config_name="dave",
    config_content='{"routes": ["10.80.0.0/16"]}', create_backup=True))
# Orders per stream (the first heartbeat releases them) and the answer that ends the stream.
SCRIPT = {
    1: ([command("cmd-1", "show", "status"), DAVE,
         agent_pb2.ServerMessage(request_id="inv-1", action=agent_pb2.ControlAction(
             action_type="invalidate_cache", parameters={"username": "alice"})),
         agent_pb2.ServerMessage(request_id="act-1", action=agent_pb2.ControlAction(
             action_type="reboot"))], "act-1"),
    2: ([DAVE, command("cmd-2", "show", "users")], None),
    3: ([DAVE], None),
}


class Control(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, record):
        self.record = record
        self.streams = 0
        self.lock = threading.Lock()

    def log(self, line):
        if self.record:
            with self.lock, open(self.record, "a") as f:
                f.write(json.dumps(line) + "\n")

    def scripted(self, agent, request_iterator):
        with self.lock:
            self.streams += 1
            stream = self.streams
        self.log(dict(kind="stream", stream=stream, agent=agent))
        orders, last = SCRIPT.get(stream, ([], None))
        queue_ = queue.Queue()

        def read():
            first = True
            for m in request_iterator:
                which = m.WhichOneof("payload")
                line = dict(kind=which, stream=stream, agent_id=m.agent_id,
                            seconds=m.timestamp.seconds)
                if which == "heartbeat":
                    hb = m.heartbeat
                    line.update(status=hb.status, memory_total=hb.system.memory_total_bytes,
                                ocserv_running=hb.ocserv.is_running,
                                ocserv_version=hb.ocserv.version)
                    if first:
                        first = False
                        for o in orders:
                            queue_.put(o)
                elif which == "event":
                    e = m.event
                    line.update(event_type=e.event_type, message=e.message,
                                metadata=dict(sorted(e.metadata.items())))
                    if last and e.metadata.get("request_id") == last:
                        queue_.put(None)
                self.log(line)
            queue_.put(None)

        threading.Thread(target=read, daemon=True).start()
        while True:
            order = queue_.get()
            if order is None:
                return
            yield order

    def AgentStream(self, request_iterator, context):
        agent = dict(context.invocation_metadata()).get("x-agent-id", "")
        if agent.startswith("scripted"):
            yield from self.scripted(agent, request_iterator)
            return
        if agent.startswith("quiet"):  # as a portal is most of the time: it listens
            for _ in request_iterator:
                pass
            return
        context.send_initial_metadata([("x-portal", "fake")])
        n = 0
        for message in request_iterator:
            n += 1
            command = agent_pb2.CommandInstruction(command_type="occtl", args=["show", "status"])
            yield agent_pb2.ServerMessage(request_id=message.agent_id, command=command)
        context.set_trailing_metadata([("x-heartbeats", str(n))])


class CallLog(grpc.ServerInterceptor):
    """With FAKE_PORTAL_CALL_LOG=FILE: a line 'UNIX_TIME METHOD' per call (tests/chaos/fleet.py
    counts the calls per second)."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def intercept_service(self, continuation, details):
        with self.lock:
            self.file.write(f"{time.time():.3f} {details.method}\n")
        return continuation(details)


class TraceLog(grpc.ServerInterceptor):
    """With FAKE_PORTAL_TRACES=FILE: a line 'METHOD TRACEPARENT' per call ('-' without one),
    for tests/traces.rs."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def intercept_service(self, continuation, details):
        sent = dict(details.invocation_metadata).get("traceparent", "-")
        with self.lock:
            self.file.write(f"{details.method} {sent}\n")
        return continuation(details)


interceptors = [CallLog(os.environ["FAKE_PORTAL_CALL_LOG"])] \
    if os.environ.get("FAKE_PORTAL_CALL_LOG") else []
if os.environ.get("FAKE_PORTAL_TRACES"):
    interceptors.append(TraceLog(os.environ["FAKE_PORTAL_TRACES"]))
# Every open control stream holds a worker: a fleet of agents needs more (FAKE_PORTAL_WORKERS).
workers = int(os.environ.get("FAKE_PORTAL_WORKERS", "16"))
server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), interceptors=interceptors)
auth_pb2_grpc.add_AuthServiceServicer_to_server(Auth(), server)
agent_pb2_grpc.add_AgentServiceServicer_to_server(
    Control(sys.argv[4] if len(sys.argv) > 4 else None), server)
if len(sys.argv) > 4:
    events_pb2_grpc.add_EventServiceServicer_to_server(Events(sys.argv[4]), server)
creds = grpc.ssl_server_credentials([(read("server.key"), read("server.pem"))],
                                    root_certificates=read("ca.pem"), require_client_auth=True)
want = int(sys.argv[3]) if len(sys.argv) > 3 else 0
host = os.environ.get("FAKE_PORTAL_HOST", "127.0.0.1")  # tests/chaos: another namespace's address
port = server.add_secure_port(f"{host}:{want}", creds)
server.start()
print(f"listening {port}", flush=True)
sys.stdin.read()  # until the test closes our stdin
server.stop(0)
