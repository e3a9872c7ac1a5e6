//! Turns a parsed UCI package into a [`Config`]: section types and names, each option's syntax
//! and range, then the checks that span options and sections. Every problem is collected.

use super::reader::{closest, Problem, SectionReader};
use super::schema::*;
use super::uci::{Package, Section};
use super::units::{check_host_port, parse_bool, parse_duration, parse_mode, Cidr};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Builds the typed configuration, or returns every problem found.
pub fn from_package(pkg: &Package) -> Result<Config, Vec<Problem>> {
    // A `package` line is read and ignored, as libuci ignores it (check-config warns about a
    // foreign name: see `config::warnings`).
    let mut problems = Vec::new();

    let mut singles: Vec<(&str, &Section)> = Vec::new();
    let mut rules: Vec<&Section> = Vec::new();
    for section in &pkg.sections {
        let kind = section.kind.as_str();
        if kind == "rule" {
            rules.push(section);
            continue;
        }
        let Some(&(kind, expected)) = SINGLE_SECTIONS.iter().find(|(k, _)| *k == kind) else {
            let known = SINGLE_SECTIONS.iter().map(|(k, _)| *k).chain(["rule"]);
            let hint = closest(kind, known)
                .map(|k| format!(" (did you mean '{k}'?)"))
                .unwrap_or_default();
            problems.push(Problem {
                line: section.line,
                message: format!("unknown section type '{kind}'{hint}"),
            });
            continue;
        };
        if let Some(name) = section.name.as_deref().filter(|n| *n != expected) {
            problems.push(Problem {
                line: section.line,
                message: format!(
                    "section '{name}' of type '{kind}' must be named '{expected}' (or be anonymous)"
                ),
            });
            continue;
        }
        if let Some((_, first)) = singles.iter().find(|(k, _)| *k == kind) {
            problems.push(Problem {
                line: section.line,
                message: format!(
                    "a second 'config {kind}' section; there may be only one (the first is on line {})",
                    first.line
                ),
            });
            continue;
        }
        singles.push((kind, section));
    }

    let empty = |kind: &str| Section {
        kind: kind.to_string(),
        name: None,
        line: 0,
        options: Vec::new(),
    };
    let reader = |kind: &'static str| {
        let section = singles
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, s)| (*s).clone())
            .unwrap_or_else(|| empty(kind));
        let name = SINGLE_SECTIONS
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or("", |(_, n)| *n);
        (section, format!("{kind} '{name}'"))
    };

    let (s, label) = reader("agent");
    let agent = read_agent(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("portal");
    let portal = read_portal(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("resilience");
    let resilience = super::resilience::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("policy");
    let mut r = SectionReader::new(&s, label, &mut problems);
    let default = r.or("default", Verdict::Allow, parse_keyword);
    r.finish();
    let rules = rules
        .iter()
        .enumerate()
        .map(|(i, s)| read_rule(s, i, &mut problems))
        .collect();
    let (s, label) = reader("ocserv");
    let ocserv = read_ocserv(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("grpc");
    let grpc = read_grpc(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("control");
    let control = read_control(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("metrics");
    let metrics = read_metrics(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("outbox");
    let outbox = read_outbox(SectionReader::new(&s, label, &mut problems));

    let mut config = Config {
        agent,
        portal,
        resilience,
        policy: Policy { default, rules },
        ocserv,
        grpc,
        control,
        metrics,
        outbox,
    };
    cross_checks(pkg, &mut config, &mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// The agent settings a short-lived client (hook, `status`) needs, read from the `agent`
/// section alone: problems elsewhere in the file do not stop a client from reaching a daemon
/// that still runs the previous, valid configuration.
pub fn client_settings(pkg: &Package) -> Result<ClientSettings, Vec<Problem>> {
    let mut problems = Vec::new();
    let d = Agent::defaults();
    let settings = match pkg.sections.iter().find(|s| s.kind == "agent") {
        None => ClientSettings {
            socket: d.socket,
            hook_timeout: d.hook_timeout,
            hook_fallback: d.hook_fallback,
        },
        Some(section) => {
            let mut r = SectionReader::new(section, "agent 'main'".into(), &mut problems);
            ClientSettings {
                socket: r.or("socket", d.socket, parse_socket_path),
                hook_timeout: r.or("hook_timeout", d.hook_timeout, parse_hook_timeout),
                hook_fallback: r.or("hook_fallback", d.hook_fallback, parse_keyword),
            }
        }
    };
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

fn parse_hook_timeout(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_millis(100), Duration::from_secs(120))
}

fn read_agent(mut r: SectionReader) -> Agent {
    let d = Agent::defaults();
    let agent = Agent {
        id: r.or("id", d.id, parse_id),
        log_level: r.or("log_level", d.log_level, parse_keyword),
        log_target: r.or("log_target", d.log_target, parse_keyword),
        socket: r.or("socket", d.socket, parse_socket_path),
        socket_mode: r.or("socket_mode", d.socket_mode, parse_socket_mode),
        allowed_uid: r.list("allowed_uid", parse_uid).unwrap_or(d.allowed_uid),
        hook_timeout: r.or("hook_timeout", d.hook_timeout, parse_hook_timeout),
        hook_fallback: r.or("hook_fallback", d.hook_fallback, parse_keyword),
    };
    r.finish();
    agent
}

fn read_portal(mut r: SectionReader) -> Portal {
    let d = Portal::default();
    let portal =
        Portal {
            enabled: r.or("enabled", d.enabled, parse_bool),
            address: r.value("address", parse_address),
            server_name: r.value("server_name", parse_server_name),
            ca: r.value("ca", parse_path),
            cert: r.value("cert", parse_path),
            key: r.value("key", parse_path),
            timeout: r.or("timeout", d.timeout, |s| {
                duration_in(s, Duration::from_millis(50), Duration::from_secs(60))
            }),
            validate_interval: r.or("validate_interval", d.validate_interval, |s| {
                match parse_duration(s)? {
                    Duration::ZERO => Ok(Duration::ZERO),
                    _ => duration_in(s, Duration::from_secs(1), Duration::from_secs(86400)),
                }
            }),
        };
    r.finish();
    portal
}

fn read_rule(section: &Section, index: usize, problems: &mut Vec<Problem>) -> Rule {
    let label = match &section.name {
        Some(name) => format!("rule '{name}'"),
        None => format!("rule @rule[{index}]"),
    };
    let mut r = SectionReader::new(section, label.clone(), problems);
    let action = r.value("action", parse_keyword);
    let rule = Rule {
        name: section.name.clone(),
        line: section.line,
        enabled: r.or("enabled", true, parse_bool),
        action: action.unwrap_or(Verdict::Deny),
        users: r.list("user", parse_account_name).unwrap_or_default(),
        groups: r.list("group", parse_account_name).unwrap_or_default(),
        sources: r.list("source", Cidr::parse).unwrap_or_default(),
        max_sessions: r.value("max_sessions", |s| number_in(s, 1, 10_000)),
        replace_oldest: r.or("replace_oldest", false, parse_bool),
    };
    if action.is_none() && section.get("action").is_none() {
        r.problem(
            "action",
            format!("{label} needs 'option action' (allow or deny)"),
        );
    }
    if rule.replace_oldest && rule.max_sessions.is_none() {
        r.problem(
            "replace_oldest",
            format!("option 'replace_oldest' in {label} needs 'option max_sessions'"),
        );
    }
    if rule.action == Verdict::Deny && rule.max_sessions.is_some() {
        r.problem(
            "max_sessions",
            format!("option 'max_sessions' in {label} only applies to allow rules"),
        );
    }
    r.finish();
    rule
}

fn read_ocserv(mut r: SectionReader) -> Ocserv {
    let d = Ocserv::default();
    let ocserv = Ocserv {
        config: r.or("config", d.config, parse_path),
        ctl_socket: r.value("ctl_socket", parse_socket_path),
        per_user_dir: r.or("per_user_dir", d.per_user_dir, parse_path),
        per_group_dir: r.or("per_group_dir", d.per_group_dir, parse_path),
        local_conf: r.or("local_conf", d.local_conf, parse_path),
        init_script: r.or("init_script", d.init_script, parse_path),
        backup_dir: r.or("backup_dir", d.backup_dir, parse_path),
        backup_keep: r.or("backup_keep", d.backup_keep, |s| number_in(s, 1, 1000)),
        logread: r.or("logread", d.logread, parse_path),
        syslog_file: r.value("syslog_file", parse_path),
    };
    r.finish();
    ocserv
}

fn read_grpc(mut r: SectionReader) -> Grpc {
    let d = Grpc::default();
    let grpc = Grpc {
        enabled: r.or("enabled", d.enabled, parse_bool),
        listen: r.or("listen", d.listen, parse_listen),
        ca: r.value("ca", parse_path),
        cert: r.value("cert", parse_path),
        key: r.value("key", parse_path),
        allowed_client: r
            .list("allowed_client", parse_client_identity)
            .unwrap_or_default(),
        allow_tls12: r.or("allow_tls12", d.allow_tls12, parse_bool),
        max_connections: r.or("max_connections", d.max_connections, |s| {
            number_in(s, 1, 1024)
        }),
        max_message_size: r.or("max_message_size", d.max_message_size, |s| {
            number_in(s, 1024, 64 << 20)
        }),
        request_budget: r.or("request_budget", d.request_budget, |s| {
            number_in(s, 64 << 10, 1 << 30)
        }),
        allowed_command: r
            .list("allowed_command", |s| {
                let verbs = crate::occtl_verbs::VERBS;
                verbs
                    .iter()
                    .find(|v| **v == s)
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("'{s}' is not an occtl command ({})", verbs.join(", ")))
            })
            .unwrap_or(d.allowed_command),
    };
    r.finish();
    grpc
}

fn read_control(mut r: SectionReader) -> Control {
    let d = Control::default();
    let control = Control {
        enabled: r.or("enabled", d.enabled, parse_bool),
        address: r.value("address", parse_address),
        heartbeat_interval: r.or("heartbeat_interval", d.heartbeat_interval, |s| {
            duration_in(s, Duration::from_secs(1), Duration::from_secs(3600))
        }),
        server_name: r.value("server_name", parse_server_name),
        ca: r.value("ca", parse_path),
        cert: r.value("cert", parse_path),
        key: r.value("key", parse_path),
    };
    r.finish();
    control
}

fn read_metrics(mut r: SectionReader) -> Metrics {
    let d = Metrics::default();
    let metrics = Metrics {
        enabled: r.or("enabled", d.enabled, parse_bool),
        listen: r.or("listen", d.listen, parse_listen),
        textfile: r.value("textfile", parse_path),
        textfile_interval: r.or("textfile_interval", d.textfile_interval, |s| {
            duration_in(s, Duration::from_secs(1), Duration::from_secs(3600))
        }),
    };
    r.finish();
    metrics
}

fn read_outbox(mut r: SectionReader) -> Outbox {
    let d = Outbox::default();
    let outbox = Outbox {
        enabled: r.or("enabled", d.enabled, parse_bool),
        dir: r.or("dir", d.dir, |s| {
            parse_path(s).and_then(|p| match p.is_absolute() {
                true => Ok(p),
                false => Err(format!("'{s}' is not an absolute path")),
            })
        }),
        max_events: r.or("max_events", d.max_events, |s| number_in(s, 10, 100_000)),
        retry_max: r.or("retry_max", d.retry_max, |s| {
            duration_in(s, Duration::from_secs(1), Duration::from_secs(3600))
        }),
    };
    r.finish();
    outbox
}

/// Checks that involve more than one option; fills in the control link's TLS from the portal's.
fn cross_checks(pkg: &Package, c: &mut Config, problems: &mut Vec<Problem>) {
    let mut at = |kind: &str, option: &str, message: String| {
        problems.push(Problem {
            line: line_of(pkg, kind, option),
            message,
        })
    };

    if c.portal.enabled {
        let p = &c.portal;
        if p.address.is_none() {
            at(
                "portal",
                "enabled",
                "portal is enabled but 'option address' (host:port) is not set".into(),
            );
        }
        require_files(
            &mut at,
            "portal",
            [("ca", &p.ca), ("cert", &p.cert), ("key", &p.key)],
        );
        if p.timeout >= c.agent.hook_timeout {
            at(
                "portal",
                "timeout",
                format!(
                    "portal timeout ({}) must be shorter than agent hook_timeout ({}), or the hook gives up before the portal answers",
                    super::units::format_duration(p.timeout),
                    super::units::format_duration(c.agent.hook_timeout)
                ),
            );
        }
    }

    let g = &c.grpc;
    if g.request_budget / 2 < g.max_message_size {
        at(
            "grpc",
            "request_budget",
            format!(
                "request_budget ({}) must be at least twice max_message_size ({}): one connection may use half of it",
                g.request_budget, g.max_message_size
            ),
        );
    }

    super::resilience::check(&c.resilience, &mut |option, message| {
        at("resilience", option, message)
    });

    if c.grpc.enabled {
        let g = &c.grpc;
        require_files(
            &mut at,
            "grpc",
            [("ca", &g.ca), ("cert", &g.cert), ("key", &g.key)],
        );
    }

    let ctl = &mut c.control;
    let portal = &c.portal;
    if ctl.server_name.is_none() {
        ctl.server_name = portal.server_name.clone();
    }
    for (mine, theirs) in [
        (&mut ctl.ca, &portal.ca),
        (&mut ctl.cert, &portal.cert),
        (&mut ctl.key, &portal.key),
    ] {
        if mine.is_none() {
            mine.clone_from(theirs);
        }
    }
    if ctl.enabled {
        if ctl.address.is_none() {
            at(
                "control",
                "enabled",
                "control is enabled but 'option address' (host:port) is not set".into(),
            );
        }
        require_files(
            &mut at,
            "control",
            [("ca", &ctl.ca), ("cert", &ctl.cert), ("key", &ctl.key)],
        );
    }
}

/// Each TLS file must be set and readable when its section is enabled.
fn require_files(
    at: &mut impl FnMut(&str, &str, String),
    kind: &str,
    files: [(&str, &Option<PathBuf>); 3],
) {
    for (option, file) in files {
        match file {
            None => at(
                kind,
                "enabled",
                format!("{kind} is enabled but 'option {option}' is not set"),
            ),
            Some(path) => {
                if let Err(e) = std::fs::File::open(path) {
                    at(
                        kind,
                        option,
                        format!("{kind} {option} '{}': {e}", path.display()),
                    );
                }
            }
        }
    }
}

/// The line of an option, else of its section, else 0 (the file as a whole).
fn line_of(pkg: &Package, kind: &str, option: &str) -> u32 {
    pkg.sections
        .iter()
        .find(|s| s.kind == kind)
        .map_or(0, |s| s.get(option).map_or(s.line, |o| o.line))
}

pub(super) fn duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < min || d > max {
        return Err(format!(
            "'{s}' is out of range ({} to {})",
            super::units::format_duration(min),
            super::units::format_duration(max)
        ));
    }
    Ok(d)
}

pub(super) fn number_in(s: &str, min: u32, max: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a whole number from {min} to {max}")),
    }
}

fn parse_id(s: &str) -> Result<String, String> {
    if s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a valid id (1-64 printable characters, no spaces)"
        ))
    }
}

fn parse_uid(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("'{s}' is not a numeric uid"))
}

fn parse_path(s: &str) -> Result<PathBuf, String> {
    if s.contains('\n') {
        return Err("a path cannot contain a line break".into());
    }
    Ok(PathBuf::from(s))
}

/// Unix socket paths must fit `sun_path` (108 bytes with the terminating NUL).
fn parse_socket_path(s: &str) -> Result<PathBuf, String> {
    let p = parse_path(s)?;
    if s.len() > 107 {
        return Err(format!(
            "socket path is {} bytes; the limit is 107",
            s.len()
        ));
    }
    if Path::new(s).file_name().is_none() {
        return Err(format!("'{s}' does not name a file"));
    }
    Ok(p)
}

/// The hook socket must not be open to every local user.
fn parse_socket_mode(s: &str) -> Result<u32, String> {
    let mode = parse_mode(s)?;
    if mode & 0o007 != 0 {
        return Err(format!(
            "mode {s} lets every local user reach the daemon; use 0600 or 0660"
        ));
    }
    if mode & 0o600 != 0o600 {
        return Err(format!(
            "mode {s} denies the owner read/write; use 0600 or 0660"
        ));
    }
    if mode & 0o7000 != 0 {
        return Err(format!(
            "mode {s} has setuid/setgid/sticky bits; use 0600 or 0660"
        ));
    }
    Ok(mode)
}

fn parse_address(s: &str) -> Result<String, String> {
    check_host_port(s).map(|()| s.to_string())
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("'{s}' is not an IP address and port (e.g. 127.0.0.1:9101 or [::1]:9101)")
    })
}

fn parse_server_name(s: &str) -> Result<String, String> {
    check_host_port(&format!("{s}:1"))
        .map(|()| s.to_string())
        .map_err(|_| format!("'{s}' is not a valid TLS server name"))
}

/// User and group names as ocserv passes them: printable, no white space.
fn parse_account_name(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 256 && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a valid user or group name (no spaces or control characters)"
        ))
    }
}

fn parse_client_identity(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a valid client identity (a DNS name, URI or CN without spaces)"
        ))
    }
}

#[cfg(test)]
#[path = "from_uci_tests.rs"]
mod tests;
