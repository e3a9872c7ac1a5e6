//! `config outbox 'outbox'`: connect and disconnect reports to the portal, journalled. In one
//! place: its type and defaults, how the file's options are read (and checked against each other),
//! and its `uci show` form.

use super::from_uci::{duration_in, number_in, parse_path};
use super::invalid::Invalid;
use super::reader::SectionReader;
use super::schema::SectionWriter;
use super::uci::Section;
use super::units::{format_bool, format_duration, parse_bool};
use std::path::PathBuf;
use std::time::Duration;

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

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Outbox {
    let d = Outbox::default();
    let outbox = Outbox {
        enabled: r.or("enabled", d.enabled, parse_bool),
        dir: r.or("dir", d.dir, |s| {
            parse_path(s).and_then(|p| match p.is_absolute() {
                true => Ok(p),
                false => Err(Invalid::NotAbsolute(s.to_string())),
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

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(o: &Outbox) -> Section {
    let mut s = SectionWriter::new("outbox", Some("outbox"));
    s.set("enabled", format_bool(o.enabled))
        .set("dir", super::schema::path(&o.dir))
        .set("max_events", o.max_events.to_string())
        .set("retry_max", format_duration(o.retry_max));
    s.0
}
