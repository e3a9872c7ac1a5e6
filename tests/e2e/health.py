"""Asks the daemon's AgentService/HealthCheck at a tier, over mTLS with grpcio; prints the
answer and exits 0 only if it says healthy.

Usage: health.py ADDRESS CERT_DIR PROTO_DIR TIER"""

import sys

import grpc

sys.path.insert(0, sys.argv[0].rsplit("/", 2)[0] + "/interop")
import stubs  # noqa: E402  tests/interop/stubs.py

address, certs, proto_dir, tier = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stubs.generate(proto_dir, "agent/v1/agent.proto")
from agent.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402

read = stubs.reader(certs)
creds = grpc.ssl_channel_credentials(read("ca.pem"), read("client.key"), read("client.pem"))
channel = grpc.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", "localhost")])
r = agent_pb2_grpc.AgentServiceStub(channel).HealthCheck(agent_pb2.HealthCheckRequest(tier=tier), timeout=10)
print(f"healthy={r.healthy} {r.status_message}")
for k in sorted(r.checks):
    print(f"  {k}: {r.checks[k]}")
sys.exit(0 if r.healthy else 1)
