//! The typed configuration of package `ocserv-agent`, its defaults, and its rendering back to
//! UCI (what `check-config` prints). Reading it from a file lives in `from_uci.rs`.

use super::invalid::Invalid;
use super::resilience::Resilience;
use super::uci::{Opt, Package, Section, Value};
use super::{Agent, Control, Grpc, Metrics, Ocserv, Outbox, Policy, Portal};
pub use crate::logger::LogTarget;

/// The UCI package name: the file is `/etc/config/ocserv-agent`.
pub const PACKAGE: &str = "ocserv-agent";

/// Everything the agent reads from its config file.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `config agent`.
    pub agent: Agent,
    /// `config portal`.
    pub portal: Portal,
    /// `config resilience`.
    pub resilience: Resilience,
    /// `config policy` and the `config rule` sections.
    pub policy: Policy,
    /// `config ocserv`.
    pub ocserv: Ocserv,
    /// `config grpc`.
    pub grpc: Grpc,
    /// `config control`.
    pub control: Control,
    /// `config metrics`.
    pub metrics: Metrics,
    /// `config outbox`.
    pub outbox: Outbox,
}

/// A closed set of words that an option accepts, for enums read from the file.
pub trait Keyword: Sized + Copy + 'static {
    /// Accepted spellings and their values; the first spelling of a value is the canonical one.
    const WORDS: &'static [(&'static str, Self)];
    /// What the option is, for error messages.
    const WHAT: &'static str;
}

/// Parses one of `T::WORDS`.
pub fn parse_keyword<T: Keyword + PartialEq>(text: &str) -> Result<T, Invalid> {
    T::WORDS
        .iter()
        .find(|(w, _)| *w == text)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let mut names: Vec<&str> = T::WORDS.iter().map(|(w, _)| *w).collect();
            names.dedup();
            Invalid::Keyword {
                what: T::WHAT,
                text: text.to_string(),
                words: names.join(", "),
            }
        })
}

/// The canonical spelling of a keyword value.
pub fn keyword_str<T: Keyword + PartialEq>(value: T) -> &'static str {
    T::WORDS
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("?", |(w, _)| w)
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

pub(super) fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Config {
    /// The effective configuration, defaults filled in, as a UCI package.
    pub fn to_package(&self) -> Package {
        let mut sections = Vec::new();
        sections.push(super::agent::write(&self.agent));
        sections.push(super::portal::write(&self.portal));
        sections.push(super::resilience::write(&self.resilience));
        sections.extend(super::policy::write(&self.policy));
        sections.push(super::ocserv::write(&self.ocserv));
        sections.push(super::grpc::write(&self.grpc));
        sections.push(super::control::write(&self.control));
        sections.push(super::metrics::write(&self.metrics));
        sections.push(super::outbox::write(&self.outbox));

        Package {
            sections,
            ..Package::default()
        }
    }
}
