//! `config portal 'portal'`: the remote policy service (`vpn.v1.AuthService`). In one place: its
//! type and defaults, how the file's options are read (and checked against each other), and its
//! `uci show` form.

use super::from_uci::{duration_in, parse_address, parse_path, parse_server_name, require_files};
use super::reader::SectionReader;
use super::schema::SectionWriter;
use super::uci::Section;
use super::units::{format_bool, format_duration, parse_bool, parse_duration};
use std::path::PathBuf;
use std::time::Duration;

/// `config portal 'portal'`: the remote policy service (`vpn.v1.AuthService`).
#[derive(Clone, Debug, PartialEq)]
pub struct Portal {
    /// `option enabled`: whether decisions ask the portal and events are reported.
    pub enabled: bool,
    /// `host:port`.
    pub address: Option<String>,
    /// TLS name to verify; the host part of `address` when unset.
    pub server_name: Option<String>,
    /// `option ca`: the CA the portal's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// `option cert`: the agent's client certificate.
    pub cert: Option<PathBuf>,
    /// `option key`: the key of `cert`.
    pub key: Option<PathBuf>,
    /// Deadline of one portal call; must be shorter than `agent.hook_timeout`.
    pub timeout: Duration,
    /// How often live sessions are put to ValidateSession; zero: never.
    pub validate_interval: Duration,
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

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Portal {
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

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(p: &Portal) -> Section {
    let mut s = SectionWriter::new("portal", Some("portal"));
    s.set("enabled", format_bool(p.enabled))
        .set_opt("address", p.address.as_ref())
        .set_opt("server_name", p.server_name.as_ref())
        .set_opt("ca", p.ca.as_ref())
        .set_opt("cert", p.cert.as_ref())
        .set_opt("key", p.key.as_ref())
        .set("timeout", format_duration(p.timeout))
        .set("validate_interval", format_duration(p.validate_interval));
    s.0
}

/// The checks between options (and the hook's timeout): (option, problem) for each.
pub(super) fn check(p: &Portal, hook_timeout: Duration, at: &mut dyn FnMut(&str, String)) {
    if p.enabled {
        if p.address.is_none() {
            at(
                "enabled",
                "portal is enabled but 'option address' (host:port) is not set".into(),
            );
        }
        require_files(
            at,
            "portal",
            [("ca", &p.ca), ("cert", &p.cert), ("key", &p.key)],
        );
        if p.timeout >= hook_timeout {
            at(
                "timeout",
                format!(
                    "portal timeout ({}) must be shorter than agent hook_timeout ({}), or the hook gives up before the portal answers",
                    super::units::format_duration(p.timeout),
                    super::units::format_duration(hook_timeout)
                ),
            );
        }
    }
}
