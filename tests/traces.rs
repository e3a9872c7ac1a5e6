//! W3C trace context: one connect followed from the hook to the portal. The grpcio portal
//! records every call's `traceparent`; the daemon's log must name the same trace id.

mod common;

use common::grpc::{agent_call, certs, grpc_address, grpc_section, portal_config, Portal};
use common::ocserv::{connect, control_socket, disconnect, listed, run_hook, validating};
use common::{Daemon, TempDir};
use ocserv_agent::proto::ocserv::ctl::UserListRep;
use std::path::Path;
use std::time::{Duration, Instant};

/// The (method, traceparent) pairs the portal recorded, in order.
fn calls(traces: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(traces)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(m, t)| (m.rsplit('/').next().unwrap().to_string(), t.to_string()))
        .collect()
}

/// Waits up to 20 s for a call to `method` of which `pick` approves; its traceparent.
fn wait_call(traces: &Path, method: &str, pick: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = calls(traces);
        if let Some((_, t)) = seen.iter().find(|(m, t)| m == method && pick(t)) {
            return t.clone();
        }
        assert!(Instant::now() < until, "no {method} call: {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `00-<trace>-<span>-01` split into trace and span, checked as the specification asks.
fn parts(traceparent: &str) -> (String, String) {
    let f: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(f.len(), 4, "{traceparent}");
    assert_eq!((f[0], f[3]), ("00", "01"), "{traceparent}");
    let hex = |s: &str, n| {
        s.len() == n
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && s.bytes().any(|b| b != b'0')
    };
    assert!(hex(f[1], 32) && hex(f[2], 16), "{traceparent}");
    (f[1].to_string(), f[2].to_string())
}

#[test]
fn a_connects_trace_runs_through_check_policy_its_reports_validation_and_the_log() {
    let dir = TempDir::new("traces");
    let pki = certs(&dir);
    let (events, traces) = (dir.path("events.jsonl"), dir.path("traces"));
    let portal = Portal::start_traced(&pki, &events, &traces);
    control_socket(
        &dir.path("ctl.socket"),
        UserListRep {
            user: vec![listed(21, "alice", "192.0.2.10", 4)],
        },
    );
    let config = portal_config(&dir, &pki, portal.port, "stale");
    validating(&config, &dir.path("ctl.socket"));
    let d = Daemon::start(&config);

    // Before alice's connect the sweep already asks about her session: a trace of its own.
    let early = wait_call(&traces, "ValidateSession", |_| true);
    assert_eq!(
        run_hook(&config, &connect(21, "alice", "192.0.2.10")).0,
        Some(0)
    );
    let check = wait_call(&traces, "CheckPolicy", |_| true);
    let (trace, check_span) = parts(&check);
    assert_ne!(
        parts(&early).0,
        trace,
        "an unknown session's sweep starts its own trace"
    );

    let report = wait_call(&traces, "ReportConnect", |_| true);
    let validate = wait_call(&traces, "ValidateSession", |t| t.contains(&trace));
    assert_eq!(run_hook(&config, &disconnect(21, "alice")).0, Some(0));
    let ended = wait_call(&traces, "ReportDisconnect", |_| true);
    let mut spans = vec![check_span];
    for t in [&report, &validate, &ended] {
        let (same, span) = parts(t);
        assert_eq!(same, trace, "{t} continues {check}");
        spans.push(span);
    }
    spans.sort();
    spans.dedup();
    assert_eq!(spans.len(), 4, "every call is a span of its own: {spans:?}");

    let log = d.stderr();
    assert!(
        log.contains(&format!(
            "connect of 'alice' (session 21) from 192.0.2.10: allowed (portal): allowed by the portal trace={trace}"
        )),
        "{log}"
    );

    // Another connect, another trace; a denied one's id is in the hook's line (ocserv logs
    // it) as in the daemon's.
    let (code, err) = run_hook(&config, &connect(22, "bob", "192.0.2.11"));
    assert_eq!(code, Some(1), "{err}");
    let other = wait_call(&traces, "CheckPolicy", |t| !t.contains(&trace));
    let (other, _) = parts(&other);
    assert_ne!(other, trace);
    assert!(
        err.contains(&format!("denied by the portal: not today trace={other}")),
        "{err}"
    );
    d.wait_stderr(&format!(
        "connect of 'bob' (session 22) from 192.0.2.11: denied (portal): denied by the portal: not today trace={other}"
    ));
}

#[test]
fn a_notify_connect_continues_the_callers_trace() {
    let dir = TempDir::new("traces-notify");
    let pki = certs(&dir);
    let (events, traces) = (dir.path("events.jsonl"), dir.path("traces"));
    let portal = Portal::start_traced(&pki, &events, &traces);
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let text = std::fs::read_to_string(&config).unwrap()
        + &grpc_section(&pki, &[])
        + &format!(
            "config ocserv 'ocserv'\n\toption per_user_dir '{}'\n\toption backup_dir '{}'\n",
            dir.path("users").display(),
            dir.path("backup").display()
        );
    std::fs::create_dir_all(dir.path("users")).unwrap();
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);
    let addr = grpc_address(&d);

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["notify-connect", "alice", "31", "192.0.2.10", "10.10.0.2"],
        Some(CALLER),
    );
    assert_eq!(code, Some(0), "{out}");
    let check = wait_call(&traces, "CheckPolicy", |_| true);
    let (same, span) = parts(&check);
    assert_eq!(same, trace, "CheckPolicy continues the caller's trace");
    assert_ne!(span, "00f067aa0ba902b7", "in a span of its own");
    let report = wait_call(&traces, "ReportConnect", |_| true);
    assert_eq!(parts(&report).0, trace);
    d.wait_stderr(&format!(
        "connect of 'alice' (session 31) from 192.0.2.10: allowed (portal): allowed by the portal trace={trace}"
    ));

    // A call that changes the router logs under the caller's trace.
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["routes", "alice", "keep", "10.1.0.0/16"],
        Some(CALLER),
    );
    assert_eq!(code, Some(0), "{out}");
    d.wait_stderr(&format!(
        "grpc: wrote {}",
        dir.path("users/alice").display()
    ));
    let log = d.stderr();
    let wrote = log.lines().find(|l| l.contains("grpc: wrote")).unwrap();
    assert!(wrote.ends_with(&format!(" trace={trace}")), "{wrote}");

    // A traceparent that does not parse is ignored: the decision starts its own trace.
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["notify-connect", "other", "32", "192.0.2.11", ""],
        Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
    );
    assert_eq!(code, Some(0), "{out}");
    let fresh = wait_call(&traces, "CheckPolicy", |t| !t.contains(trace));
    assert!(!fresh.to_lowercase().contains(trace), "{fresh}");
    parts(&fresh);
}
