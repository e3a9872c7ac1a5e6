//! The daemon's numbers in Prometheus text format (exposition format 0.0.4), served over HTTP
//! (http.rs) and/or written to a file for node-exporter's textfile collector (textfile.rs);
//! latency histograms (histogram.rs, latency.rs). Counters are the daemon's wrapping u32s:
//! Prometheus treats a wrap like a restart.

pub mod histogram;
pub mod http;
pub mod latency;
pub mod textfile;

use crate::authz::engine::Counters;
use crate::events::outbox;
use crate::resilience::{breaker, cache};
use std::fmt::Write;

/// Everything the metrics show, taken at one moment.
pub struct Snapshot {
    pub version: &'static str,
    pub agent_id: String,
    pub uptime_secs: u64,
    pub reloads: u32,
    pub reload_failures: u32,
    /// Log lines dropped because the log reader fell behind.
    pub log_dropped: u32,
    pub decisions: Counters,
    pub sessions: u32,
    /// Present when the portal is enabled.
    pub portal: Option<(breaker::Stats, cache::Stats)>,
    /// Present when events are reported.
    pub outbox: Option<outbox::Stats>,
    /// Hook decisions and portal calls, timed.
    pub latencies: latency::Latencies,
}

/// Builds the text one metric family at a time.
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP ocserv_agent_{name} {help}");
        let _ = writeln!(self.0, "# TYPE ocserv_agent_{name} {kind}");
    }

    fn value(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.0, "ocserv_agent_{name}");
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.value(name, &[], value);
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text for `s`.
pub fn render(s: &Snapshot) -> String {
    let mut t = Text(String::with_capacity(4096));
    t.family("info", "gauge", "Version and agent id; always 1.");
    t.value(
        "info",
        &[("version", s.version), ("agent_id", &s.agent_id)],
        1,
    );
    t.single(
        "uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        s.uptime_secs,
    );
    t.family(
        "config_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP), applied or refused.",
    );
    t.value("config_reloads_total", &[("result", "applied")], s.reloads);
    t.value(
        "config_reloads_total",
        &[("result", "refused")],
        s.reload_failures,
    );

    t.single(
        "log_lines_dropped_total",
        "counter",
        "Log lines dropped because stderr or syslog did not keep up.",
        s.log_dropped,
    );

    let d = &s.decisions;
    t.family(
        "decisions_total",
        "counter",
        "Connect decisions by result and by where they came from.",
    );
    for (source, n) in [
        ("local", d.local),
        ("portal", d.portal),
        ("cache", d.cache),
        ("stale", d.stale),
        ("fail-open", d.fail_open),
        ("fail-close", d.fail_close),
        ("portal-refused", d.refused),
        ("budget", d.budget),
    ] {
        t.value("decisions_total", &[("source", source)], n);
    }
    t.family("connects_total", "counter", "Connect decisions by result.");
    t.value("connects_total", &[("result", "allowed")], d.allowed);
    t.value("connects_total", &[("result", "denied")], d.denied);
    t.single(
        "disconnects_total",
        "counter",
        "Disconnect events from ocserv.",
        d.disconnects,
    );
    t.single(
        "sessions",
        "gauge",
        "Sessions the agent admitted and has not seen end.",
        s.sessions,
    );

    if let Some((b, c)) = &s.portal {
        t.family(
            "portal_breaker_state",
            "gauge",
            "The portal circuit breaker: 1 for the current state.",
        );
        for state in [
            breaker::State::Closed,
            breaker::State::Open,
            breaker::State::HalfOpen,
        ] {
            t.value(
                "portal_breaker_state",
                &[("state", state.as_str())],
                u8::from(b.state == state),
            );
        }
        t.single(
            "portal_breaker_trips_total",
            "counter",
            "Times the breaker opened.",
            b.trips,
        );
        t.family(
            "portal_calls_total",
            "counter",
            "CheckPolicy calls by outcome; rejected ones were not made (breaker open).",
        );
        for (result, n) in [
            ("success", b.successes),
            ("failure", b.failures),
            ("ignored", b.ignored),
            ("rejected", b.rejections),
        ] {
            t.value("portal_calls_total", &[("result", result)], n);
        }
        t.single("cache_entries", "gauge", "Cached portal decisions.", c.size);
        t.single(
            "cache_capacity",
            "gauge",
            "Most cached decisions (resilience.cache_max_size).",
            c.capacity,
        );
        t.family("cache_lookups_total", "counter", "Decision cache lookups.");
        for (result, n) in [("hit", c.hits), ("miss", c.misses), ("stale", c.stale_hits)] {
            t.value("cache_lookups_total", &[("result", result)], n);
        }
        t.single(
            "cache_evictions_total",
            "counter",
            "Entries evicted to make room.",
            c.evictions,
        );
        t.single(
            "cache_expirations_total",
            "counter",
            "Entries dropped past their stale time (by a lookup or the sweep).",
            c.expirations,
        );
        t.single(
            "cache_invalidations_total",
            "counter",
            "Entries dropped by revocation: DisconnectUser, cache clear, portal orders.",
            c.invalidations,
        );
    }
    s.latencies.render(&mut t, s.portal.is_some());

    if let Some(o) = &s.outbox {
        t.single(
            "outbox_depth",
            "gauge",
            "Events waiting for the portal.",
            o.depth,
        );
        t.family(
            "outbox_events_total",
            "counter",
            "Events by fate: delivered, refused by the portal, dropped (outbox full), duplicate.",
        );
        for (result, n) in [
            ("delivered", o.delivered),
            ("refused", o.refused),
            ("dropped", o.dropped),
            ("duplicate", o.duplicates),
        ] {
            t.value("outbox_events_total", &[("result", result)], n);
        }
        t.single(
            "outbox_retries_total",
            "counter",
            "Failed deliveries that were retried.",
            o.retries,
        );
        t.single(
            "outbox_journal_errors_total",
            "counter",
            "Journal writes that failed (events kept in memory).",
            o.journal_errors,
        );
    }
    t.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            version: "0.1.0",
            agent_id: "gw\"1".into(),
            uptime_secs: 5,
            reloads: 1,
            reload_failures: 0,
            log_dropped: 4,
            decisions: Counters {
                allowed: 3,
                denied: 1,
                portal: 2,
                stale: 1,
                fail_close: 1,
                ..Counters::default()
            },
            sessions: 2,
            portal: None,
            outbox: Some(outbox::Stats {
                depth: 4,
                dropped: 1,
                ..outbox::Stats::default()
            }),
            latencies: latency::Latencies::default(),
        }
    }

    #[test]
    fn families_have_help_and_type_and_labels_are_escaped() {
        let text = render(&snapshot());
        assert!(text.contains("ocserv_agent_info{version=\"0.1.0\",agent_id=\"gw\\\"1\"} 1\n"));
        assert!(text.contains("ocserv_agent_decisions_total{source=\"stale\"} 1\n"));
        assert!(text.contains("ocserv_agent_log_lines_dropped_total 4\n"));
        assert!(text.contains("ocserv_agent_connects_total{result=\"denied\"} 1\n"));
        assert!(text.contains("ocserv_agent_outbox_depth 4\n"));
        assert!(text.contains("ocserv_agent_outbox_events_total{result=\"dropped\"} 1\n"));
        assert!(!text.contains("breaker"), "no portal, no breaker metrics");
        // Every sample's family is declared before it, once.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(!declared.contains(&name.to_string()), "{name} twice");
                declared.push(name.to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|f| declared.last().map(String::as_str) == Some(*f))
                    .unwrap_or(name);
                assert_eq!(declared.last().map(String::as_str), Some(family), "{line}");
            }
        }
    }
}
