//! Tests for the typed configuration: defaults, validation messages with lines, round trips.

use crate::config::{parse, show, Config, Environment, FailMode, LogTarget, Verdict};
use std::time::Duration;

fn ok(text: &str) -> Config {
    match parse(text.as_bytes()) {
        Ok(c) => c,
        Err(p) => panic!("unexpected problems {p:?} for {text}"),
    }
}

/// The problems of `text` as (line, message).
fn problems(text: &str) -> Vec<(u32, String)> {
    match parse(text.as_bytes()) {
        Ok(_) => panic!("accepted: {text}"),
        Err(p) => p.into_iter().map(|p| (p.line, p.message)).collect(),
    }
}

fn one_problem(text: &str) -> (u32, String) {
    let p = problems(text);
    assert_eq!(p.len(), 1, "expected one problem, got {p:?}");
    p.into_iter().next().unwrap()
}

#[test]
fn empty_file_gives_defaults() {
    let c = ok("");
    assert_eq!(c.agent.log_level, log::LevelFilter::Info);
    assert_eq!(c.agent.log_target, LogTarget::Stderr);
    assert_eq!(c.agent.socket.to_str(), Some("/var/run/ocserv-agent.sock"));
    assert_eq!(c.agent.socket_mode, 0o600);
    assert_eq!(c.agent.allowed_uid, [0]);
    assert_eq!(c.agent.hook_timeout, Duration::from_secs(5));
    assert_eq!(c.agent.hook_fallback, Verdict::Deny);
    assert!(!c.agent.id.is_empty());
    assert!(!c.portal.enabled);
    assert_eq!(c.portal.timeout, Duration::from_secs(2));
    let r = &c.resilience;
    assert_eq!(r.fail_mode, FailMode::Stale);
    assert_eq!(r.environment, Environment::Production);
    assert_eq!(r.breaker_failure_threshold, 5);
    assert_eq!(r.breaker_interval, Duration::from_secs(60));
    assert_eq!(r.breaker_timeout, Duration::from_secs(30));
    assert_eq!(r.breaker_max_requests, 1);
    assert_eq!(r.cache_ttl, Duration::from_secs(300));
    assert_eq!(r.cache_deny_ttl, Duration::from_secs(30));
    assert_eq!(r.cache_stale_ttl, Duration::from_secs(1800));
    assert_eq!(r.cache_max_size, 4096);
    assert_eq!(c.policy.default, Verdict::Allow);
    assert!(c.policy.rules.is_empty());
    assert_eq!(c.ocserv.config.to_str(), Some("/var/etc/ocserv.conf"));
    assert_eq!(c.ocserv.ctl_socket, None);
    assert!(!c.grpc.enabled);
    assert!(!c.control.enabled);
    assert_eq!(c.control.heartbeat_interval, Duration::from_secs(30));
    assert!(c.metrics.enabled);
    assert!(c.metrics.listen.ip().is_loopback());
}

#[test]
fn values_are_read() {
    let c = ok("config agent 'main'
	option id 'gw-7'
	option log_level debug
	option log_target syslog
	option socket '/tmp/a.sock'
	option socket_mode 0660
	list allowed_uid 0
	list allowed_uid 1000
	option hook_timeout 1500ms
	option hook_fallback allow
config resilience 'resilience'
	option fail_mode fail-close
	option environment staging
	option breaker_interval 0
	option cache_max_size 10000
config policy 'local'
	option default deny
config rule 'admins'
	option action allow
	list user alice
	list group admins
	list source 10.0.0.0/8
	list source 2001:db8::/32
	option max_sessions 2
config rule
	option action deny
	option user mallory
	option enabled 0
");
    assert_eq!(c.agent.id, "gw-7");
    assert_eq!(c.agent.log_level, log::LevelFilter::Debug);
    assert_eq!(c.agent.log_target, LogTarget::Syslog);
    assert_eq!(c.agent.socket_mode, 0o660);
    assert_eq!(c.agent.allowed_uid, [0, 1000]);
    assert_eq!(c.agent.hook_timeout, Duration::from_millis(1500));
    assert_eq!(c.agent.hook_fallback, Verdict::Allow);
    assert_eq!(c.resilience.fail_mode, FailMode::Close);
    assert_eq!(c.resilience.breaker_interval, Duration::ZERO);
    assert_eq!(c.policy.default, Verdict::Deny);
    let rules = &c.policy.rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].name.as_deref(), Some("admins"));
    assert_eq!(rules[0].line, 18);
    assert_eq!(rules[0].users, ["alice"]);
    assert_eq!(rules[0].sources.len(), 2);
    assert_eq!(rules[0].max_sessions, Some(2));
    assert_eq!(rules[1].action, Verdict::Deny);
    assert_eq!(rules[1].users, ["mallory"]);
    assert!(!rules[1].enabled);
}

#[test]
fn fail_mode_spellings() {
    for (word, mode) in [
        ("close", FailMode::Close),
        ("stale", FailMode::Stale),
        ("fail-close", FailMode::Close),
        ("fail-stale", FailMode::Stale),
        ("fail-open", FailMode::Open),
        ("open", FailMode::Open),
    ] {
        let c = ok(&format!(
            "config resilience 'resilience'\n option fail_mode {word}\n option environment development\n"
        ));
        assert_eq!(c.resilience.fail_mode, mode, "{word}");
    }
    let (line, msg) = one_problem("config resilience 'resilience'\n\n option fail_mode failopen\n");
    assert_eq!(line, 3);
    assert!(msg.contains("invalid fail mode 'failopen'"), "{msg}");
}

#[test]
fn fail_open_in_production_needs_explicit_consent() {
    let (line, msg) = one_problem("config resilience 'resilience'\n option fail_mode open\n");
    assert_eq!(line, 2);
    assert!(msg.contains("allow_fail_open_in_production"), "{msg}");
    ok("config resilience 'resilience'\n option fail_mode open\n option allow_fail_open_in_production 1\n");
    ok("config resilience 'resilience'\n option fail_mode open\n option environment staging\n");
}

#[test]
fn bad_values_name_option_section_and_line() {
    let text = "config agent 'main'
	option log_level loud
	option hook_timeout 5x
	option socket_mode 0666
	list allowed_uid root
	option hook_fallback maybe
config resilience 'resilience'
	option breaker_failure_threshold 0
	option cache_max_size many
	option cache_ttl -1
config rule
	option action allow
	list source 10.1.2.3/8
	option max_sessions 0
";
    let p = problems(text);
    let lines: Vec<u32> = p.iter().map(|x| x.0).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 8, 9, 10, 13, 14], "{p:?}");
    assert!(p[0]
        .1
        .contains("option 'log_level' in agent 'main': invalid log level 'loud'"));
    assert!(p[1].1.contains("invalid duration '5x'"));
    assert!(p[2].1.contains("every local user"));
    assert!(p[3].1.contains("'root' is not a numeric uid"));
    assert!(p[4].1.contains("invalid action 'maybe': use allow, deny"));
    assert!(p[5].1.contains("from 1 to 10000"));
    assert!(p[8].1.contains("did you mean '10.0.0.0/8'"));
}

#[test]
fn ranges_are_enforced() {
    let (_, msg) = one_problem("config agent 'main'\n option hook_timeout 10ms\n");
    assert!(msg.contains("out of range"), "{msg}");
    let (_, msg) = one_problem("config resilience 'resilience'\n option breaker_timeout 0\n");
    assert!(msg.contains("out of range"), "{msg}");
    one_problem("config control 'control'\n option heartbeat_interval 0\n");
    one_problem("config resilience 'resilience'\n option cache_max_size 1000001\n");
}

#[test]
fn unknown_sections_and_options_suggest_the_closest_name() {
    let (line, msg) = one_problem("config agnet 'main'\n");
    assert_eq!(line, 1);
    assert!(
        msg.contains("unknown section type 'agnet' (did you mean 'agent'?)"),
        "{msg}"
    );
    let (line, msg) = one_problem("config agent 'main'\n option log_levle info\n");
    assert_eq!(line, 2);
    assert!(
        msg.contains("unknown option 'log_levle' in agent 'main' (did you mean 'log_level'?)"),
        "{msg}"
    );
    let (_, msg) = one_problem("config portal 'portal'\n option zzzzzz 1\n");
    assert!(msg.contains("known options: enabled, address"), "{msg}");
    let (_, msg) = one_problem("config rule\n option action deny\n list usr bob\n");
    assert!(msg.contains("did you mean 'user'"), "{msg}");
}

#[test]
fn section_names_and_duplicates() {
    ok("config agent\n option id x\n");
    let (line, msg) = one_problem("config agent 'primary'\n");
    assert_eq!(line, 1);
    assert!(msg.contains("must be named 'main'"), "{msg}");
    let (line, msg) = one_problem("config agent 'main'\nconfig agent\n");
    assert_eq!(line, 2);
    assert!(msg.contains("first is on line 1"), "{msg}");
    // A package line is ignored, as libuci ignores it when it loads a file (check-config warns
    // about a foreign name).
    ok("package network\nconfig agent\n");
    ok("package ocserv-agent\nconfig agent\n");
}

#[test]
fn list_where_scalar_expected() {
    let (line, msg) = one_problem("config agent 'main'\n list socket /a\n");
    assert_eq!(line, 2);
    assert!(msg.contains("use 'option socket'"), "{msg}");
}

#[test]
fn rules_need_an_action_and_deny_rules_take_no_session_limit() {
    let (line, msg) = one_problem("config rule 'r1'\n list user bob\n");
    assert_eq!(line, 1);
    assert!(msg.contains("rule 'r1' needs 'option action'"), "{msg}");
    let (line, msg) = one_problem("config rule\n option action deny\n\n option max_sessions 3\n");
    assert_eq!(line, 4);
    assert!(msg.contains("only applies to allow rules"), "{msg}");
    let (_, msg) = one_problem("config rule\n option action allow\n list user 'two words'\n");
    assert!(msg.contains("list 'user' in rule @rule[0]"), "{msg}");
}

#[test]
fn enabled_portal_needs_address_and_readable_tls_files() {
    let p = problems("config portal 'portal'\n option enabled 1\n");
    let msgs: Vec<&str> = p.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(
        p.iter().map(|x| x.0).collect::<Vec<_>>(),
        [2, 2, 2, 2],
        "{p:?}"
    );
    assert!(msgs[0].contains("'option address'"));
    assert!(msgs[1].contains("'option ca'"));
    assert!(msgs[2].contains("'option cert'"));
    assert!(msgs[3].contains("'option key'"));

    let (line, msg) = one_problem(
        "config portal 'portal'\n option enabled 1\n option address p.example:443\n option ca /nonexistent/ca.pem\n option cert /dev/null\n option key /dev/null\n",
    );
    assert_eq!(line, 4);
    assert!(msg.contains("portal ca '/nonexistent/ca.pem'"), "{msg}");

    let c = ok("config portal 'portal'\n option enabled yes\n option address p.example:443\n option ca /dev/null\n option cert /dev/null\n option key /dev/null\n");
    assert!(c.portal.enabled);
    // A disabled portal may be half-configured.
    ok("config portal 'portal'\n option enabled 0\n option address p.example:443\n");
}

#[test]
fn portal_timeout_must_be_shorter_than_hook_timeout() {
    let (line, msg) = one_problem(
        "config agent 'main'\n option hook_timeout 2s\nconfig portal 'portal'\n option enabled 1\n option address p:1\n option ca /dev/null\n option cert /dev/null\n option key /dev/null\n option timeout 2s\n",
    );
    assert_eq!(line, 9);
    assert!(
        msg.contains("must be shorter than agent hook_timeout"),
        "{msg}"
    );
}

#[test]
fn the_request_budget_holds_two_of_the_largest_messages() {
    let (line, msg) = one_problem(
        "config grpc 'grpc'\n option max_message_size 4194304\n option request_budget 4194304\n",
    );
    assert_eq!(line, 3);
    assert!(msg.contains("at least twice max_message_size"), "{msg}");
    let (_, msg) = one_problem("config grpc 'grpc'\n option request_budget 1000\n");
    assert!(msg.contains("from 65536 to 1073741824"), "{msg}");
    let c =
        ok("config grpc 'grpc'\n option max_message_size 65536\n option request_budget 131072\n");
    assert_eq!(c.grpc.request_budget, 131072);
}

#[test]
fn control_borrows_portal_tls_settings() {
    let c = ok("config portal 'portal'\n option ca /dev/null\n option cert /dev/null\n option key /dev/null\n option server_name portal.example\nconfig control 'control'\n option enabled 1\n option address ctl.example:443\n");
    assert_eq!(
        c.control.ca.as_deref(),
        Some(std::path::Path::new("/dev/null"))
    );
    assert_eq!(c.control.server_name.as_deref(), Some("portal.example"));
    let p = problems("config control 'control'\n option enabled 1\n");
    assert_eq!(p.len(), 4, "{p:?}");
}

#[test]
fn grpc_and_metrics_addresses() {
    let (_, msg) = one_problem("config grpc 'grpc'\n option listen localhost:9090\n");
    assert!(msg.contains("not an IP address and port"), "{msg}");
    let c =
        ok("config metrics 'metrics'\n option listen '[::1]:9200'\n option textfile /tmp/m.prom\n");
    assert_eq!(c.metrics.listen.port(), 9200);
    assert_eq!(
        one_problem(
            "config grpc 'grpc'\n option enabled 1\n option ca /dev/null\n option cert /dev/null\n"
        )
        .0,
        2
    );
}

#[test]
fn allowed_commands_are_occtl_verbs() {
    let c = ok("config grpc 'grpc'\n list allowed_command 'show users'\n list allowed_command 'show status'\n");
    assert_eq!(c.grpc.allowed_command, ["show users", "show status"]);
    assert_eq!(parse(b"").unwrap().grpc.allowed_command.len(), 9);
    let (line, msg) = one_problem("config grpc 'grpc'\n list allowed_command 'stop'\n");
    assert_eq!(line, 2);
    assert!(msg.contains("'stop' is not an occtl command"), "{msg}");
}

#[test]
fn replace_oldest_needs_max_sessions() {
    let c =
        ok("config rule\n option action allow\n option max_sessions 1\n option replace_oldest 1\n");
    assert!(c.policy.rules[0].replace_oldest);
    let (line, msg) = one_problem("config rule\n option action allow\n option replace_oldest 1\n");
    assert_eq!(line, 3);
    assert!(msg.contains("needs 'option max_sessions'"), "{msg}");
}

#[test]
fn outbox_options_are_checked() {
    let c = ok("config outbox 'outbox'\n option dir /tmp/ob\n option max_events 50\n option retry_max 2m\n");
    assert_eq!(c.outbox.dir, std::path::PathBuf::from("/tmp/ob"));
    assert_eq!(
        (c.outbox.max_events, c.outbox.retry_max.as_secs()),
        (50, 120)
    );
    let (line, msg) = one_problem("config outbox 'outbox'\n option dir var/ob\n");
    assert_eq!(line, 2);
    assert!(msg.contains("not an absolute path"), "{msg}");
    let (_, msg) = one_problem("config outbox 'outbox'\n option max_events 5\n");
    assert!(msg.contains("from 10 to 100000"), "{msg}");
    let (_, msg) = one_problem("config metrics 'metrics'\n option textfile_interval 0s\n");
    assert!(msg.contains("out of range"), "{msg}");
}

#[test]
fn syntax_and_typed_problems_are_reported_together_in_line_order() {
    // Reading stops at the first syntax error (line 3), as libuci's does: `config bogus` after
    // it is never read. What was read is still checked (line 2).
    let p = problems("config agent 'main'\n option log_level loud\n option a b c\nconfig bogus\n");
    assert_eq!(p.iter().map(|x| x.0).collect::<Vec<_>>(), [2, 3], "{p:?}");
}

#[test]
fn effective_config_round_trips() {
    let text = "config agent 'main'\n option id r1\n list allowed_uid 0\n list allowed_uid 7\n option hook_timeout 1500ms\nconfig rule 'named'\n option action allow\n list user 'o'\\''brien'\n option max_sessions 3\nconfig rule\n option action deny\n list source 192.0.2.0/24\nconfig ocserv 'ocserv'\n option ctl_socket /run/occtl.socket\nconfig portal 'portal'\n option ca /dev/null\n";
    let first = ok(text);
    let shown = show(&first);
    assert!(
        shown.contains("ocserv-agent.main.hook_timeout='1500ms'\n"),
        "{shown}"
    );
    assert!(
        shown.contains("ocserv-agent.named.user='o'\\''brien'\n"),
        "{shown}"
    );
    assert!(
        // libuci numbers every rule section, the named one before it included.
        shown.contains("ocserv-agent.@rule[1].source='192.0.2.0/24'\n"),
        "{shown}"
    );
    // Render as a UCI file again and re-read: the same configuration comes back.
    let mut again = String::new();
    for line in shown.lines() {
        let (key, value) = line.split_once('=').unwrap();
        let parts: Vec<&str> = key.split('.').collect();
        match parts.len() {
            2 => {
                let name = parts[1];
                if name.starts_with('@') {
                    again.push_str(&format!("config {value}\n"));
                } else {
                    again.push_str(&format!("config {value} '{name}'\n"));
                }
            }
            3 => {
                // Lists print as several quoted items: each becomes a `list` line.
                let items = split_quoted(value);
                let keyword = if items.len() == 1 { "option" } else { "list" };
                for item in items {
                    again.push_str(&format!("{keyword} {} {item}\n", parts[2]));
                }
            }
            _ => panic!("bad line {line}"),
        }
    }
    let mut first = first;
    let mut second = ok(&again);
    // Rules remember their source line, which differs in the re-rendered text.
    for rule in first
        .policy
        .rules
        .iter_mut()
        .chain(second.policy.rules.iter_mut())
    {
        rule.line = 0;
    }
    assert_eq!(first, second, "{again}");
}

/// Splits `'a' 'b'` into `'a'` and `'b'`, honouring `'\''`.
fn split_quoted(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    for c in value.chars() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                current.push(c);
            }
            ' ' if !in_quote => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items.push(current);
    items
}
