//! Turns a parsed UCI package into a [`Config`]: section types and names, each option's syntax
//! and range, then the checks that span options and sections. Every problem is collected.

use super::invalid::Invalid;
use super::reader::{closest, Problem, SectionReader};
use super::schema::*;
use super::uci::{Package, Section};
use super::units::{check_host_port, parse_duration, parse_mode};
use super::{Policy, Verdict};
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
    let agent = super::agent::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("portal");
    let portal = super::portal::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("resilience");
    let resilience = super::resilience::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("policy");
    let mut r = SectionReader::new(&s, label, &mut problems);
    let default = r.or("default", Verdict::Allow, parse_keyword);
    r.finish();
    let rules = rules
        .iter()
        .enumerate()
        .map(|(i, s)| super::policy::read_rule(s, i, &mut problems))
        .collect();
    let (s, label) = reader("ocserv");
    let ocserv = super::ocserv::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("grpc");
    let grpc = super::grpc::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("control");
    let control = super::control::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("metrics");
    let metrics = super::metrics::read(SectionReader::new(&s, label, &mut problems));
    let (s, label) = reader("outbox");
    let outbox = super::outbox::read(SectionReader::new(&s, label, &mut problems));

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

/// Checks that involve more than one option; fills in the control link's TLS from the portal's.
fn cross_checks(pkg: &Package, c: &mut Config, problems: &mut Vec<Problem>) {
    let mut at = |kind: &str, option: &str, message: String| {
        problems.push(Problem {
            line: line_of(pkg, kind, option),
            message,
        })
    };

    super::portal::check(&c.portal, c.agent.hook_timeout, &mut |o, m| {
        at("portal", o, m)
    });
    super::grpc::check(&c.grpc, &mut |o, m| at("grpc", o, m));
    super::resilience::check(&c.resilience, &mut |o, m| at("resilience", o, m));
    super::control::check(&mut c.control, &c.portal, &mut |o, m| at("control", o, m));
}

/// Each TLS file must be set and readable when its section is enabled.
pub(super) fn require_files(
    at: &mut dyn FnMut(&str, String),
    kind: &str,
    files: [(&str, &Option<PathBuf>); 3],
) {
    for (option, file) in files {
        match file {
            None => at(
                "enabled",
                format!("{kind} is enabled but 'option {option}' is not set"),
            ),
            Some(path) => {
                if let Err(e) = std::fs::File::open(path) {
                    at(option, format!("{kind} {option} '{}': {e}", path.display()));
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

pub(super) fn duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, Invalid> {
    let d = parse_duration(s)?;
    if d < min || d > max {
        return Err(Invalid::OutOfRange {
            text: s.to_string(),
            min: super::units::format_duration(min),
            max: super::units::format_duration(max),
        });
    }
    Ok(d)
}

pub(super) fn number_in(s: &str, min: u32, max: u32) -> Result<u32, Invalid> {
    match s.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Invalid::Number {
            text: s.to_string(),
            min,
            max,
        }),
    }
}

pub(super) fn parse_id(s: &str) -> Result<String, Invalid> {
    if s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(Invalid::Id(s.to_string()))
    }
}

pub(super) fn parse_uid(s: &str) -> Result<u32, Invalid> {
    s.parse().map_err(|_| Invalid::Uid(s.to_string()))
}

pub(super) fn parse_path(s: &str) -> Result<PathBuf, Invalid> {
    if s.contains('\n') {
        return Err(Invalid::LineBreak);
    }
    Ok(PathBuf::from(s))
}

/// Unix socket paths must fit `sun_path` (108 bytes with the terminating NUL).
pub(super) fn parse_socket_path(s: &str) -> Result<PathBuf, Invalid> {
    let p = parse_path(s)?;
    if s.len() > 107 {
        return Err(Invalid::SocketPathLength(s.len()));
    }
    if Path::new(s).file_name().is_none() {
        return Err(Invalid::NotAFile(s.to_string()));
    }
    Ok(p)
}

/// The hook socket must not be open to every local user.
pub(super) fn parse_socket_mode(s: &str) -> Result<u32, Invalid> {
    let mode = parse_mode(s)?;
    if mode & 0o007 != 0 {
        return Err(Invalid::SocketMode {
            mode: s.to_string(),
            why: "lets every local user reach the daemon",
        });
    }
    if mode & 0o600 != 0o600 {
        return Err(Invalid::SocketMode {
            mode: s.to_string(),
            why: "denies the owner read/write",
        });
    }
    if mode & 0o7000 != 0 {
        return Err(Invalid::SocketMode {
            mode: s.to_string(),
            why: "has setuid/setgid/sticky bits",
        });
    }
    Ok(mode)
}

pub(super) fn parse_address(s: &str) -> Result<String, Invalid> {
    check_host_port(s).map(|()| s.to_string())
}

pub(super) fn parse_listen(s: &str) -> Result<SocketAddr, Invalid> {
    s.parse().map_err(|_| Invalid::Listen(s.to_string()))
}

pub(super) fn parse_server_name(s: &str) -> Result<String, Invalid> {
    check_host_port(&format!("{s}:1"))
        .map(|()| s.to_string())
        .map_err(|_| Invalid::ServerName(s.to_string()))
}

/// User and group names as ocserv passes them: printable, no white space.
pub(super) fn parse_account_name(s: &str) -> Result<String, Invalid> {
    if !s.is_empty() && s.len() <= 256 && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(s.to_string())
    } else {
        Err(Invalid::AccountName(s.to_string()))
    }
}

pub(super) fn parse_client_identity(s: &str) -> Result<String, Invalid> {
    if !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(Invalid::ClientIdentity(s.to_string()))
    }
}

#[cfg(test)]
#[path = "from_uci_tests.rs"]
mod tests;
