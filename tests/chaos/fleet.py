"""A fleet as a good citizen: N agent daemons (distinct agent.id, one process each) against one
portal that disappears for a while. It prints the portal's calls per second in a steady stretch
and in each of the first 10 s after it returns (reconnects of the control streams, replayed
reports, policy checks), and their ratio; it fails (exit 1) when a second of those 10 exceeds
3x the steady rate (a herd).

Each agent sees a connect (and, for an admitted one, a disconnect) every 4 s on average, at a
random moment, so the fleet's steady load is spread as a real one is. fail_mode open, so that
the outage leaves reports to replay (with close every connect is denied and nothing is
reported). The portal is killed (SIGKILL) and started again on the same port after the
outage; after the first 10 s, the calls are counted per 10 s for LATER seconds more, to see
when the fleet is back to its steady rate.

Usage: fleet.py BIN PYTHON WORKDIR [AGENTS [OUTAGE_SECONDS [LATER_SECONDS]]]
(default 100 agents, 60 s, 60 s; tests/chaos/run.sh runs 30 agents, 30 s, 20 s)
"""

import collections
import os
import random
import signal
import subprocess
import sys
import threading
import time

BIN, PYTHON, WORK = sys.argv[1:4]
AGENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 100
OUTAGE = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
LATER = int(sys.argv[6]) if len(sys.argv) > 6 else 60
HERD = 3.0  # most calls in a second after the return, as a multiple of the steady rate
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLS = os.path.join(WORK, "calls.log")
STEADY, AFTER = 20.0, 10


def start_portal(port):
    env = dict(os.environ, FAKE_PORTAL_CALL_LOG=CALLS, FAKE_PORTAL_WORKERS=str(2 * AGENTS + 16))
    p = subprocess.Popen([PYTHON, f"{ROOT}/tests/interop/fake_portal.py", f"{WORK}/pki",
                          f"{ROOT}/proto", str(port), f"{WORK}/events.jsonl"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=open(f"{WORK}/portal.log", "a"), env=env, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening"):
        sys.exit(f"fleet: the portal did not start: {line!r}")
    return p, int(line.split()[1])


def conf(i, port):
    d = f"{WORK}/agent{i}"
    os.makedirs(d, exist_ok=True)
    path = f"{d}/config"
    with open(path, "w") as f:
        f.write(f"""config agent 'main'
	option socket '{d}/agent.sock'
	option hook_timeout 3s
	option log_level warn
	option id 'quiet-fleet-{i}'
config portal 'portal'
	option enabled 1
	option address '127.0.0.1:{port}'
	option server_name 'localhost'
	option ca '{WORK}/pki/ca.pem'
	option cert '{WORK}/pki/client.pem'
	option key '{WORK}/pki/client.key'
	option timeout 1s
config resilience 'resilience'
	option fail_mode open
	option environment development
	option cache_ttl 1s
config outbox 'outbox'
	option dir '{d}/outbox'
config control 'control'
	option enabled 1
	option address '127.0.0.1:{port}'
	option server_name 'localhost'
config metrics 'metrics'
	option enabled 0
""")
    return path


def hooks(configs, stop):
    """Each agent: a connect every 4 s on average (and its disconnect when admitted)."""
    def agent(i, path):
        n = 0
        while not stop.is_set():
            time.sleep(random.uniform(0, 8))
            n += 1
            env = {"REASON": "connect", "ID": str(n), "USERNAME": f"u{i}-{n}",
                   "GROUPNAME": "staff", "IP_REAL": "192.0.2.7", "IP_REMOTE": "10.10.0.2",
                   "DEVICE": "vpns0"}
            if subprocess.run([BIN, "hook", "-c", path], env=env,
                              capture_output=True).returncode == 0:
                env.update(REASON="disconnect", STATS_BYTES_IN="1", STATS_BYTES_OUT="2",
                           STATS_DURATION="3")
                subprocess.run([BIN, "hook", "-c", path], env=env, capture_output=True)
    threads = [threading.Thread(target=agent, args=(i, p), daemon=True)
               for i, p in enumerate(configs)]
    for t in threads:
        t.start()


def calls_between(a, b):
    per = collections.Counter()
    with open(CALLS) as f:
        for line in f:
            t, method = line.split()
            if a <= float(t) < b:
                per[int(float(t) - a)] += 1
    return per


def main():
    os.makedirs(WORK, exist_ok=True)
    subprocess.run([f"{ROOT}/tests/gen-certs.sh", f"{WORK}/pki"], check=True,
                   capture_output=True)
    portal, port = start_portal(0)
    configs = [conf(i, port) for i in range(AGENTS)]
    daemons = [subprocess.Popen([BIN, "run", "-c", c], stderr=subprocess.DEVNULL)
               for c in configs]
    stop = threading.Event()
    try:
        time.sleep(3)
        hooks(configs, stop)
        time.sleep(10)  # everyone connected and busy
        steady_from = time.time()
        time.sleep(STEADY)
        steady = sum(calls_between(steady_from, steady_from + STEADY).values()) / STEADY
        portal.send_signal(signal.SIGKILL)
        portal.wait()
        time.sleep(OUTAGE)
        portal, _ = start_portal(port)
        back = time.time()
        time.sleep(AFTER + LATER)
        after = calls_between(back, back + AFTER)
        rates = [after.get(s, 0) for s in range(AFTER)]
        later = calls_between(back + AFTER, back + AFTER + LATER)
        tens = [sum(later.get(s, 0) for s in range(10 * k, 10 * k + 10)) / 10
                for k in range(LATER // 10)]
    finally:
        stop.set()
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            d.wait()
        portal.stdin.close()
        portal.kill()
    print(f"fleet of {AGENTS} agents, portal away {OUTAGE:.0f} s")
    print(f"steady: {steady:.1f} calls/s")
    print("first 10 s after the portal returned, calls per second: " + " ".join(map(str, rates)))
    print(f"peak {max(rates)} calls/s = {max(rates) / steady:.1f}x steady")
    print("then, calls/s per 10 s: " + " ".join(f"{r:.1f}" for r in tens))
    if steady <= 0 or max(rates) > HERD * steady:
        print(f"fleet: FAIL: a herd: {max(rates)} calls in a second after the return, over "
              f"{HERD:.0f}x the steady {steady:.1f}/s")
        sys.exit(1)


main()
