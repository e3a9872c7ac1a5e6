//! The typed configuration of package `ocserv-agent`, its defaults, and its rendering back to
//! UCI (what `check-config` prints). Reading it from a file lives in `from_uci.rs`.

use super::resilience::Resilience;
use super::uci::{Opt, Package, Section, Value};
use super::units::{format_bool, format_duration, format_mode, Cidr};
pub use crate::logger::LogTarget;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The UCI package name: the file is `/etc/config/ocserv-agent`.
pub const PACKAGE: &str = "ocserv-agent";

/// Everything the agent reads from its config file.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub agent: Agent,
    pub portal: Portal,
    pub resilience: Resilience,
    pub policy: Policy,
    pub ocserv: Ocserv,
    pub grpc: Grpc,
    pub control: Control,
    pub metrics: Metrics,
    pub outbox: Outbox,
}

/// `config agent 'main'`: the daemon itself and its hook socket.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// How the portal knows this router; defaults to the host name.
    pub id: String,
    pub log_level: log::LevelFilter,
    pub log_target: LogTarget,
    pub socket: PathBuf,
    pub socket_mode: u32,
    /// Peers (hook, `status`) allowed on the socket, besides the daemon's own uid.
    pub allowed_uid: Vec<u32>,
    /// The longest the hook waits for the daemon before applying `hook_fallback`.
    pub hook_timeout: Duration,
    pub hook_fallback: Verdict,
}

/// What the hook and `status` need to reach the daemon; see `config::client_settings`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientSettings {
    pub socket: PathBuf,
    pub hook_timeout: Duration,
    pub hook_fallback: Verdict,
}

/// Allow or deny: a rule's action, the policy default and the hook's fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

/// `config portal 'portal'`: the remote policy service (`vpn.v1.AuthService`).
#[derive(Clone, Debug, PartialEq)]
pub struct Portal {
    pub enabled: bool,
    /// `host:port`.
    pub address: Option<String>,
    /// TLS name to verify; the host part of `address` when unset.
    pub server_name: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Deadline of one portal call; must be shorter than `agent.hook_timeout`.
    pub timeout: Duration,
    /// How often live sessions are put to ValidateSession; zero: never.
    pub validate_interval: Duration,
}

/// `config policy 'local'` plus the `config rule` sections: decisions without a portal.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// What happens when no rule matches.
    pub default: Verdict,
    pub rules: Vec<Rule>,
}

/// One `config rule` section. Every criterion given must match; an empty criterion matches all.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The section name, if the rule has one.
    pub name: Option<String>,
    /// Line of the `config rule` command, for log messages that cite the rule.
    pub line: u32,
    pub enabled: bool,
    pub action: Verdict,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub sources: Vec<Cidr>,
    /// For allow rules: the most concurrent sessions a matching user may have.
    pub max_sessions: Option<u32>,
    /// With `max_sessions`: end the user's oldest session(s) instead of refusing the new one
    /// (the stale-session lockout of `max-same-clients 1`). Needs ocserv's control socket.
    pub replace_oldest: bool,
}

/// `config ocserv 'ocserv'`: where ocserv's files and control socket are.
#[derive(Clone, Debug, PartialEq)]
pub struct Ocserv {
    /// ocserv.conf (on OpenWrt the one rendered under /var/etc).
    pub config: PathBuf,
    /// The occtl socket; when unset, `occtl-socket-file` from `config`, else the default.
    pub ctl_socket: Option<PathBuf>,
    pub per_user_dir: PathBuf,
    pub per_group_dir: PathBuf,
    /// The agent-owned fragment of the main config (UpdateConfig CONFIG_TYPE_MAIN). OpenWrt's
    /// init script appends it to the rendered ocserv.conf.
    pub local_conf: PathBuf,
    /// OpenWrt's init script for ocserv: when it exists, UpdateConfig MAIN runs it with
    /// `reload` so that the rendered config (/var/etc/ocserv.conf) takes in `local_conf`.
    pub init_script: PathBuf,
    pub backup_dir: PathBuf,
    /// Backups kept per file name (the newest); older ones are removed as new ones are made.
    pub backup_keep: u32,
    /// OpenWrt's log reader (StreamLogs `ocserv` / `system`); used when it exists.
    pub logread: PathBuf,
    /// The syslog file read otherwise; /var/log/syslog or /var/log/messages when unset.
    pub syslog_file: Option<PathBuf>,
}

/// `config grpc 'grpc'`: the management server the portal calls (mTLS).
#[derive(Clone, Debug, PartialEq)]
pub struct Grpc {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Client identities (SAN DNS/URI or CN) allowed to call; empty allows any CA-signed client.
    pub allowed_client: Vec<String>,
    /// Accept TLS 1.2 besides 1.3 (for old portals).
    pub allow_tls12: bool,
    /// Connections served at once; more are closed on arrival.
    pub max_connections: u32,
    /// Largest request message accepted, in bytes.
    pub max_message_size: u32,
    /// Request bytes buffered across all connections, at most half on one connection.
    pub request_budget: u32,
    /// occtl verbs `ExecuteCommand` may run (`show users`, `disconnect user`, ...).
    pub allowed_command: Vec<String>,
}

/// `config control 'control'`: the outbound stream for routers behind NAT.
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    pub enabled: bool,
    pub address: Option<String>,
    pub heartbeat_interval: Duration,
    /// TLS settings; each falls back to the portal section's when unset.
    pub server_name: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// `config metrics 'metrics'`: Prometheus text over HTTP and/or a textfile.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// A file for node-exporter's textfile collector, written atomically.
    pub textfile: Option<PathBuf>,
    /// How often the textfile is rewritten.
    pub textfile_interval: Duration,
}

/// `config outbox 'outbox'`: connect and disconnect reports to the portal
/// (`vpn.v1.EventService`), kept in a journal until the portal has them.
#[derive(Clone, Debug, PartialEq)]
pub struct Outbox {
    /// Report events when the portal is enabled.
    pub enabled: bool,
    /// Where the journal lives; tmpfs by default (survives agent restarts, not reboots, and
    /// spares the flash one write per event).
    pub dir: PathBuf,
    /// Events kept while the portal is unreachable; when full the oldest is dropped and counted.
    pub max_events: u32,
    /// Longest wait between delivery attempts (the wait doubles from 1 s up to this, ±20%).
    pub retry_max: Duration,
}

/// A closed set of words that an option accepts, for enums read from the file.
pub trait Keyword: Sized + Copy + 'static {
    /// Accepted spellings and their values; the first spelling of a value is the canonical one.
    const WORDS: &'static [(&'static str, Self)];
    /// What the option is, for error messages.
    const WHAT: &'static str;
}

/// Parses one of `T::WORDS`.
pub fn parse_keyword<T: Keyword + PartialEq>(text: &str) -> Result<T, String> {
    T::WORDS
        .iter()
        .find(|(w, _)| *w == text)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let mut names: Vec<&str> = T::WORDS.iter().map(|(w, _)| *w).collect();
            names.dedup();
            format!("invalid {} '{text}': use {}", T::WHAT, names.join(", "))
        })
}

/// The canonical spelling of a keyword value.
pub fn keyword_str<T: Keyword + PartialEq>(value: T) -> &'static str {
    T::WORDS
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("?", |(w, _)| w)
}

impl Keyword for LogTarget {
    const WORDS: &'static [(&'static str, Self)] =
        &[("stderr", LogTarget::Stderr), ("syslog", LogTarget::Syslog)];
    const WHAT: &'static str = "log target";
}

impl Keyword for Verdict {
    const WORDS: &'static [(&'static str, Self)] =
        &[("allow", Verdict::Allow), ("deny", Verdict::Deny)];
    const WHAT: &'static str = "action";
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

impl Default for Portal {
    fn default() -> Portal {
        Portal {
            enabled: false,
            address: None,
            server_name: None,
            ca: None,
            cert: None,
            key: None,
            timeout: Duration::from_secs(2),
            validate_interval: Duration::ZERO,
        }
    }
}

impl Default for Ocserv {
    fn default() -> Ocserv {
        Ocserv {
            config: PathBuf::from("/var/etc/ocserv.conf"),
            ctl_socket: None,
            per_user_dir: PathBuf::from("/etc/ocserv/config-per-user"),
            per_group_dir: PathBuf::from("/etc/ocserv/config-per-group"),
            local_conf: PathBuf::from("/etc/ocserv/ocserv.conf.local"),
            init_script: PathBuf::from("/etc/init.d/ocserv"),
            backup_dir: PathBuf::from("/etc/ocserv/backup"),
            backup_keep: 10,
            logread: PathBuf::from("/sbin/logread"),
            syslog_file: None,
        }
    }
}

impl Default for Grpc {
    fn default() -> Grpc {
        Grpc {
            enabled: false,
            listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            ca: None,
            cert: None,
            key: None,
            allowed_client: Vec::new(),
            allow_tls12: false,
            max_connections: 32,
            max_message_size: 4 << 20,
            request_budget: 8 << 20,
            allowed_command: crate::occtl_verbs::VERBS
                .iter()
                .map(|v| v.to_string())
                .collect(),
        }
    }
}

impl Default for Control {
    fn default() -> Control {
        Control {
            enabled: false,
            address: None,
            heartbeat_interval: Duration::from_secs(30),
            server_name: None,
            ca: None,
            cert: None,
            key: None,
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9101)),
            textfile: None,
            textfile_interval: Duration::from_secs(15),
        }
    }
}

impl Default for Outbox {
    fn default() -> Outbox {
        Outbox {
            enabled: true,
            dir: PathBuf::from("/var/run/ocserv-agent"),
            max_events: 1000,
            retry_max: Duration::from_secs(60),
        }
    }
}

/// The fixed name of each single-instance section type.
pub const SINGLE_SECTIONS: &[(&str, &str)] = &[
    ("agent", "main"),
    ("portal", "portal"),
    ("resilience", "resilience"),
    ("policy", "local"),
    ("ocserv", "ocserv"),
    ("grpc", "grpc"),
    ("control", "control"),
    ("metrics", "metrics"),
    ("outbox", "outbox"),
];

/// Builds one section for [`Config::to_package`].
pub(super) struct SectionWriter(pub(super) Section);

impl SectionWriter {
    pub(super) fn new(kind: &str, name: Option<&str>) -> Self {
        SectionWriter(Section {
            kind: kind.to_string(),
            name: name.map(str::to_string),
            line: 0,
            options: Vec::new(),
        })
    }

    pub(super) fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.options.push(Opt {
            name: name.to_string(),
            value: Value::Single(value.into()),
            line: 0,
        });
        self
    }

    pub(super) fn set_opt(
        &mut self,
        name: &str,
        value: Option<&impl AsRef<std::ffi::OsStr>>,
    ) -> &mut Self {
        if let Some(v) = value {
            self.set(name, v.as_ref().to_string_lossy().into_owned());
        }
        self
    }

    pub(super) fn list(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = String>,
    ) -> &mut Self {
        let items: Vec<String> = items.into_iter().collect();
        if !items.is_empty() {
            self.0.options.push(Opt {
                name: name.to_string(),
                value: Value::List(items),
                line: 0,
            });
        }
        self
    }
}

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Config {
    /// The effective configuration, defaults filled in, as a UCI package.
    pub fn to_package(&self) -> Package {
        let mut sections = Vec::new();
        let (a, p) = (&self.agent, &self.portal);

        let mut s = SectionWriter::new("agent", Some("main"));
        s.set("id", a.id.as_str())
            .set("log_level", keyword_str(a.log_level))
            .set("log_target", keyword_str(a.log_target))
            .set("socket", path(&a.socket))
            .set("socket_mode", format_mode(a.socket_mode))
            .list("allowed_uid", a.allowed_uid.iter().map(u32::to_string))
            .set("hook_timeout", format_duration(a.hook_timeout))
            .set("hook_fallback", keyword_str(a.hook_fallback));
        sections.push(s.0);

        let mut s = SectionWriter::new("portal", Some("portal"));
        s.set("enabled", format_bool(p.enabled))
            .set_opt("address", p.address.as_ref())
            .set_opt("server_name", p.server_name.as_ref())
            .set_opt("ca", p.ca.as_ref())
            .set_opt("cert", p.cert.as_ref())
            .set_opt("key", p.key.as_ref())
            .set("timeout", format_duration(p.timeout))
            .set("validate_interval", format_duration(p.validate_interval));
        sections.push(s.0);

        sections.push(super::resilience::write(&self.resilience));

        let mut s = SectionWriter::new("policy", Some("local"));
        s.set("default", keyword_str(self.policy.default));
        sections.push(s.0);
        for rule in &self.policy.rules {
            let mut s = SectionWriter::new("rule", rule.name.as_deref());
            s.set("enabled", format_bool(rule.enabled))
                .set("action", keyword_str(rule.action))
                .list("user", rule.users.iter().cloned())
                .list("group", rule.groups.iter().cloned())
                .list("source", rule.sources.iter().map(Cidr::to_string));
            if let Some(n) = rule.max_sessions {
                s.set("max_sessions", n.to_string());
                s.set("replace_oldest", format_bool(rule.replace_oldest));
            }
            sections.push(s.0);
        }

        let o = &self.ocserv;
        let mut s = SectionWriter::new("ocserv", Some("ocserv"));
        s.set("config", path(&o.config))
            .set_opt("ctl_socket", o.ctl_socket.as_ref())
            .set("per_user_dir", path(&o.per_user_dir))
            .set("per_group_dir", path(&o.per_group_dir))
            .set("local_conf", path(&o.local_conf))
            .set("init_script", path(&o.init_script))
            .set("backup_dir", path(&o.backup_dir))
            .set("backup_keep", o.backup_keep.to_string())
            .set("logread", path(&o.logread))
            .set_opt("syslog_file", o.syslog_file.as_ref());
        sections.push(s.0);

        let g = &self.grpc;
        let mut s = SectionWriter::new("grpc", Some("grpc"));
        s.set("enabled", format_bool(g.enabled))
            .set("listen", g.listen.to_string())
            .set_opt("ca", g.ca.as_ref())
            .set_opt("cert", g.cert.as_ref())
            .set_opt("key", g.key.as_ref())
            .list("allowed_client", g.allowed_client.iter().cloned())
            .set("allow_tls12", format_bool(g.allow_tls12))
            .set("max_connections", g.max_connections.to_string())
            .set("max_message_size", g.max_message_size.to_string())
            .set("request_budget", g.request_budget.to_string())
            .list("allowed_command", g.allowed_command.iter().cloned());
        sections.push(s.0);

        let c = &self.control;
        let mut s = SectionWriter::new("control", Some("control"));
        s.set("enabled", format_bool(c.enabled))
            .set_opt("address", c.address.as_ref())
            .set("heartbeat_interval", format_duration(c.heartbeat_interval))
            .set_opt("server_name", c.server_name.as_ref())
            .set_opt("ca", c.ca.as_ref())
            .set_opt("cert", c.cert.as_ref())
            .set_opt("key", c.key.as_ref());
        sections.push(s.0);

        let m = &self.metrics;
        let mut s = SectionWriter::new("metrics", Some("metrics"));
        s.set("enabled", format_bool(m.enabled))
            .set("listen", m.listen.to_string())
            .set_opt("textfile", m.textfile.as_ref())
            .set("textfile_interval", format_duration(m.textfile_interval));
        sections.push(s.0);

        let o = &self.outbox;
        let mut s = SectionWriter::new("outbox", Some("outbox"));
        s.set("enabled", format_bool(o.enabled))
            .set("dir", path(&o.dir))
            .set("max_events", o.max_events.to_string())
            .set("retry_max", format_duration(o.retry_max));
        sections.push(s.0);

        Package {
            sections,
            ..Package::default()
        }
    }
}
