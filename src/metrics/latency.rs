//! How long things took, as histograms: each hook decision from its request read to its reply
//! written (by the decision's source), and each call to the portal (by method and gRPC status).
//! The daemon owns one [`Latencies`] and feeds it; [`super::render`] writes it out.

use super::histogram::Histogram;
use super::Text;
use crate::decision::Source;
use crate::grpc::Code;
use std::time::Duration;

/// Most (method, status) series kept for portal calls: the agent calls four methods, and a
/// status that has not happened yet has no series.
const MAX_PORTAL_SERIES: usize = 64;

/// The latency histograms of one daemon.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    decisions: [Histogram; Source::ALL.len()],
    /// (method, status, durations), in the order first seen.
    portal: Vec<(String, Code, Histogram)>,
}

impl Latencies {
    /// A hook's decision from `source` took `took` from its request read to its reply written.
    pub fn decision(&mut self, source: Source, took: Duration) {
        if let Some(i) = Source::ALL.iter().position(|s| *s == source) {
            self.decisions[i].observe(took);
        }
    }

    /// A call to the portal's `path` (`/package.Service/Method`) ended with `code` after `took`.
    pub fn portal_call(&mut self, path: &str, code: Code, took: Duration) {
        let method = path.rsplit('/').next().unwrap_or(path);
        if let Some((_, _, h)) = self
            .portal
            .iter_mut()
            .find(|(m, c, _)| m == method && *c == code)
        {
            h.observe(took);
        } else if self.portal.len() < MAX_PORTAL_SERIES {
            let mut h = Histogram::default();
            h.observe(took);
            self.portal.push((method.to_string(), code, h));
        }
    }

    /// Writes both families; every source has a decision series from the start (zeros), so a
    /// dashboard's query has something to read before the first connect.
    pub(super) fn render(&self, t: &mut Text, portal: bool) {
        t.family(
            "decision_duration_seconds",
            "histogram",
            "Hook decisions from the request read to the reply written, by source.",
        );
        for (source, h) in Source::ALL.iter().zip(&self.decisions) {
            histogram(
                t,
                "decision_duration_seconds",
                &[("source", source.as_str())],
                h,
            );
        }
        if !portal {
            return;
        }
        t.family(
            "portal_call_duration_seconds",
            "histogram",
            "Calls to the portal by method and gRPC status (OK or the error).",
        );
        for (method, code, h) in &self.portal {
            let labels = [("method", method.as_str()), ("result", code.as_str())];
            histogram(t, "portal_call_duration_seconds", &labels, h);
        }
    }
}

/// One histogram series: `_bucket` per bound, `_sum`, `_count`.
fn histogram(t: &mut Text, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let bucket = format!("{name}_bucket");
    for (le, n) in h.cumulative() {
        let mut with_le = labels.to_vec();
        with_le.push(("le", le));
        t.value(&bucket, &with_le, n);
    }
    t.value(&format!("{name}_sum"), labels, h.sum_seconds());
    t.value(&format!("{name}_count"), labels, h.count());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_per_source_and_per_method_and_status() {
        let mut l = Latencies::default();
        l.decision(Source::Cache, Duration::from_millis(3));
        l.portal_call(
            "/vpn.v1.AuthService/CheckPolicy",
            Code::Ok,
            Duration::from_millis(2),
        );
        l.portal_call(
            "/vpn.v1.AuthService/CheckPolicy",
            Code::Unavailable,
            Duration::from_secs(1),
        );
        l.portal_call(
            "/vpn.v1.AuthService/CheckPolicy",
            Code::Ok,
            Duration::from_millis(4),
        );
        let mut t = Text(String::new());
        l.render(&mut t, true);
        let text = t.0;
        assert!(text.contains(
            "ocserv_agent_decision_duration_seconds_bucket{source=\"cache\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains("ocserv_agent_decision_duration_seconds_count{source=\"local\"} 0\n"));
        assert!(text.contains(
            "ocserv_agent_portal_call_duration_seconds_count{method=\"CheckPolicy\",result=\"OK\"} 2\n"
        ));
        assert!(text.contains(
            "ocserv_agent_portal_call_duration_seconds_bucket{method=\"CheckPolicy\",result=\"UNAVAILABLE\",le=\"1\"} 1\n"
        ));
        assert!(text.contains(
            "ocserv_agent_portal_call_duration_seconds_sum{method=\"CheckPolicy\",result=\"OK\"} 0.006\n"
        ));
    }

    #[test]
    fn the_number_of_portal_series_is_bounded() {
        let mut l = Latencies::default();
        for i in 0..1000 {
            l.portal_call(&format!("/x/M{i}"), Code::Ok, Duration::ZERO);
        }
        assert_eq!(l.portal.len(), MAX_PORTAL_SERIES);
    }
}
