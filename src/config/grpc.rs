//! `config grpc 'grpc'`: the management server the portal calls (mTLS). In one place: its type and
//! defaults, how the file's options are read (and checked against each other), and its `uci show`
//! form.

use super::from_uci::{number_in, parse_client_identity, parse_listen, parse_path, require_files};
use super::invalid::Invalid;
use super::reader::SectionReader;
use super::schema::SectionWriter;
use super::uci::Section;
use super::units::{format_bool, parse_bool};
use std::net::SocketAddr;
use std::path::PathBuf;

/// `config grpc 'grpc'`: the management server the portal calls (mTLS).
#[derive(Clone, Debug, PartialEq)]
pub struct Grpc {
    /// `option enabled`: whether the management server runs.
    pub enabled: bool,
    /// `option listen`: the `IP:port` it listens on.
    pub listen: SocketAddr,
    /// `option ca`: the CA clients' certificates must chain to.
    pub ca: Option<PathBuf>,
    /// `option cert`: the server's certificate.
    pub cert: Option<PathBuf>,
    /// `option key`: the key of `cert`.
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

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Grpc {
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
                    .ok_or_else(|| Invalid::Command {
                        text: s.to_string(),
                        verbs: verbs.join(", "),
                    })
            })
            .unwrap_or(d.allowed_command),
    };
    r.finish();
    grpc
}

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(g: &Grpc) -> Section {
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
    s.0
}

/// The checks between options: (option, problem) for each.
pub(super) fn check(g: &Grpc, at: &mut dyn FnMut(&str, String)) {
    if g.request_budget / 2 < g.max_message_size {
        at(
            "request_budget",
            format!(
                "request_budget ({}) must be at least twice max_message_size ({}): one connection may use half of it",
                g.request_budget, g.max_message_size
            ),
        );
    }

    if g.enabled {
        require_files(
            at,
            "grpc",
            [("ca", &g.ca), ("cert", &g.cert), ("key", &g.key)],
        );
    }
}
