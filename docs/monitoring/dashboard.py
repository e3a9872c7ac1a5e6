#!/usr/bin/env python3
"""Writes ocserv-agent.json, the Grafana dashboard (schema 39, Grafana 10.4 and later):
python3 docs/monitoring/dashboard.py > docs/monitoring/ocserv-agent.json

Every query here is evaluated against a live Prometheus scraping a running daemon in CI
(tests/monitoring.rs); one that errors or names a metric the agent does not export fails it.
"""
import json

I = 'instance=~"$instance"'
FAILED = 'source=~"fail-open|fail-close|stale"'
HIT = 'result="hit"'
DS = {"type": "prometheus", "uid": "${datasource}"}


def sel(metric, extra=""):
    """`metric{instance=~"$instance",extra}`."""
    return f"{metric}{{{I}{',' + extra if extra else ''}}}"


def per_interval(metric, by=""):
    """How much a counter grew per interval, summed (by `by`)."""
    return f"sum{f' by ({by}) ' if by else ''}(increase({sel(metric)}[$__rate_interval]))"


def per_second(metric, by):
    """A counter's rate, summed by `by`."""
    return f"sum by ({by}) (rate({sel(metric)}[$__rate_interval]))"


def quantiles(bucket, by="", extra=""):
    """p50, p90 and p99 of a histogram, per `by` labels."""
    group = f"{by}, le" if by else "le"
    legend = f"p{{q}} {{{{{by}}}}}" if by else "p{q}"
    return [
        (f"histogram_quantile({q / 100}, sum by ({group}) "
         f"(rate({sel(bucket, extra)}[$__rate_interval])))", legend.format(q=q))
        for q in (50, 90, 99)
    ]


class Board:
    def __init__(self):
        self.panels, self.y, self.next_id = [], 0, 1

    def row(self, title):
        self.panels.append({"type": "row", "title": title, "collapsed": False, "id": self.id(),
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1
        self.x = 0

    def id(self):
        self.next_id += 1
        return self.next_id - 1

    def panel(self, kind, title, description, targets, unit="short", w=8, h=8, **extra):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + h
        p = {
            "type": kind, "title": title, "description": description, "id": self.id(),
            "datasource": DS, "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [{"datasource": DS, "expr": expr, "legendFormat": legend,
                         "refId": chr(ord("A") + i)} for i, (expr, legend) in enumerate(targets)],
        }
        p.update(extra)
        self.panels.append(p)
        self.x += w
        if self.x >= 24:
            self.x, self.y = 0, self.y + h


b = Board()
b.row("Overview")
b.panel("state-timeline", "Portal breaker state",
        "1 for the state the circuit breaker is in; open means the portal is not asked.",
        [(sel("ocserv_agent_portal_breaker_state") + " == 1", "{{instance}} {{state}}")])
b.panel("timeseries", "Decisions by source",
        "Connect decisions per interval by where they came from: local rules, the portal, the "
        "cache, a stale cache entry, the fail mode, a portal refusal or the time budget.",
        [(per_interval("ocserv_agent_decisions_total", "source"),
          "{{source}}")])
b.panel("stat", "Fail-mode share",
        "Share of decisions in the range that the portal did not make because it failed "
        "(fail-open, fail-close, stale). Any fail-open is a security event.",
        [(f"sum(increase({sel('ocserv_agent_decisions_total', FAILED)}[$__range]))"
          f" / clamp_min(sum(increase({sel('ocserv_agent_decisions_total')}[$__range])), 1)",
          "fail mode")], unit="percentunit", w=4)
b.panel("stat", "Cache hit ratio",
        "Fresh cache hits among cache lookups in the range.",
        [(f"sum(increase({sel('ocserv_agent_cache_lookups_total', HIT)}[$__range]))"
          f" / clamp_min(sum(increase({sel('ocserv_agent_cache_lookups_total')}[$__range])), 1)",
          "hits")], unit="percentunit", w=4)
b.panel("timeseries", "Sessions",
        "Sessions the agent admitted and has not seen end.",
        [(sel("ocserv_agent_sessions"), "{{instance}}")])
b.panel("timeseries", "Connects allowed and denied",
        "Connect decisions per interval by result.",
        [(per_interval("ocserv_agent_connects_total", "result"),
          "{{result}}")])
b.panel("table", "Agents",
        "Version and agent id of each daemon, with its uptime and refused reloads.",
        [(sel("ocserv_agent_info"), "{{instance}}"),
         (sel("ocserv_agent_uptime_seconds"), "uptime"),
         (sel("ocserv_agent_config_reloads_total", 'result="refused"'), "reloads refused")],
        w=8)

b.row("Portal")
b.panel("timeseries", "Policy calls by outcome",
        "CheckPolicy calls per second: success, failure, ignored (cancelled locally) and "
        "rejected (not made: breaker open).",
        [(per_second("ocserv_agent_portal_calls_total", "result"),
          "{{result}}")], unit="reqps")
b.panel("timeseries", "CheckPolicy latency",
        "Percentiles of CheckPolicy calls, connecting included.",
        quantiles("ocserv_agent_portal_call_duration_seconds_bucket", extra='method="CheckPolicy"'),
        unit="s")
b.panel("timeseries", "Portal calls by method and status",
        "Every call to the portal (CheckPolicy, ValidateSession, the event reports) per "
        "second, by gRPC status.",
        [(f"sum by (method, result) "
          f"(rate({sel('ocserv_agent_portal_call_duration_seconds_count')}[$__rate_interval]))",
          "{{method}} {{result}}")], unit="reqps")
b.panel("timeseries", "Breaker trips",
        "Times the circuit breaker opened, per interval.",
        [(per_interval("ocserv_agent_portal_breaker_trips_total"),
          "trips")])

b.row("Cache")
b.panel("timeseries", "Entries and capacity",
        "Cached portal decisions against resilience.cache_max_size.",
        [(sel("ocserv_agent_cache_entries"), "entries {{instance}}"),
         (sel("ocserv_agent_cache_capacity"), "capacity {{instance}}")])
b.panel("timeseries", "Lookups",
        "Cache lookups per second: fresh hits, misses, stale entries served while the portal "
        "failed.",
        [(per_second("ocserv_agent_cache_lookups_total", "result"),
          "{{result}}")], unit="ops")
b.panel("timeseries", "Entries dropped",
        "Per interval: evicted for room, expired past the stale window, invalidated by a "
        "revocation.",
        [(per_interval("ocserv_agent_cache_evictions_total"),
          "evicted"),
         (per_interval("ocserv_agent_cache_expirations_total"),
          "expired"),
         (per_interval("ocserv_agent_cache_invalidations_total"),
          "invalidated")])

b.row("Outbox")
b.panel("timeseries", "Reports waiting",
        "Connect and disconnect reports queued for the portal's EventService.",
        [(sel("ocserv_agent_outbox_depth"), "{{instance}}")])
b.panel("timeseries", "Reports by fate",
        "Per interval: delivered, refused by the portal, dropped (outbox full), duplicates.",
        [(per_interval("ocserv_agent_outbox_events_total", "result"),
          "{{result}}")])
b.panel("timeseries", "Retries and journal errors",
        "Failed deliveries retried, and journal writes that failed, per interval.",
        [(per_interval("ocserv_agent_outbox_retries_total"),
          "retries"),
         (per_interval("ocserv_agent_outbox_journal_errors_total"),
          "journal errors")])

b.row("Hooks")
b.panel("timeseries", "Decision latency",
        "Percentiles of hook decisions, from the request read to the reply written. Near "
        "agent.hook_timeout they turn into denials.",
        quantiles("ocserv_agent_decision_duration_seconds_bucket"), unit="s", w=12)
b.panel("timeseries", "Decision latency p99 by source",
        "The slowest 1% per decision source.",
        [(f"histogram_quantile(0.99, sum by (source, le) "
          f"(rate({sel('ocserv_agent_decision_duration_seconds_bucket')}[$__rate_interval])))",
          "{{source}}")], unit="s", w=12)

dashboard = {
    "title": "ocserv-agent",
    "uid": "ocserv-agent",
    "description": "The VPN authorization agent beside ocserv: decisions, portal, cache, outbox, hooks.",
    "tags": ["ocserv", "vpn"],
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "graphTooltip": 1,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "1m",
    "annotations": {"list": []},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0},
        {"name": "instance", "label": "Instance", "type": "query", "datasource": DS,
         "definition": "label_values(ocserv_agent_info, instance)",
         "query": {"query": "label_values(ocserv_agent_info, instance)", "refId": "instances"},
         "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {},
         "sort": 1, "hide": 0},
    ]},
    "panels": b.panels,
}
print(json.dumps(dashboard, indent=2))
