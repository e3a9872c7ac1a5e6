"""Faults injected for real between the agent and its portal, with the numbers that say whether
the agent held: tests/chaos/run.sh starts this as root.

The daemon runs in one network namespace, the grpcio portal (tests/interop/fake_portal.py) in
another, joined by a veth pair; iptables in the agent's namespace, kill -9, a tmpfs filled up
and scripted slow answers make the faults. Hooks are
the real binary with ocserv's environment, for users never seen before (no cache): `ok-N` whom
the portal allows, `no-N` whom it denies. fail_mode is close, so an admit is right only when
the portal was asked and said allow.

For every fault it counts: hooks answered within hook_timeout (all of them must be), wrong
allows (none), disconnect reports lost (none: every one sent arrives, checked by username), and
the seconds from the end of the fault until a portal decision comes through again, the outbox
is empty and the control stream is open (within breaker_timeout + 3 s; the control stream and a
backlog have longer, see CONTROL_WITHIN and drain_within). It prints the fault matrix and exits
1 when any number is off.

Usage: chaos.py BIN PYTHON WORKDIR
"""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
import time

from ocserv_fault import Ocserv

BIN, PYTHON, WORK = sys.argv[1:4]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PID = os.getpid()
AGT, PRT = f"oa-chaos-a-{PID}", f"oa-chaos-p-{PID}"
AGT_IP, PRT_IP, PORT = "10.198.0.1", "10.198.0.2", 50443
HOOK_TIMEOUT, PORTAL_TIMEOUT, BREAKER_TIMEOUT = 3.0, 1.0, 5.0
RECOVER_WITHIN = BREAKER_TIMEOUT + 3
# The control stream: heartbeats every 2 s; a stream whose heartbeats go unacknowledged for
# TCP_USER_TIMEOUT (10 s at least) is given up and reopened after a backoff (1 s +20%).
HEARTBEAT = 2.0
CONTROL_WITHIN = 10 + HEARTBEAT + 1.2 + 3
CONF = os.path.join(WORK, "agent.conf")
VERDICTS = os.path.join(WORK, "verdicts")
EVENTS = os.path.join(WORK, "events.jsonl")


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True).stdout


def in_agent(*args, check=True):
    return sh("ip", "netns", "exec", AGT, *args, check=check)


def setup_network():
    sh("ip", "netns", "add", AGT)
    sh("ip", "netns", "add", PRT)
    a, p = f"oac{PID % 100000}a", f"oac{PID % 100000}p"
    sh("ip", "link", "add", a, "type", "veth", "peer", "name", p)
    sh("ip", "link", "set", a, "netns", AGT)
    sh("ip", "link", "set", p, "netns", PRT)
    for ns, dev, ip in ((AGT, a, AGT_IP), (PRT, p, PRT_IP)):
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def write_conf():
    with open(CONF, "w") as f:
        f.write(f"""config agent 'main'
	option socket '{WORK}/agent.sock'
	option hook_timeout {int(HOOK_TIMEOUT)}s
	option log_level info
	option id 'quiet-chaos'
config portal 'portal'
	option enabled 1
	option address '{PRT_IP}:{PORT}'
	option server_name 'localhost'
	option ca '{WORK}/pki/ca.pem'
	option cert '{WORK}/pki/client.pem'
	option key '{WORK}/pki/client.key'
	option timeout {int(PORTAL_TIMEOUT)}s
config resilience 'resilience'
	option fail_mode close
	option environment development
	option breaker_failure_threshold 3
	option breaker_timeout {int(BREAKER_TIMEOUT)}s
	option breaker_max_timeout {int(BREAKER_TIMEOUT)}s
	option cache_ttl 1s
	option cache_deny_ttl 1s
config outbox 'outbox'
	option dir '{WORK}/outbox'
	option retry_max 1s
	option max_events 20000
config control 'control'
	option enabled 1
	option address '{PRT_IP}:{PORT}'
	option server_name 'localhost'
	option heartbeat_interval {int(HEARTBEAT)}s
config ocserv 'ocserv'
	option config '{WORK}/ocserv/ocserv.conf'
	option ctl_socket '{WORK}/ocserv/occtl.sock'
config rule 'carol'
	option action allow
	list user 'carol'
	option max_sessions 1
""")


class Portal:
    def __init__(self):
        self.proc = None

    def start(self):
        env = dict(os.environ, FAKE_PORTAL_HOST=PRT_IP, FAKE_PORTAL_VERDICTS=VERDICTS)
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", PRT, PYTHON, f"{ROOT}/tests/interop/fake_portal.py",
             f"{WORK}/pki", f"{ROOT}/proto", str(PORT), EVENTS],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(f"{WORK}/portal.log", "a"), env=env, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            sys.exit(f"chaos: the portal did not start: {line!r}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Counts:
    """One fault's numbers."""

    def __init__(self, name):
        self.name, self.hooks, self.late, self.wrong = name, 0, 0, []
        self.other = []  # other problems: journal errors not counted, or counted when none
        self.slowest = 0.0
        self.reports_sent, self.reports_lost = [], 0
        self.decisions_back = self.outbox_empty = self.control_back = None
        self.drain_within = RECOVER_WITHIN
        self.lock = threading.Lock()


USERS = iter(range(1, 1_000_000))
SLOW = [""]  # appended to every verdict written while the portal is to be slow
CURRENT = [None]  # the fault being run: its Counts


def user(kind, verdict="allow"):
    """A user never seen before, with the portal's scripted verdict."""
    name = f"{kind}-{next(USERS)}"
    with open(os.path.join(VERDICTS, name), "w") as f:
        f.write(verdict + SLOW[0] + "\n")
    return name


def asked():
    try:
        with open(os.path.join(VERDICTS, "calls")) as f:
            return set(f.read().split())
    except FileNotFoundError:
        return set()


def hook(counts, name, reason="connect", allowed_by_portal=True, session=None, answered=None,
         said=None):
    """Runs the hook; its exit status. `answered` gets (reason, name) when the daemon answered,
    `said` what the hook wrote on stderr."""
    session = session or next(USERS)
    env = {"REASON": reason, "ID": str(session), "USERNAME": name, "GROUPNAME": "staff",
           "IP_REAL": "192.0.2.7", "IP_REMOTE": "10.10.0.2", "DEVICE": "vpns0",
           "STATS_BYTES_IN": "1000", "STATS_BYTES_OUT": "2000", "STATS_DURATION": "30",
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    started = time.monotonic()
    run = subprocess.run([BIN, "hook", "-c", CONF], env=env, capture_output=True, text=True)
    rc, took = run.returncode, time.monotonic() - started
    if answered is not None and "answer from the daemon" not in run.stderr:
        answered.append((reason, name))
    if said is not None:
        said.append(run.stderr)
    with counts.lock:
        counts.hooks += 1
        counts.slowest = max(counts.slowest, took)
        # The hook's own deadline is hook_timeout; 0.5 s more for starting the process.
        if took > HOOK_TIMEOUT + 0.5:
            counts.late += 1
        if reason == "connect" and rc == 0 and not (allowed_by_portal and name in asked()):
            counts.wrong.append(name)
    return rc


def load(counts, stop, workers=4):
    """Connects of fresh ok-/no- users and a disconnect report each, until `stop` is set."""
    def one():
        while not stop.is_set():
            ok = next(USERS) % 2 == 0
            name = user("ok", "allow") if ok else user("no", "deny")
            hook(counts, name, allowed_by_portal=ok)
            if ok:
                hook(counts, name, reason="disconnect")
                with counts.lock:
                    counts.reports_sent.append(name)
    threads = [threading.Thread(target=one) for _ in range(workers)]
    for t in threads:
        t.start()
    return threads


def status():
    out = subprocess.run([BIN, "status", "--json", "-c", CONF], capture_output=True,
                         text=True).stdout
    return json.loads(out) if out.strip() else {}


def recover(counts, healed):
    """Waits until a fresh user is allowed by the portal and the outbox is empty."""
    until = healed + max(30, counts.drain_within + 10)
    while time.monotonic() < until and counts.decisions_back is None:
        if hook(counts, user("ok", "allow")) == 0:
            counts.decisions_back = time.monotonic() - healed
        else:
            time.sleep(0.2)
    while time.monotonic() < until and counts.outbox_empty is None:
        if status().get("outbox_depth") == 0:
            counts.outbox_empty = time.monotonic() - healed
        else:
            time.sleep(0.2)


def control_opens():
    """The control stream's state from the agent's log: (times opened, whether it is open)."""
    with open(f"{WORK}/agent.log") as f:
        lines = [line for line in f if "control: " in line]
    opens = sum("control: stream open" in line for line in lines)
    return opens, bool(lines) and "control: stream open" in lines[-1]


def control_recovers(counts, healed, reopened_from=None):
    """Waits until the control stream is open (again, when `reopened_from` opens were seen)."""
    until = healed + 30
    while time.monotonic() < until:
        opens, up = control_opens()
        if up and (reopened_from is None or opens > reopened_from):
            counts.control_back = time.monotonic() - healed
            return
        time.sleep(0.2)


def portal_record():
    """The reports that reached the portal, in order."""
    try:
        with open(EVENTS) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def reported(kind="disconnect"):
    """The users whose `kind` report reached the portal."""
    return {e.get("username") for e in portal_record() if e.get("kind") == kind}


def report_count(kind, name):
    """How many `kind` reports of `name` reached the portal."""
    return sum(e.get("kind") == kind and e.get("username") == name for e in portal_record())


def journal_errors():
    """The outbox's journal write errors, from `status`."""
    words = status().get("outbox", "").split()
    return next((int(w.split("=")[1]) for w in words if w.startswith("journal-errors=")), 0)


class Daemon:
    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", AGT, BIN, "run", "-c", CONF],
                                     stderr=open(f"{WORK}/agent.log", "a"))
        for _ in range(100):
            if status():
                return
            time.sleep(0.1)
        sys.exit("chaos: the daemon did not start")


EVENTS_WITHIN = 10  # `occtl show events` reopens its stream after ocserv comes back


def wait_for(condition, seconds):
    """Whether `condition()` came true within `seconds`."""
    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.1)
    return True


def new_events(offset):
    """What `occtl show events` printed after `offset`."""
    with open(f"{WORK}/events.out") as f:
        f.seek(offset)
        return f.read()


def ocserv_restart(ocs):
    """ocserv hung (SIGSTOP: its control socket accepts and never answers) for 3 s, then
    restarted as an init script does (SIGTERM, started again) under live openconnect sessions,
    with the hook load of the other faults going on. Carol (rule 'carol': max_sessions 1) has
    a live session; another connect of hers, put to the daemon as ocserv would, is decided by
    ocserv's count while ocserv answers and by the agent's own session table while it is hung
    or down (README: the fallback when the control socket does not answer): denied while her
    session lives, admitted once ocserv's disconnect-script run on SIGTERM has ended it. Her
    new login after the restart is admitted by ocserv's count; `ocserv-agent occtl show
    events`, started before, prints it (the TOP subscription came back). The old sessions'
    openconnects give up (their cookies died with ocserv). Every report arrives; no hook takes
    longer than hook_timeout."""
    counts = Counts("ocserv hung 3 s, then restarted under live sessions")
    CURRENT[0] = counts
    for name in ("carol", "dave"):
        with open(os.path.join(VERDICTS, name), "w") as f:
            f.write("allow\n")
    events_out = open(f"{WORK}/events.out", "w")
    watcher = subprocess.Popen(["ip", "netns", "exec", AGT, BIN, "occtl", "-s", ocs.ctl, "show",
                                "events"], stdout=events_out, stderr=subprocess.STDOUT)
    old = []
    for name in ("carol", "dave"):
        rc, proc = ocs.login(name)
        if rc != 0:
            sys.exit(f"chaos: {name}'s login before the fault: openconnect exit {rc}")
        old.append((name, proc))
    # Reports of the real sessions: both connects, both disconnects (ocserv's disconnect-script
    # on SIGTERM), carol's second connect and its disconnect.
    real = {("carol", "connect"): 2, ("dave", "connect"): 1, ("carol", "disconnect"): 2,
            ("dave", "disconnect"): 1}

    def carol_again(allow, want, phase):
        """Another connect of carol's, straight to the daemon."""
        said = []
        rc = hook(counts, "carol", said=said)
        if (rc == 0) != allow or want not in said[0]:
            counts.other.append(f"{phase}: carol's other connect: exit {rc}, "
                                f"said {said[0].strip()!r}, want {'an allow' if allow else 'a deny'}"
                                f" with {want!r}")
    one_in_ocserv = "user has 1 session(s) in ocserv; rule 'carol' allows 1"
    carol_again(False, one_in_ocserv, "ocserv up")
    stop = threading.Event()
    threads = load(counts, stop)
    time.sleep(1)
    ocs.signal(signal.SIGSTOP)
    carol_again(False, "user has 1 session(s); rule 'carol' allows 1", "ocserv hung")
    time.sleep(2)
    ocs.signal(signal.SIGCONT)
    ocs.stop()
    carol_again(True, "", "ocserv down")
    events_before = os.path.getsize(f"{WORK}/events.out")
    ocs.start()
    healed = time.monotonic()
    stop.set()
    for t in threads:
        t.join()
    recover(counts, healed)
    control_recovers(counts, healed)
    # The event stream reopens after its backoff (1 s doubling while ocserv is away); a
    # session that starts in between is in the list it prints on reopening.
    if not wait_for(lambda: "events: reconnected" in new_events(events_before), EVENTS_WITHIN):
        counts.other.append(f"occtl show events did not reconnect within {EVENTS_WITHIN} s")
    else:
        print(f"chaos: occtl show events reconnected {time.monotonic() - healed:.1f} s after "
              "ocserv's start", file=sys.stderr)
    rc, carol = ocs.login("carol")
    if rc != 0:
        counts.other.append(f"carol's login after the restart: openconnect exit {rc}, want 0")
    else:
        carol_again(False, one_in_ocserv, "ocserv back")
        carol.send_signal(signal.SIGINT)
        carol.wait()
        if not wait_for(lambda: "connected user 'carol'" in new_events(events_before), 5):
            counts.other.append("occtl show events printed no connect of carol after the restart")
    watcher.send_signal(signal.SIGINT)
    watcher.wait()
    for name, proc in old:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            counts.other.append(f"{name}'s old openconnect still runs 20 s after the restart")
            proc.kill()
    time.sleep(1)
    counts.reports_lost = len(set(counts.reports_sent) - reported())
    for (name, kind), sent in real.items():
        counts.reports_sent += [name] * sent
        counts.reports_lost += max(0, sent - report_count(kind, name))
    return counts


def crash(daemon):
    """The daemon SIGKILLed in a burst of 200 connect/disconnect events (8 at a time) and
    started again a second later: every event the daemon answered the hook for must reach the
    portal, and the journal must load without errors."""
    counts = Counts("daemon killed (SIGKILL) in a burst of 200 events, restarted")
    answered = []

    def one(name):
        session = next(USERS)
        if hook(counts, name, session=session, answered=answered) == 0:
            hook(counts, name, "disconnect", session=session, answered=answered)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(one, user("ok", "allow")) for _ in range(100)]
        while len(answered) < 100:  # half-way
            time.sleep(0.01)
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        time.sleep(1)
        daemon.start()
        healed = time.monotonic()
        for j in jobs:
            j.result()
    counts.reports_sent = answered
    recover(counts, healed)
    control_recovers(counts, healed)
    time.sleep(1)
    got = {(kind, u) for kind in ("connect", "disconnect") for u in reported(kind)}
    counts.reports_lost = len(set(answered) - got)
    if journal_errors():
        counts.other.append(f"journal errors after the restart: {status().get('outbox')}")
    return counts


def portal_connections():
    """Local ports of the agent's established connections to the portal."""
    out = in_agent("ss", "-Htn", "state", "established", "dst", f"{PRT_IP}:{PORT}")
    return [line.split()[2].rsplit(":", 1)[1] for line in out.splitlines() if line.strip()]


def iptables(*rule, add=True):
    in_agent("iptables", "-A" if add else "-D", *rule)


def fault(name, start, end, hold=6.0, control_reopens=False, drain_within=RECOVER_WITHIN):
    """Runs load, starts the fault, holds it, ends it, and measures the recovery. With
    `control_reopens` the control stream must have been replaced by a new one; the outbox must
    be empty within `drain_within` of the end (longer where the fault left a backlog)."""
    counts = Counts(name)
    counts.drain_within = drain_within
    CURRENT[0] = counts
    opens_before = control_opens()[0]
    warm = user("ok", "allow")
    if hook(counts, warm) != 0:
        sys.exit(f"chaos: {name}: the portal does not answer before the fault")
    stop = threading.Event()
    threads = load(counts, stop)
    time.sleep(1)
    start()
    time.sleep(hold)
    end()
    healed = time.monotonic()
    stop.set()
    for t in threads:
        t.join()
    recover(counts, healed)
    control_recovers(counts, healed, opens_before if control_reopens else None)
    time.sleep(1)
    counts.reports_lost = len(set(counts.reports_sent) - reported())
    return counts


def main():
    os.makedirs(VERDICTS, exist_ok=True)
    setup_network()
    sh(f"{ROOT}/tests/gen-certs.sh", f"{WORK}/pki")
    write_conf()
    portal = Portal()
    portal.start()
    # outbox.dir on a tmpfs of its own, which the full-disk fault fills.
    os.makedirs(f"{WORK}/outbox")
    sh("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", f"{WORK}/outbox")
    ocs = Ocserv(WORK, AGT, BIN, CONF, ["carol", "dave"])
    ocs.start()
    print(f"chaos: {ocs.version}", file=sys.stderr)
    daemon = Daemon()
    daemon.start()
    results = []

    def run(key, thunk):  # CHAOS_ONLY=KEY[,KEY...] runs those faults only
        only = os.environ.get("CHAOS_ONLY")
        if not only or key in only.split(","):
            results.append(thunk())
    try:
        drop = ("-d", PRT_IP, "-j", "DROP")
        drop_in = ("INPUT", "-s", PRT_IP, "-j", "DROP")
        run("drop", lambda: fault(
            "silent partition (DROP), heal",
            lambda: (iptables("OUTPUT", *drop), iptables(*drop_in)),
            lambda: (iptables("OUTPUT", *drop, add=False), iptables(*drop_in, add=False))))

        nat = []

        def expire_mapping():
            for port in portal_connections():
                rule = ("OUTPUT", "-p", "tcp", "--sport", port, "-d", PRT_IP, "-j", "DROP")
                iptables(*rule)
                nat.append(rule)
            if not nat:
                sys.exit("chaos: no connection to the portal to expire")
        run("nat", lambda: fault(
            "NAT mapping expired (old 4-tuple dropped for good)",
            expire_mapping, lambda: None, hold=1.0, control_reopens=True))
        for rule in nat:
            iptables(*rule, add=False)

        reject = ("OUTPUT", "-d", PRT_IP, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
        run("rst", lambda: fault(
            "rejecting partition (RST)",
            lambda: iptables(*reject), lambda: iptables(*reject, add=False)))

        in_flight = []

        def kill_mid_burst():  # 50 calls the portal answers after 0.8 s, killed at 0.3 s
            for _ in range(50):
                name = user("ok", "allow sleep=0.8")
                t = threading.Thread(target=hook, args=(CURRENT[0], name))
                t.start()
                in_flight.append(t)
            time.sleep(0.3)
            portal.kill()
            for t in in_flight:
                t.join()
        run("kill", lambda: fault("portal killed (SIGKILL) under 50 calls, back after 5 s",
                                  kill_mid_burst, portal.start, hold=5.0))

        def slow(on):  # verdicts written meanwhile answer after 2x portal.timeout
            SLOW[0] = f" sleep={2 * PORTAL_TIMEOUT}" if on else ""
        run("slow", lambda: fault("slow portal (answers after 2x portal.timeout)",
                                  lambda: slow(True), lambda: slow(False)))
        flapping = threading.Event()

        def flap():  # up 2 s, down 2 s
            while not flapping.is_set():
                time.sleep(2)
                portal.kill()
                time.sleep(2)
                portal.start()

        flapper = threading.Thread(target=flap)

        def stop_flapping():
            flapping.set()
            flapper.join()
        # A minute of this at ~100 events/s leaves a backlog of thousands of reports (the
        # reconnect backoff misses some 2-s windows): delivery resumes as fast as after the
        # other faults, emptying the outbox takes longer.
        run("flap", lambda: fault("flapping portal: up 2 s, down 2 s, for a minute",
                                  flapper.start, stop_flapping, hold=60.0, drain_within=30))

        filler = f"{WORK}/outbox/filler"

        def fill():  # the disk full and the portal away: reports can only wait
            iptables("OUTPUT", *drop)
            iptables(*drop_in)
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)

        def free():
            os.unlink(filler)
            iptables("OUTPUT", *drop, add=False)
            iptables(*drop_in, add=False)

        def full_disk():
            errors_before = journal_errors()
            full = fault("outbox.dir full (tmpfs), portal away; then space and portal back",
                         fill, free)
            if journal_errors() == errors_before:
                full.other.append("no journal error counted while the disk was full")
            return full
        run("disk", full_disk)
        run("ocserv", lambda: ocserv_restart(ocs))
        run("crash", lambda: crash(daemon))
    finally:
        ocs.close()
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait()
        portal.proc.stdin.close()
        portal.kill()
        sh("umount", f"{WORK}/outbox", check=False)
        sh("ip", "netns", "del", AGT, check=False)
        sh("ip", "netns", "del", PRT, check=False)

    failed = False
    print(f"{'fault':52} {'hooks':>5} {'late':>4} {'slowest':>7} {'wrong allows':>12} "
          f"{'reports lost':>12} {'decisions back':>14} {'outbox empty':>12} {'control back':>12}")
    for c in results:
        back = "never" if c.decisions_back is None else f"{c.decisions_back:.1f} s"
        empty = "never" if c.outbox_empty is None else f"{c.outbox_empty:.1f} s"
        control = "never" if c.control_back is None else f"{c.control_back:.1f} s"
        print(f"{c.name:52} {c.hooks:>5} {c.late:>4} {c.slowest:>6.2f}s {len(c.wrong):>12} "
              f"{c.reports_lost:>3}/{len(c.reports_sent):<8} {back:>14} {empty:>12} {control:>12}")
        problems = []
        if c.late:
            problems.append(f"{c.late} hook(s) over hook_timeout")
        if c.wrong:
            problems.append(f"wrong allows: {c.wrong[:5]}")
        if c.reports_lost:
            problems.append(f"{c.reports_lost} report(s) lost")
        if c.decisions_back is None or c.decisions_back > RECOVER_WITHIN:
            problems.append(f"decisions back after {back}, want <= {RECOVER_WITHIN:.0f} s")
        if c.outbox_empty is None or c.outbox_empty > c.drain_within:
            problems.append(f"outbox empty after {empty}, want <= {c.drain_within:.0f} s")
        problems += c.other
        if c.control_back is None or c.control_back > CONTROL_WITHIN:
            problems.append(f"control stream back after {control}, want <= {CONTROL_WITHIN:.0f} s")
        for p in problems:
            print(f"chaos: FAIL: {c.name}: {p}")
            failed = True
    sys.exit(1 if failed else 0)


main()
