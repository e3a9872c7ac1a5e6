//! `config agent 'main'`: the daemon itself, its log and its hook socket; and what a short-lived
//! client (hook, `status`) reads of it. In one place: its type and defaults, how the file's options
//! are read (and checked against each other), and its `uci show` form.

use super::from_uci::{duration_in, parse_id, parse_socket_mode, parse_socket_path, parse_uid};
use super::invalid::Invalid;
use super::reader::{Problem, SectionReader};
use super::schema::{keyword_str, parse_keyword, Keyword, SectionWriter};
use super::uci::{Package, Section};
use super::units::{format_duration, format_mode};
use super::Verdict;
use crate::logger::LogTarget;
use std::path::PathBuf;
use std::time::Duration;

/// `config agent 'main'`: the daemon itself and its hook socket.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// How the portal knows this router; defaults to the host name.
    pub id: String,
    /// `option log_level`: the least severe level logged.
    pub log_level: log::LevelFilter,
    /// `option log_target`: stderr or syslog.
    pub log_target: LogTarget,
    /// `option socket`: the daemon's Unix socket, for the hook and `status`.
    pub socket: PathBuf,
    /// `option socket_mode`: the socket's file mode.
    pub socket_mode: u32,
    /// Peers (hook, `status`) allowed on the socket, besides the daemon's own uid.
    pub allowed_uid: Vec<u32>,
    /// The longest the hook waits for the daemon before applying `hook_fallback`.
    pub hook_timeout: Duration,
    /// `option hook_fallback`: the hook's answer when the daemon does not answer at all.
    pub hook_fallback: Verdict,
}

/// What the hook and `status` need to reach the daemon; see `config::client_settings`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientSettings {
    /// Where the daemon listens.
    pub socket: PathBuf,
    /// The hook's whole budget.
    pub hook_timeout: Duration,
    /// The hook's answer when the daemon does not answer.
    pub hook_fallback: Verdict,
}

impl Keyword for LogTarget {
    const WORDS: &'static [(&'static str, Self)] =
        &[("stderr", LogTarget::Stderr), ("syslog", LogTarget::Syslog)];
    const WHAT: &'static str = "log target";
}

impl Keyword for log::LevelFilter {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("error", log::LevelFilter::Error),
        ("warn", log::LevelFilter::Warn),
        ("info", log::LevelFilter::Info),
        ("debug", log::LevelFilter::Debug),
        ("trace", log::LevelFilter::Trace),
    ];
    const WHAT: &'static str = "log level";
}

impl Agent {
    /// Defaults, with `id` from the host name.
    pub fn defaults() -> Agent {
        Agent {
            id: default_id(),
            log_level: log::LevelFilter::Info,
            log_target: LogTarget::Stderr,
            socket: PathBuf::from("/var/run/ocserv-agent.sock"),
            socket_mode: 0o600,
            allowed_uid: vec![0],
            hook_timeout: Duration::from_secs(5),
            hook_fallback: Verdict::Deny,
        }
    }
}

/// The kernel's host name, which is what an operator sees in LuCI; a fixed word if unreadable.
fn default_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "ocserv-agent".to_string())
}

/// The agent settings a short-lived client (hook, `status`) needs, read from the `agent`
/// section alone: problems elsewhere in the file do not stop a client from reaching a daemon
/// that still runs the previous, valid configuration.
pub(super) fn client_settings(pkg: &Package) -> Result<ClientSettings, Vec<Problem>> {
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

fn parse_hook_timeout(s: &str) -> Result<Duration, Invalid> {
    duration_in(s, Duration::from_millis(100), Duration::from_secs(120))
}

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Agent {
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

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(a: &Agent) -> Section {
    let mut s = SectionWriter::new("agent", Some("main"));
    s.set("id", a.id.as_str())
        .set("log_level", keyword_str(a.log_level))
        .set("log_target", keyword_str(a.log_target))
        .set("socket", super::schema::path(&a.socket))
        .set("socket_mode", format_mode(a.socket_mode))
        .list("allowed_uid", a.allowed_uid.iter().map(u32::to_string))
        .set("hook_timeout", format_duration(a.hook_timeout))
        .set("hook_fallback", keyword_str(a.hook_fallback));
    s.0
}
