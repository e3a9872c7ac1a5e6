//! `config metrics 'metrics'`: Prometheus text over HTTP and/or a textfile. In one place: its type
//! and defaults, how the file's options are read (and checked against each other), and its `uci
//! show` form.

use super::from_uci::{duration_in, parse_listen, parse_path};
use super::reader::SectionReader;
use super::schema::SectionWriter;
use super::uci::Section;
use super::units::{format_bool, format_duration, parse_bool};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `config metrics 'metrics'`: Prometheus text over HTTP and/or a textfile.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// `option enabled`: whether /metrics is served.
    pub enabled: bool,
    /// `option listen`: the `IP:port` it listens on.
    pub listen: SocketAddr,
    /// A file for node-exporter's textfile collector, written atomically.
    pub textfile: Option<PathBuf>,
    /// How often the textfile is rewritten.
    pub textfile_interval: Duration,
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

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Metrics {
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

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(m: &Metrics) -> Section {
    let mut s = SectionWriter::new("metrics", Some("metrics"));
    s.set("enabled", format_bool(m.enabled))
        .set("listen", m.listen.to_string())
        .set_opt("textfile", m.textfile.as_ref())
        .set("textfile_interval", format_duration(m.textfile_interval));
    s.0
}
