//! Reporting: session events delivered to the portal's EventService through the outbox (in
//! order, once each, across portal outages and daemon restarts), and the metrics over HTTP and
//! as a textfile. The real daemon and hook, the grpcio fake portal.

mod common;

use common::grpc::{agent_call, certs, grpc_address, grpc_section, portal_config, Portal};
use common::ocserv::{connect, disconnect, run_hook};
use common::{Daemon, TempDir};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The reports the fake portal recorded, one JSON object per line.
fn reports(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits up to `secs` for `n` reports.
fn wait_reports(path: &Path, n: usize, secs: u64) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = reports(path);
        if r.len() >= n || Instant::now() > until {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `option NAME VALUE` lines added to the `config SECTION` of a config file.
fn add_options(config: &Path, section: &str, options: &str) {
    let header = format!("config {section} '{section}'\n");
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(&header), "no {section} section in {text}");
    std::fs::write(config, text.replace(&header, &format!("{header}{options}"))).unwrap();
}

/// `GET path` on the daemon's metrics port (read from its start-up log line).
fn http_get(d: &Daemon, path: &str) -> String {
    d.wait_stderr("metrics: serving /metrics on http://");
    let log = d.stderr();
    let addr = log
        .split("metrics: serving /metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn field(json: &str, name: &str) -> String {
    let at = json.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
    json[at..]
        .split([',', '}'])
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

#[test]
fn connects_and_disconnects_reach_the_portal_once_each_and_show_in_metrics() {
    let dir = TempDir::new("reporting-once");
    let pki = certs(&dir);
    let events = dir.path("events.jsonl");
    let portal = Portal::start_with(&pki, 0, Some(&events));
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let textfile = dir.path("agent.prom");
    add_options(
        &config,
        "metrics",
        &format!(
            "\toption textfile '{}'\n\toption textfile_interval 1s\n",
            textfile.display()
        ),
    );
    let d = Daemon::start(&config);

    assert_eq!(
        run_hook(&config, &connect(41, "alice", "192.0.2.10")).0,
        Some(0)
    );
    // Denied: nothing to report.
    assert_eq!(
        run_hook(&config, &connect(42, "bob", "192.0.2.20")).0,
        Some(1)
    );
    assert_eq!(run_hook(&config, &disconnect(41, "alice")).0, Some(0));
    // ocserv's quirk (or a replay): the same disconnect again is not reported twice.
    assert_eq!(run_hook(&config, &disconnect(41, "alice")).0, Some(0));
    // A user the portal refuses to record: settled, not retried forever.
    assert_eq!(run_hook(&config, &disconnect(43, "refused")).0, Some(0));

    let got = wait_reports(&events, 3, 10);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].contains("\"kind\": \"connect\"") && got[0].contains("\"session_id\": \"41\""),
        "{got:?}"
    );
    assert!(
        got[0].contains("\"client_ip\": \"192.0.2.10\"")
            && got[0].contains("\"vpn_ip\": \"10.10.0.2\""),
        "{got:?}"
    );
    assert!(
        got[1].contains("\"kind\": \"disconnect\"") && got[1].contains("\"session_id\": \"41\""),
        "{got:?}"
    );
    assert!(
        got[1].contains("\"bytes_received\": 1000")
            && got[1].contains("\"bytes_sent\": 2000")
            && got[1].contains("\"duration_seconds\": 30"),
        "{got:?}"
    );
    assert!(got[2].contains("\"username\": \"refused\""), "{got:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reports(&events).len(), 3, "nothing more, nothing twice");

    let json = d.status_json();
    assert_eq!(field(&json, "outbox_depth"), "0", "{json}");
    assert!(
        json.contains("delivered=2 refused=1 dropped=0 duplicates=1"),
        "{json}"
    );

    let (st, text, _) = common::run(&["status", "-c", config.to_str().unwrap()]);
    assert!(st.success());
    assert!(
        text.contains("outbox:     0 event(s) waiting; delivered=2 refused=1"),
        "{text}"
    );
    assert!(text.contains("cache:      hits=0 misses=2"), "{text}");

    let scrape = http_get(&d, "/metrics");
    assert!(scrape.starts_with("HTTP/1.1 200 OK\r\n"), "{scrape}");
    for line in [
        "ocserv_agent_outbox_events_total{result=\"delivered\"} 2",
        "ocserv_agent_outbox_events_total{result=\"duplicate\"} 1",
        "ocserv_agent_connects_total{result=\"allowed\"} 1",
        "ocserv_agent_connects_total{result=\"denied\"} 1",
        "ocserv_agent_decisions_total{source=\"portal\"} 2",
        "ocserv_agent_portal_breaker_state{state=\"closed\"} 1",
        "ocserv_agent_outbox_depth 0",
    ] {
        assert!(
            scrape.contains(&format!("{line}\n")),
            "{line} missing:\n{scrape}"
        );
    }
    assert!(http_get(&d, "/").starts_with("HTTP/1.1 404"));

    // The textfile is rewritten every second with the same numbers.
    common::wait_for("the textfile to show the deliveries", || {
        std::fs::read_to_string(&textfile)
            .is_ok_and(|t| t.contains("ocserv_agent_outbox_events_total{result=\"delivered\"} 2\n"))
    });
}

#[test]
fn events_wait_out_a_portal_outage_and_a_daemon_restart() {
    let dir = TempDir::new("reporting-outage");
    let pki = certs(&dir);
    let events = dir.path("events.jsonl");
    // The portal's port, free for now: the portal comes up later.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = portal_config(&dir, &pki, port, "open");
    add_options(&config, "outbox", "\toption retry_max 1s\n");
    let mut d = Daemon::start(&config);
    // fail_mode open lets carol in while the portal is down; both events wait.
    assert_eq!(
        run_hook(&config, &connect(7, "carol", "192.0.2.30")).0,
        Some(0)
    );
    assert_eq!(run_hook(&config, &disconnect(7, "carol")).0, Some(0));
    common::wait_for("a failed delivery", || {
        let json = d.status_json();
        field(&json, "outbox_depth") == "2" && !json.contains("retries=0")
    });
    d.wait_stderr("outbox: cannot report the connect of session 7");

    // A restart: the journal brings both back.
    d.signal(15);
    assert!(d.wait_exit().success());
    let journal = dir.path("outbox").join("events.journal");
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        2
    );
    let d = Daemon::start(&config);
    d.wait_stderr("outbox: 2 undelivered event(s)");
    assert_eq!(field(&d.status_json(), "outbox_depth"), "2");

    // The portal comes back on its port: delivered in order, once.
    let _portal = Portal::start_with(&pki, port, Some(&events));
    let got = wait_reports(&events, 2, 40);
    assert_eq!(got.len(), 2, "{got:?}\n{}", d.stderr());
    assert!(got[0].contains("\"kind\": \"connect\""), "{got:?}");
    assert!(got[1].contains("\"kind\": \"disconnect\""), "{got:?}");
    common::wait_for("an empty outbox", || {
        field(&d.status_json(), "outbox_depth") == "0"
    });
    d.wait_stderr("outbox: the portal takes events again");
    // Settled events are gone from the journal (acknowledged, then compacted on the next start).
    let d2 = {
        drop(d);
        Daemon::start(&config)
    };
    assert_eq!(field(&d2.status_json(), "outbox_depth"), "0");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(reports(&events).len(), 2, "nothing resent after a restart");
}

#[test]
fn a_metrics_port_in_use_is_logged_and_authorization_goes_on() {
    let dir = TempDir::new("reporting-busy");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let config = dir.write(
        "c",
        &common::config_text(&dir, "").replace("127.0.0.1:0", &addr.to_string()),
    );
    let d = Daemon::start(&config);
    d.wait_stderr(&format!("metrics: cannot listen on {addr}"));
    assert_eq!(
        run_hook(&config, &connect(1, "alice", "192.0.2.1")).0,
        Some(0)
    );
}

#[test]
fn notify_over_grpc_takes_the_hooks_path_and_is_reported_once() {
    let dir = TempDir::new("reporting-notify");
    let pki = certs(&dir);
    let events = dir.path("events.jsonl");
    let portal = Portal::start_with(&pki, 0, Some(&events));
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let grpc = |allowed: &str| grpc_section(&pki, &[allowed]);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.clone() + &grpc("portal.example")).unwrap();
    let d = Daemon::start(&config);
    let addr = grpc_address(&d);

    // ocserv's hook and the portal's NotifyConnect tell of the same session: decided both
    // times, reported once.
    assert_eq!(
        run_hook(&config, &connect(41, "alice", "192.0.2.10")).0,
        Some(0)
    );
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["notify-connect", "alice", "41", "192.0.2.10", "10.10.0.2"],
        None,
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("allowed=True source=portal"), "{out}");
    let (_, out) = agent_call(
        &addr,
        &pki,
        &["notify-connect", "bob", "42", "192.0.2.20", ""],
        None,
    );
    assert!(
        out.contains("allowed=False") && out.contains("not today"),
        "{out}"
    );
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["notify-disconnect", "alice", "41", "500", "600", "7"],
        None,
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("acknowledged=True message='session ended'"),
        "{out}"
    );
    // ocserv's disconnect-script for the same session: not reported again.
    assert_eq!(run_hook(&config, &disconnect(41, "alice")).0, Some(0));
    let got = wait_reports(&events, 2, 10);
    std::thread::sleep(Duration::from_millis(300));
    let got2 = reports(&events);
    assert_eq!(got2.len(), 2, "{got:?}");
    assert!(
        got2[0].contains("\"kind\": \"connect\"") && got2[0].contains("\"session_id\": \"41\"")
    );
    assert!(
        got2[1].contains("\"bytes_received\": 500") && got2[1].contains("\"duration_seconds\": 7"),
        "{got2:?}"
    );
    assert!(d.status_json().contains("duplicates=2"));

    // What the hook would refuse is INVALID_ARGUMENT.
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["notify-connect", "alice", "x1", "192.0.2.10", ""],
        None,
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("error INVALID_ARGUMENT: ID: 'x1' is not a session id"),
        "{out}"
    );

    // A client not on grpc.allowed_client may not change the session table.
    drop(d);
    std::fs::write(&config, text + &grpc("someone.else.example")).unwrap();
    let d = Daemon::start(&config);
    let addr = grpc_address(&d);
    let (code, out) = agent_call(
        &addr,
        &pki,
        &["notify-connect", "alice", "43", "192.0.2.10", ""],
        None,
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("error PERMISSION_DENIED"), "{out}");
    let (code, out) = agent_call(&addr, &pki, &["disconnect", "alice", "all"], None);
    assert!(
        code != Some(0) && out.contains("PERMISSION_DENIED"),
        "{out}"
    );
}

/// ocserv gives a pid (the session ID) to another user after a missed disconnect: that user's
/// connect is reported, not dropped as a repeat; a true repeat still is.
#[test]
fn a_recycled_session_id_of_another_user_is_reported() {
    let dir = TempDir::new("reporting-recycled");
    let pki = certs(&dir);
    let events = dir.path("events.jsonl");
    let portal = Portal::start_with(&pki, 0, Some(&events));
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let d = Daemon::start(&config);
    assert_eq!(
        run_hook(&config, &connect(7, "alice", "192.0.2.1")).0,
        Some(0)
    );
    // alice's disconnect never came; pid 7 now serves other's session.
    assert_eq!(
        run_hook(&config, &connect(7, "other", "192.0.2.2")).0,
        Some(0)
    );
    let r = wait_reports(&events, 2, 15);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].contains("\"alice\"") && r[1].contains("\"other\""),
        "{r:?}"
    );
    // The same connect told twice (the hook, then NotifyConnect) is one report.
    assert_eq!(
        run_hook(&config, &connect(7, "other", "192.0.2.2")).0,
        Some(0)
    );
    assert_eq!(run_hook(&config, &disconnect(7, "other")).0, Some(0));
    let r = wait_reports(&events, 3, 15);
    std::thread::sleep(Duration::from_millis(300));
    let r2 = reports(&events);
    assert_eq!(r2.len(), 3, "{r:?} / {r2:?}");
    assert!(
        d.status_json().contains("duplicates=1"),
        "{}",
        d.status_json()
    );
}
