//! The monitoring kit (docs/monitoring) against the real thing: a daemon that has decided a few
//! connects through the grpcio portal, scraped by Debian's Prometheus and read by its
//! node-exporter. tests/monitoring/check.py holds the checks (its docstring lists them).
//!
//! Ignored by plain `cargo test`: it needs `promtool`, `prometheus` and
//! `prometheus-node-exporter`. `tests/monitoring/run.sh` installs them (root) and runs it; CI
//! does that.

mod common;

use common::grpc::{certs, portal_config, Portal};
use common::ocserv::{connect, disconnect, run_hook};
use common::{Daemon, TempDir};
use std::path::Path;
use std::process::Command;

/// The daemon's metrics address, from its start-up log line.
fn metrics_address(d: &Daemon) -> String {
    const LINE: &str = "metrics: serving /metrics on http://";
    d.wait_stderr(LINE);
    let log = d.stderr();
    let rest = &log[log.find(LINE).unwrap() + LINE.len()..];
    rest.split(['/', ' ', '\n']).next().unwrap().to_string()
}

/// Adds `options` to the `config metrics 'metrics'` section.
fn with_metrics_options(config: &Path, options: &str) {
    let header = "config metrics 'metrics'\n";
    let text = std::fs::read_to_string(config).unwrap();
    assert!(text.contains(header), "{text}");
    std::fs::write(config, text.replace(header, &format!("{header}{options}"))).unwrap();
}

#[test]
#[ignore = "needs Debian's prometheus and prometheus-node-exporter: tests/monitoring/run.sh"]
fn alerts_dashboard_and_textfile_hold_against_a_live_prometheus() {
    let dir = TempDir::new("monitoring");
    let pki = certs(&dir);
    let portal = Portal::start_with(&pki, 0, Some(&dir.path("events.jsonl")));
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let textfiles = dir.path("textfile");
    std::fs::create_dir_all(&textfiles).unwrap();
    let textfile = textfiles.join("ocserv-agent.prom");
    with_metrics_options(
        &config,
        &format!(
            "\toption textfile '{}'\n\toption textfile_interval 1s\n",
            textfile.display()
        ),
    );
    let d = Daemon::start(&config);

    // Some of everything the panels show: a portal allow and deny, a cached answer, a
    // disconnect, reports delivered.
    for (id, user, code) in [(1, "alice", 0), (2, "bob", 1), (3, "alice", 0)] {
        let (got, err) = run_hook(&config, &connect(id, user, "192.0.2.10"));
        assert_eq!(got, Some(code), "{user}: {err}\n{}", d.stderr());
    }
    let (got, err) = run_hook(&config, &disconnect(1, "alice"));
    assert_eq!(got, Some(0), "{err}");
    common::wait_for("the textfile", || textfile.exists());

    let work = dir.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let st = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/monitoring/check.py"
        ))
        .arg(metrics_address(&d))
        .arg(&textfile)
        .arg(&work)
        .status()
        .unwrap();
    assert!(st.success(), "tests/monitoring/check.py failed (above)");
}
