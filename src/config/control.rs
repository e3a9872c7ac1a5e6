//! `config control 'control'`: the outbound stream for routers behind NAT. In one place: its type
//! and defaults, how the file's options are read (and checked against each other), and its `uci
//! show` form.

use super::from_uci::{duration_in, parse_address, parse_path, parse_server_name, require_files};
use super::reader::SectionReader;
use super::schema::SectionWriter;
use super::uci::Section;
use super::units::{format_bool, format_duration, parse_bool};
use super::Portal;
use std::path::PathBuf;
use std::time::Duration;

/// `config control 'control'`: the outbound stream for routers behind NAT.
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    /// `option enabled`: whether the agent dials out.
    pub enabled: bool,
    /// `option address`: the portal's `host:port` for the stream; the portal's address when unset.
    pub address: Option<String>,
    /// `option heartbeat_interval`: time between heartbeats on the stream.
    pub heartbeat_interval: Duration,
    /// TLS settings; each falls back to the portal section's when unset.
    pub server_name: Option<String>,
    /// `option ca`: the CA the portal's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// `option cert`: the agent's client certificate.
    pub cert: Option<PathBuf>,
    /// `option key`: the key of `cert`.
    pub key: Option<PathBuf>,
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

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Control {
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

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(c: &Control) -> Section {
    let mut s = SectionWriter::new("control", Some("control"));
    s.set("enabled", format_bool(c.enabled))
        .set_opt("address", c.address.as_ref())
        .set("heartbeat_interval", format_duration(c.heartbeat_interval))
        .set_opt("server_name", c.server_name.as_ref())
        .set_opt("ca", c.ca.as_ref())
        .set_opt("cert", c.cert.as_ref())
        .set_opt("key", c.key.as_ref());
    s.0
}

/// Fills in what the section leaves to the portal's (server name and TLS files), then the
/// checks: (option, problem) for each.
pub(super) fn check(ctl: &mut Control, portal: &Portal, at: &mut dyn FnMut(&str, String)) {
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
                "enabled",
                "control is enabled but 'option address' (host:port) is not set".into(),
            );
        }
        require_files(
            at,
            "control",
            [("ca", &ctl.ca), ("cert", &ctl.cert), ("key", &ctl.key)],
        );
    }
}
