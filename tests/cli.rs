//! The command line, run as a real process: check-config, version, hook, usage errors.

mod common;

use common::{bin, hook, run, TempDir};

const DEFAULT_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/rootfs/etc/config/ocserv-agent"
);
const DEV_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dev/ocserv-agent");

#[test]
fn shipped_default_config_passes_check_config() {
    let (st, out, err) = run(&["check-config", "-c", DEFAULT_CONFIG]);
    assert!(st.success(), "{err}");
    assert!(err.is_empty(), "{err}");
    for line in [
        "ocserv-agent.main=agent\n",
        "ocserv-agent.main.socket='/var/run/ocserv-agent.sock'\n",
        "ocserv-agent.main.allowed_uid='0'\n",
        "ocserv-agent.local=policy\n",
        "ocserv-agent.local.default='allow'\n",
        "ocserv-agent.portal.enabled='0'\n",
        "ocserv-agent.resilience.fail_mode='stale'\n",
        "ocserv-agent.metrics.listen='127.0.0.1:9101'\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn dev_config_is_the_default_with_local_paths() {
    use ocserv_agent::config::load;
    let default = load(DEFAULT_CONFIG.as_ref()).unwrap();
    let mut dev = load(DEV_CONFIG.as_ref()).unwrap();
    assert!(dev.agent.socket.is_relative());
    assert!(dev.ocserv.config.is_relative());
    assert!(dev.ocserv.per_user_dir.is_relative());
    dev.agent.socket = default.agent.socket.clone();
    dev.agent.log_level = default.agent.log_level;
    dev.ocserv = default.ocserv.clone();
    assert_eq!(
        dev, default,
        "tests/dev/ocserv-agent drifted from the shipped default"
    );
}

#[test]
fn check_config_fills_in_defaults() {
    let dir = TempDir::new("defaults");
    let config = dir.write("c", "");
    let (st, out, _) = run(&["check-config", "-c", config.to_str().unwrap()]);
    assert!(st.success());
    assert!(
        out.contains("ocserv-agent.main.hook_timeout='5s'\n"),
        "{out}"
    );
    assert!(
        out.contains("ocserv-agent.main.hook_fallback='deny'\n"),
        "{out}"
    );
    assert!(
        out.contains("ocserv-agent.resilience.cache_ttl='5m'\n"),
        "{out}"
    );
}

#[test]
fn check_config_prints_every_problem_as_path_line_message() {
    let dir = TempDir::new("problems");
    let config = dir.write(
        "c",
        "config agent 'main'\n\toption log_level loud\n\toption socket_mode 0666\n\tbogus words\nconfig agnet\n\toption hook_timeout 5x\n",
    );
    let path = config.to_str().unwrap();
    let (st, out, err) = run(&["check-config", "-c", path]);
    assert_eq!(st.code(), Some(1));
    assert!(out.is_empty(), "{out}");
    // Reading stops at the first syntax error (line 4), as libuci's does; the typed problems
    // of what was read come with it.
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!("{path}:2: option 'log_level'")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{path}:3: option 'socket_mode'")),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{path}:4: invalid command \"bogus\"")),
        "{err}"
    );
}

#[test]
fn check_config_on_a_missing_file_names_it() {
    let (st, _, err) = run(&["check-config", "-c", "/nonexistent/ocserv-agent"]);
    assert_eq!(st.code(), Some(1));
    assert!(
        err.starts_with("/nonexistent/ocserv-agent: cannot read"),
        "{err}"
    );
}

#[test]
fn version_names_target_and_features() {
    let (st, out, _) = run(&["version"]);
    assert!(st.success());
    assert!(
        out.starts_with(&format!("ocserv-agent {}\n", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("\ntarget: "), "{out}");
    // The binary under test is built for the same target as this test: under qemu this proves
    // the emulated router binary ran, not a host one.
    let endian = if cfg!(target_endian = "big") {
        "big"
    } else {
        "little"
    };
    assert!(
        out.contains(&format!("\narch: {}-bit, {endian}-endian\n", usize::BITS)),
        "{out}"
    );
    assert!(out.contains("\nfeatures: "), "{out}");
}

#[test]
fn usage_errors_exit_non_zero() {
    assert!(!run(&["frobnicate"]).0.success());
    assert!(!run(&[]).0.success());
    assert!(!run(&["run", "--no-such-flag"]).0.success());
}

/// The hook as ocserv runs it: a clean environment plus ocserv's variables.
const CONNECT: &[(&str, &str)] = &[
    ("REASON", "connect"),
    ("ID", "4242"),
    ("USERNAME", "alice"),
    ("IP_REAL", "192.0.2.10"),
];

#[test]
fn without_a_daemon_the_hook_applies_its_fallback_and_says_so() {
    let dir = TempDir::new("hook");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let (code, err) = hook(&bin(), &["hook", "-c", config.to_str().unwrap()], CONNECT);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("connect of user 'alice' (session 4242) denied by agent.hook_fallback: no answer from the daemon"),
        "{err}"
    );
    let config = dir.write(
        "open",
        &common::config_text(&dir, "\toption hook_fallback allow\n"),
    );
    let (code, err) = hook(&bin(), &["hook", "-c", config.to_str().unwrap()], CONNECT);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("allowed by agent.hook_fallback"), "{err}");
}

#[test]
fn hook_denies_when_ocserv_variables_are_missing() {
    let dir = TempDir::new("hook-missing");
    let config = dir.write("c", "");
    let c = config.to_str().unwrap();
    let (code, err) = hook(
        &bin(),
        &["hook", "-c", c],
        &[("REASON", "connect"), ("ID", "1")],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("USERNAME: not set"), "{err}");
    let (code, err) = hook(
        &bin(),
        &["hook", "-c", c],
        &[("USERNAME", "bob"), ("ID", "1")],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("REASON: not set"), "{err}");
}

#[test]
fn hook_denies_when_its_config_is_unreadable() {
    let (code, err) = hook(&bin(), &["hook", "-c", "/nonexistent/c"], CONNECT);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/c: cannot read"), "{err}");
}

#[test]
fn hook_acknowledges_disconnects() {
    let dir = TempDir::new("hook-disc");
    let config = dir.write("c", "");
    let vars = [
        ("REASON", "disconnect"),
        ("ID", "4242"),
        ("USERNAME", "alice"),
        ("STATS_BYTES_IN", "216"),
        ("STATS_BYTES_OUT", "520"),
        ("STATS_DURATION", "3"),
    ];
    let (code, err) = hook(&bin(), &["hook", "-c", config.to_str().unwrap()], &vars);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn invoked_as_ocserv_agent_hook_it_is_the_hook() {
    let dir = TempDir::new("argv0");
    let link = dir.path("ocserv-agent-hook");
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let config = dir.write("c", "");
    let (code, err) = hook(&link, &["-c", config.to_str().unwrap()], CONNECT);
    assert_eq!(code, Some(1));
    assert!(err.contains("connect of user 'alice'"), "{err}");
    // A usage error in hook mode still denies.
    let (code, _) = hook(&link, &["--bogus"], CONNECT);
    assert_eq!(code, Some(1));
}

#[test]
fn status_without_a_daemon_exits_3() {
    let dir = TempDir::new("status-down");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let (st, _, err) = run(&["status", "-c", config.to_str().unwrap()]);
    assert_eq!(st.code(), Some(3), "{err}");
    assert!(err.contains("not running"), "{err}");
}

/// What libuci reads in a way an operator may not mean is read the same way, and warned
/// about with its line: text after a `;` glued to a word (dropped by libuci), and a `package`
/// line naming another package (ignored by libuci).
#[test]
fn check_config_warns_where_libuci_drops_or_ignores_text() {
    let dir = TempDir::new("warnings");
    let config = dir.write(
        "c",
        "package other\nconfig rule\n\toption action deny;list user mallory\n",
    );
    let path = config.to_str().unwrap();
    let (st, out, err) = run(&["check-config", "-c", path]);
    assert_eq!(st.code(), Some(0), "{err}");
    // As libuci reads it: a deny rule for everyone, no user list.
    assert!(
        out.contains("ocserv-agent.@rule[0].action='deny'\n"),
        "{out}"
    );
    assert!(!out.contains("mallory"), "{out}");
    assert!(
        err.contains(&format!(
            "{path}:3: warning: the text after a ';' glued to a word is ignored"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{path}:1: warning: this file declares package 'other'"
        )),
        "{err}"
    );
}
