//! The agent's configuration: a UCI file (`/etc/config/ocserv-agent`) read into typed settings.
//!
//! [`load`] is the one entry point: it reads, parses and validates, and on failure returns every
//! problem as `PATH:LINE: message`, the form editors and `check-config` users jump to.
//!
//! - reading the file as libuci does: uci_read.rs (the lexer libuci's parser follows), uci.rs
//!   (the package), reader.rs (typed reads of one section, unknown options);
//! - one file per section, each with its type, defaults, reader, checks and `uci show` form:
//!   agent.rs, portal.rs, resilience.rs, policy.rs (and its rules), ocserv.rs, grpc.rs,
//!   control.rs, metrics.rs, outbox.rs;
//! - across sections: from_uci.rs (the package to a [`Config`], checks between sections, the
//!   option value parsers), schema.rs ([`Config`], keywords, the `uci show` writer), show.rs,
//!   units.rs (durations, booleans, modes, CIDRs).

mod agent;
mod control;
mod from_uci;
mod grpc;
mod invalid;
mod metrics;
mod ocserv;
mod outbox;
mod policy;
mod portal;
pub mod reader;
mod resilience;
pub mod schema;
pub mod show;
pub mod uci;
mod uci_read;
pub mod units;

pub use agent::{Agent, ClientSettings};
pub use control::Control;
pub use grpc::Grpc;
pub use invalid::Invalid;
pub use metrics::Metrics;
pub use ocserv::Ocserv;
pub use outbox::Outbox;
pub use policy::{Policy, Rule, Verdict};
pub use portal::Portal;
pub use resilience::{Environment, FailMode, Resilience};
pub use schema::*;

use std::fmt;
use std::path::{Path, PathBuf};

/// The path `run`, `hook`, `status` and `check-config` use without `-c`.
pub const DEFAULT_PATH: &str = "/etc/config/ocserv-agent";

/// Config files are a few kilobytes; anything much larger is not a config file.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// Why a configuration could not be loaded: every problem, in line order.
#[derive(Debug)]
pub struct LoadError {
    /// The file that was read.
    pub path: PathBuf,
    /// Every problem found, in line order.
    pub problems: Vec<reader::Problem>,
}

impl fmt::Display for LoadError {
    /// One `PATH:LINE: message` line per problem (`PATH: message` for whole-file problems).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.line == 0 {
                write!(f, "{}: {}", self.path.display(), p.message)?;
            } else {
                write!(f, "{}:{}: {}", self.path.display(), p.line, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let whole_file = |message: String| LoadError {
        path: path.to_path_buf(),
        problems: vec![reader::Problem { line: 0, message }],
    };
    let bytes = read_bounded(path).map_err(whole_file)?;
    parse(&bytes).map_err(|problems| LoadError {
        path: path.to_path_buf(),
        problems,
    })
}

/// Reads only what the hook and `status` need (see [`ClientSettings`]), tolerating problems
/// outside the `agent` section and a syntax error after it. Reading stops at a syntax error,
/// as libuci's does: an `agent` section after one is not seen, and the hook then uses the
/// defaults (a socket it may not find: `hook_fallback`, deny unless set otherwise).
pub fn client_settings(path: &Path) -> Result<ClientSettings, LoadError> {
    let error = |problems| LoadError {
        path: path.to_path_buf(),
        problems,
    };
    let bytes =
        read_bounded(path).map_err(|message| error(vec![reader::Problem { line: 0, message }]))?;
    let (package, _) = uci::parse(&bytes);
    agent::client_settings(&package).map_err(error)
}

/// What the file at `path` says that libuci reads one way and an operator may mean another,
/// as `PATH:LINE: warning: ...` lines (check-config prints them; nothing is refused for them).
pub fn warnings(path: &Path) -> Vec<String> {
    let Ok(bytes) = read_bounded(path) else {
        return Vec::new();
    };
    let (package, _) = uci::parse(&bytes);
    let at = |line: u32| format!("{}:{line}: warning: ", path.display());
    let mut out: Vec<String> = package
        .dropped
        .iter()
        .map(|&line| {
            at(line)
                + "the text after a ';' glued to a word is ignored, as libuci ignores it; \
                   put a space before the ';' or start a new line"
        })
        .collect();
    if let Some((name, line)) = package.declared_name.filter(|(n, _)| n != PACKAGE) {
        out.push(
            at(line)
                + &format!("this file declares package '{name}'; it is read as '{PACKAGE}' all the same, as libuci reads it"),
        );
    }
    out
}

/// Validates configuration text; the problems carry line numbers.
pub fn parse(bytes: &[u8]) -> Result<Config, Vec<reader::Problem>> {
    let (package, syntax) = uci::parse(bytes);
    let typed = from_uci::from_package(&package);
    let mut problems: Vec<reader::Problem> = syntax
        .into_iter()
        .map(|e| reader::Problem {
            line: e.line,
            message: e.message,
        })
        .collect();
    match typed {
        Ok(config) if problems.is_empty() => return Ok(config),
        Ok(_) => {}
        Err(more) => problems.extend(more),
    }
    problems.sort_by_key(|p| p.line);
    Err(problems)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(format!("file is larger than {MAX_FILE_SIZE} bytes"));
    }
    Ok(bytes)
}

/// The effective configuration in `uci show` form, defaults filled in.
pub fn show(config: &Config) -> String {
    show::show(PACKAGE, &config.to_package())
}
