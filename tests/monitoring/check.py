#!/usr/bin/env python3
"""Checks docs/monitoring against a running daemon, with Debian's Prometheus tools.

    check.py METRICS_ADDR TEXTFILE WORKDIR

METRICS_ADDR is the daemon's /metrics (host:port), TEXTFILE its metrics.textfile (named
*ocserv-agent*.prom: the stale-textfile alert matches that name). Run by tests/monitoring.rs
after it made the daemon decide a few connects through a portal; that test says how to run it.

What fails it:
- `promtool check rules` / `promtool test rules` on the alert rules; an alert without a
  runbook_url to an existing section of docs/runbook.md;
- docs/monitoring/ocserv-agent.json not what dashboard.py prints, or not a current dashboard
  with a datasource and an instance variable;
- any finding of `promtool check metrics` on a live scrape;
- node-exporter's textfile collector not reading the textfile cleanly (and, the control, not
  refusing a broken copy);
- a dashboard or alert query that a live Prometheus scraping the daemon cannot evaluate, that
  names a metric nobody exports, or (dashboard panels) that comes back empty.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs", "monitoring")
# Grafana's built-in variables, as it would expand them for a 5-minute range with 1 s scrapes.
VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s",
             "$instance": ".*"}
# A metric name as a query writes it: ours and node-exporter's (functions and label names
# never start with these).
NAME = re.compile(r"\b((?:ocserv_agent|node_textfile)_[a-z0-9_]+)\b")

failures = []


def fail(what):
    failures.append(what)
    print("FAIL:", what, file=sys.stderr)


def run(args, stdin=None):
    p = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def wait_until(what, probe, limit=30):
    until = time.time() + limit
    while time.time() < until:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def check_rules():
    code, out = run(["promtool", "check", "rules", os.path.join(DOCS, "alerts.yml")])
    if code != 0 or "SUCCESS" not in out:
        fail(f"promtool check rules:\n{out}")
    code, out = run(["promtool", "test", "rules", os.path.join(DOCS, "alerts_test.yml")])
    if code != 0 or "SUCCESS" not in out:
        fail(f"promtool test rules:\n{out}")


def check_runbook_links():
    """Every alert has a runbook_url naming a section of docs/runbook.md that exists (GitHub's
    anchor: the heading lowercased, spaces to dashes, other punctuation dropped)."""
    rules = open(os.path.join(DOCS, "alerts.yml")).read()
    runbook = open(os.path.join(ROOT, "docs", "runbook.md")).read()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    alerts = re.findall(r"- alert: (\w+)", rules)
    links = re.findall(r"runbook_url: docs/runbook\.md#(\S+)", rules)
    if len(links) != len(alerts):
        fail(f"{len(alerts)} alerts but {len(links)} runbook_url annotations")
    for link in links:
        if link not in anchors:
            fail(f"runbook_url #{link}: docs/runbook.md has no such section")


def load_dashboard():
    with open(os.path.join(DOCS, "ocserv-agent.json")) as f:
        board = json.load(f)
    code, out = run([sys.executable, os.path.join(DOCS, "dashboard.py")])
    if code != 0 or json.loads(out) != board:
        fail("docs/monitoring/ocserv-agent.json is not what dashboard.py prints: "
             "python3 docs/monitoring/dashboard.py > docs/monitoring/ocserv-agent.json")
    if board.get("schemaVersion", 0) < 36:
        fail(f"dashboard schemaVersion {board.get('schemaVersion')}: Grafana 10 writes 36+")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    if variables.get("datasource", {}).get("type") != "datasource":
        fail("dashboard has no datasource variable")
    if "instance" not in variables:
        fail("dashboard has no instance variable")
    ids = [p["id"] for p in board["panels"]]
    if len(ids) != len(set(ids)):
        fail(f"dashboard panel ids repeat: {ids}")
    return board


def dashboard_queries(board):
    """(where, expr, must_have_data) for every panel target and query variable."""
    out = []
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        if panel.get("datasource", {}).get("uid") != "${datasource}":
            fail(f"panel {panel['title']!r} does not use the datasource variable")
        for t in panel["targets"]:
            out.append((f"panel {panel['title']!r} {t['refId']}", t["expr"], True))
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", v["query"]["query"])
            if not m:
                fail(f"variable {v['name']}: cannot check {v['query']['query']!r}")
                continue
            out.append((f"variable {v['name']}", f"group by ({m[2]}) ({m[1]})", True))
    return out


def alert_queries(rules):
    """(where, expr, False) for every alert rule Prometheus loaded: they may well not fire;
    each of their selectors must still find series, or the alert could never fire."""
    text = open(os.path.join(DOCS, "alerts.yml")).read()
    alerts = [r for g in rules for r in g["rules"] if r["type"] == "alerting"]
    if len(alerts) != text.count("- alert:"):
        fail(f"Prometheus loaded {len(alerts)} alerts, alerts.yml has {text.count('- alert:')}")
    out = []
    for r in alerts:
        out.append((f"alert {r['name']}", r["query"], False))
        for sel in re.findall(r"\b((?:ocserv_agent_\w+|node_textfile_\w+|up)\{[^}]*\})",
                              r["query"]):
            out.append((f"alert {r['name']} selector", sel, True))
    return out


def expand(expr):
    for k, v in VARIABLES.items():
        expr = expr.replace(k, v)
    return expr


class Prom:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def query(self, expr):
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            body = json.loads(http_get(url))
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode())
        if body.get("status") != "success":
            return None, body.get("error", body)
        return body["data"]["result"], None

    def exported(self):
        names, _ = self.query('count by (__name__) ({__name__=~"ocserv_agent_.+|node_textfile_.+"})')
        return {r["metric"]["__name__"] for r in names or []}


def problems(prom, exported, where, expr, must_have_data):
    """What is wrong with one query, as strings (none: fine)."""
    out = []
    result, error = prom.query(expand(expr))
    if error is not None:
        return [f"{where}: {expr!r} does not evaluate: {error}"]
    for name in NAME.findall(expr):
        if name not in exported:
            out.append(f"{where}: {expr!r} names {name}, which is not exported")
    if must_have_data and not result and not out:
        out.append(f"{where}: {expr!r} finds no series")
    return out


def main():
    metrics_addr, textfile, work = sys.argv[1:4]
    check_rules()
    check_runbook_links()
    board = load_dashboard()

    scrape = http_get(f"http://{metrics_addr}/metrics")
    code, out = run(["promtool", "check", "metrics"], stdin=scrape)
    if code != 0 or out.strip():
        fail(f"promtool check metrics on a live scrape:\n{out}")

    procs = []
    try:
        node_port = free_port()
        procs.append(subprocess.Popen([
            "prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}",
            "--collector.disable-defaults", "--collector.textfile",
            f"--collector.textfile.directory={os.path.dirname(textfile)}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "node.log"), "w")))
        node = f"http://127.0.0.1:{node_port}/metrics"
        wait_until("node-exporter", lambda: http_get(node))
        text = http_get(node)
        if "node_textfile_scrape_error 0\n" not in text:
            fail(f"node-exporter's textfile collector refuses the textfile:\n{text}")
        if "ocserv_agent_info{" not in text:
            fail("node-exporter does not pass the agent's metrics on")

        prom_port = free_port()
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{os.path.join(DOCS, 'alerts.yml')}"]
scrape_configs:
  - job_name: ocserv-agent
    static_configs: [{{targets: ["{metrics_addr}"]}}]
  - job_name: node
    static_configs: [{{targets: ["127.0.0.1:{node_port}"]}}]
""")
        procs.append(subprocess.Popen([
            "prometheus", f"--config.file={config}",
            f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w")))
        prom = Prom(prom_port)

        def scraped():
            r, _ = prom.query('count_over_time(up{job="ocserv-agent"}[1m]) >= 5 '
                              'and on() count_over_time(up{job="node"}[1m]) >= 5')
            return bool(r)
        wait_until("Prometheus to scrape the daemon and node-exporter 5 times", scraped, 60)
        up, _ = prom.query("up == 0")
        if up:
            fail(f"a target is down: {up}")
        exported = prom.exported()

        # The control: the checks below must catch a name nobody exports, a query that does
        # not evaluate and one that finds nothing.
        for bad in ("ocserv_agent_not_exported_total", "sum(ocserv_agent_sessions",
                    'ocserv_agent_decisions_total{source="no-such-source"}'):
            if not problems(prom, exported, "control", bad, True):
                fail(f"the check lets {bad!r} through")

        rules = json.loads(http_get(f"{prom.base}/api/v1/rules"))["data"]["groups"]
        queries = dashboard_queries(board) + alert_queries(rules)
        for where, expr, must in queries:
            for p in problems(prom, exported, where, expr, must):
                fail(p)
        for g in rules:
            for r in g["rules"]:
                if r.get("health") not in ("ok", "unknown"):
                    fail(f"rule {r['name']} in Prometheus: {r.get('health')} {r.get('lastError')}")
        print(f"{len(queries)} queries evaluated; {len(exported)} metric names exported")

        # A broken textfile must break the collector, not pass silently.
        broken = os.path.join(os.path.dirname(textfile), "broken.prom")
        with open(textfile) as f:
            good = f.read()
        with open(broken, "w") as f:
            f.write(good.replace("# TYPE ocserv_agent_sessions gauge",
                                 "# TYPE ocserv_agent_sessions counter", 1) + "ocserv_agent_x{\n")
        text = http_get(node)
        os.remove(broken)
        if "node_textfile_scrape_error 1\n" not in text:
            fail("node-exporter accepted a broken textfile: the textfile check proves nothing")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    if failures:
        raise SystemExit(f"{len(failures)} monitoring check(s) failed")
    print("monitoring: all checks passed")


if __name__ == "__main__":
    main()
