"""The real ocserv for the chaos faults that are about ocserv: ocserv in the agent's network
namespace with the hook as its connect/disconnect script (as on a router), openconnect in a
namespace of its own. The same setup as tests/e2e/run.sh, in Python; the binaries are
Debian's (PATH) or those under $OCSERV_PREFIX.
"""

import base64
import hashlib
import os
import signal
import subprocess
import time

CLIENT_IP, SERVER_IP, PORT = "10.197.0.2", "10.197.0.1", 44443
PASSWORD = "pw"


def binary(name, sub):
    prefix = os.environ.get("OCSERV_PREFIX")
    return os.path.join(prefix, sub, name) if prefix else name


OCSERV, OCPASSWD = binary("ocserv", "sbin"), binary("ocpasswd", "bin")


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw).stdout


class Ocserv:
    """ocserv in namespace `ns`, its files under `work`/ocserv, users' openconnects in a
    client namespace joined to `ns` by a veth pair."""

    def __init__(self, work, ns, bin_path, conf, users):
        self.dir = os.path.join(work, "ocserv")
        self.ns, self.cli = ns, ns + "-c"
        self.proc = None
        self.logins = 0
        os.makedirs(self.dir)
        os.chmod(work, 0o755)  # ocserv's workers run as nobody and reach sockets in here
        os.chmod(self.dir, 0o755)
        self.ctl = os.path.join(self.dir, "occtl.sock")
        run = subprocess.run([OCSERV, "--version"], capture_output=True, text=True)
        self.version = (run.stdout + run.stderr).split("\n")[0]
        self._network()
        self._files(work, bin_path, conf, users)

    def _network(self):
        sh("ip", "netns", "add", self.cli)
        a, c = f"oao{os.getpid() % 100000}a", f"oao{os.getpid() % 100000}c"
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", c)
        sh("ip", "link", "set", a, "netns", self.ns)
        sh("ip", "link", "set", c, "netns", self.cli)
        for ns, dev, ip in ((self.ns, a, SERVER_IP), (self.cli, c, CLIENT_IP)):
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _files(self, work, bin_path, conf, users):
        d = self.dir
        pki = os.path.join(work, "pki")
        # openconnect trusts the server by its public key's pin (as `certtool -i` prints it).
        der = subprocess.run(
            "openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der",
            shell=True, cwd=pki, check=True, capture_output=True).stdout
        self.pin = "pin-sha256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
        for u in users:
            sh(OCPASSWD, "-c", f"{d}/passwd", "-g", "staff", u, input=f"{PASSWORD}\n{PASSWORD}\n")
        hook = os.path.join(d, "hook")
        with open(hook, "w") as f:
            f.write(f"#!/bin/sh\nexec {bin_path} hook -c {conf}\n")
        os.chmod(hook, 0o755)
        # The ocserv.conf e2e starts from too, with this fault's hook.
        template = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e",
                                "ocserv.conf.in")
        with open(template) as f:
            text = f.read()
        for key, value in {"DIR": d, "PKI": pki, "PORT": str(PORT), "MAX_CLIENTS": "64",
                           "NETWORK": "192.168.78.0"}.items():
            text = text.replace(f"@{key}@", value)
        assert "@" not in text, text
        with open(f"{d}/ocserv.conf", "w") as f:
            f.write(text + f"connect-script = {hook}\ndisconnect-script = {hook}\n")
        with open(f"{d}/vpn-stub", "w") as f:  # brings the tun up, never vpnc-script
            f.write("""#!/bin/sh
if [ "$reason" = connect ]; then
	ip link set dev "$TUNDEV" up
	ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
fi
exit 0
""")
        os.chmod(f"{d}/vpn-stub", 0o755)

    def start(self):
        """Starts ocserv and waits until it accepts TLS connections and its control socket."""
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
             OCSERV, "-f", "-d", "1", "-c", f"{self.dir}/ocserv.conf"],
            stdout=open(f"{self.dir}/ocserv.log", "a"), stderr=subprocess.STDOUT)
        for _ in range(100):
            up = subprocess.run(["ip", "netns", "exec", self.ns, "bash", "-c",
                                 f"exec 3<>/dev/tcp/{SERVER_IP}/{PORT}"], capture_output=True)
            if up.returncode == 0 and os.path.exists(self.ctl):
                return
            time.sleep(0.1)
        raise SystemExit(f"chaos: ocserv did not start: {self.log_tail()}")

    def stop(self):
        """Stops ocserv as an init script does (SIGTERM to the main process) and waits."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def log_tail(self, n=20):
        with open(f"{self.dir}/ocserv.log") as f:
            return "".join(f.readlines()[-n:])

    def login(self, user):
        """Starts openconnect for `user`; (exit status, or 0 once its tunnel is up; process)."""
        self.logins += 1
        tun = f"oc{self.logins}"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.cli, "openconnect", "--protocol=anyconnect",
             f"--user={user}", "--passwd-on-stdin", "--non-inter", "--servercert", self.pin,
             "--no-dtls", "--script", f"{self.dir}/vpn-stub", "--interface", tun,
             f"https://{SERVER_IP}:{PORT}/"],
            stdin=subprocess.PIPE, stdout=open(f"{self.dir}/openconnect.log", "a"),
            stderr=subprocess.STDOUT, text=True)
        proc.stdin.write(PASSWORD + "\n")
        proc.stdin.close()
        for _ in range(300):
            if proc.poll() is not None:
                return proc.returncode, proc
            addr = subprocess.run(["ip", "-n", self.cli, "-4", "addr", "show", "dev", tun],
                                  capture_output=True, text=True).stdout
            if "inet " in addr:
                return 0, proc
            time.sleep(0.1)
        return "timeout", proc

    def occtl(self, *args):
        """Our occtl against this ocserv (the real occtl may not match a prefix build)."""
        return subprocess.run(["ip", "netns", "exec", self.ns, *args], capture_output=True,
                              text=True)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.stop()
        sh("ip", "netns", "del", self.cli, check=False)
