//! ocserv's per-user and per-group config files (`config-per-user`, `config-per-group`):
//! names checked before they become paths, keys from an allow-list, values checked per key,
//! files replaced atomically with an optional timestamped backup.
//!
//! The files hold ocserv's own `key = value` lines. Only the keys in [`ALLOWED`] may be written:
//! anything else (a `connect-script` for one user, say) is refused with the key's name.

use super::version::Version;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Keys an agent may set in a per-user or per-group file.
pub const ALLOWED: &[&str] = &[
    "route",
    "no-route",
    "iroute",
    "dns",
    "split-dns",
    "ipv4-network",
    "ipv4-netmask",
    "ipv6-network",
    "rx-data-per-sec",
    "tx-data-per-sec",
    "max-same-clients",
    "restrict-user-to-routes",
    "restrict-user-to-ports",
    "idle-timeout",
    "mobile-idle-timeout",
    "session-timeout",
    "mtu",
    "dpd",
    "mobile-dpd",
    "keepalive",
    "tunnel-all-dns",
    "explicit-ipv4",
    "deny-roaming",
    "net-priority",
    "no-udp",
    "cgroup",
    "stats-report-time",
    "min-reauth-time",
    "ban-time",
];

/// Keys that decide which programs ocserv runs for a session (or how it reaches the agent):
/// never written by the agent, in any file, so that nothing it is told can stop ocserv from
/// asking it.
pub const SCRIPT_KEYS: &[&str] = &[
    "connect-script",
    "disconnect-script",
    "host-update-script",
    "use-occtl",
    "occtl-socket-file",
];

/// Keys of [`ALLOWED`] that ocserv takes only in a per-user or per-group file.
const PER_USER_ONLY: &[&str] = &["iroute"];

/// Keys of [`ALLOWED`] that ocserv takes only in its main config.
const MAIN_ONLY: &[&str] = &["min-reauth-time", "ban-time"];

/// Longest value written.
const MAX_VALUE: usize = 256;

/// Why a file could not be written, naming what was wrong.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfError {
    BadName(String),
    UnknownKey(String),
    /// One of [`SCRIPT_KEYS`].
    ScriptKey(String),
    NotInMain(&'static str),
    /// One of [`MAIN_ONLY`] for a per-user or per-group file.
    OnlyInMain(&'static str),
    /// A key the running ocserv does not read: its version, and why.
    NotInVersion {
        key: &'static str,
        version: Version,
        why: &'static str,
    },
    BadValue {
        key: String,
        value: String,
        why: String,
    },
    Syntax {
        line: usize,
        text: String,
    },
    Io(String),
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfError::BadName(n) => write!(
                f,
                "'{}' is not a valid user or group name (letters, digits, _ . @ -; no leading . or -)",
                short(n)
            ),
            ConfError::UnknownKey(k) => write!(
                f,
                "'{}' may not be set per user or group (allowed: {})",
                short(k),
                ALLOWED.join(", ")
            ),
            ConfError::ScriptKey(k) => write!(
                f,
                "'{k}' may not be set by the agent: it decides which scripts ocserv runs (the agent's own hook lines stay as they are)"
            ),
            ConfError::NotInMain(k) => write!(
                f,
                "'{k}' belongs in a per-user or per-group file, not in the main config"
            ),
            ConfError::OnlyInMain(k) => write!(
                f,
                "'{k}' belongs in the main config (CONFIG_TYPE_MAIN), not in a per-user or per-group file"
            ),
            ConfError::NotInVersion { key, version, why } => {
                write!(f, "'{key}' is not for the running ocserv {version}: {why}")
            }
            ConfError::BadValue { key, value, why } => {
                write!(f, "{key} = '{}': {why}", short(value))
            }
            ConfError::Syntax { line, text } => write!(
                f,
                "line {line}: '{}' is not 'key = value'",
                short(text)
            ),
            ConfError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConfError {}

/// Text from a request or a file, as an error quotes it: escaped, and cut to [`QUOTED`]
/// characters, so that a reply never carries a whole hostile line back.
fn short(text: &str) -> String {
    let quoted: String = text.chars().take(QUOTED).collect::<String>();
    let mut out = quoted.escape_default().to_string();
    if text.chars().nth(QUOTED).is_some() {
        out += &format!("… ({} bytes)", text.len());
    }
    out
}

/// How many characters of outside text an error quotes.
const QUOTED: usize = 64;

/// One checked `key = value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub key: &'static str,
    pub value: String,
}

/// A user or group name that will become a file name.
pub fn check_name(name: &str) -> Result<(), ConfError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ConfError::BadName(name.to_string()))
    }
}

/// Checks one key and its value.
pub fn directive(key: &str, value: &str) -> Result<Directive, ConfError> {
    if let Some(k) = SCRIPT_KEYS.iter().find(|k| **k == key) {
        return Err(ConfError::ScriptKey(k.to_string()));
    }
    let key = ALLOWED
        .iter()
        .copied()
        .find(|k| *k == key)
        .ok_or_else(|| ConfError::UnknownKey(key.to_string()))?;
    let value = value.trim();
    let bad = |why: &str| ConfError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        why: why.to_string(),
    };
    if value.is_empty() || value.len() > MAX_VALUE || value.chars().any(char::is_control) {
        return Err(bad("empty, too long, or with control characters"));
    }
    let number = |max: u64| {
        value
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .map(|_| ())
            .ok_or_else(|| bad(&format!("not a whole number from 0 to {max}")))
    };
    match key {
        "route" if value == "default" => Ok(()),
        "route" | "no-route" | "iroute" => check_network(value).map_err(|w| bad(&w)),
        "ipv6-network" => match check_network(value) {
            Ok(()) if value.contains(':') => Ok(()),
            _ => Err(bad("not an IPv6 network (address/prefix)")),
        },
        "dns" => value
            .parse::<IpAddr>()
            .map(|_| ())
            .map_err(|_| bad("not an IP address")),
        "ipv4-network" | "explicit-ipv4" => value
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| bad("not an IPv4 address")),
        "ipv4-netmask" => match value.parse::<Ipv4Addr>() {
            Ok(m) if u32::from(m).leading_ones() + u32::from(m).trailing_zeros() == 32 => Ok(()),
            _ => Err(bad("not an IPv4 netmask")),
        },
        "split-dns" => check_domain(value).map_err(|w| bad(&w)),
        "restrict-user-to-routes" | "tunnel-all-dns" | "deny-roaming" | "no-udp" => match value {
            "true" | "false" => Ok(()),
            _ => Err(bad("use true or false")),
        },
        "restrict-user-to-ports" => check_ports(value).map_err(|w| bad(&w)),
        "mtu" => number(65_535),
        "net-priority" => number(7),
        "max-same-clients" => number(1_000_000),
        "cgroup" => check_cgroup(value).map_err(bad),
        _ => number(u64::from(u32::MAX)),
    }?;
    Ok(Directive {
        key,
        value: value.to_string(),
    })
}

/// `CONTROLLERS:PATH` (`cpuset,cpu:vpn`): ocserv puts the worker under each controller's mount
/// at PATH, so PATH stays inside it: relative, no `..` step.
fn check_cgroup(value: &str) -> Result<(), &'static str> {
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b",:/._-".contains(&b))
    {
        return Err("letters, digits and , : / . _ - only");
    }
    let Some((controllers, path)) = value.split_once(':') else {
        return Err("CONTROLLERS:PATH, as in cpuset,cpu:vpn");
    };
    let controller = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b',';
    if controllers.is_empty()
        || !controllers.bytes().all(controller)
        || path.is_empty()
        || path.contains(':')
    {
        return Err("CONTROLLERS:PATH, as in cpuset,cpu:vpn");
    }
    // Any `..`, not only a `..` step: no value written to a per-user file carries one (the
    // property fuzz/fuzz_targets/user_config.rs checks; `cpu:a..b` was the case it found).
    if path.starts_with('/') || path.contains("..") {
        return Err("the path must stay under the controller: relative, no '..'");
    }
    Ok(())
}

/// `a.b.c.d/len`, `a.b.c.d/m.a.s.k` or `v6/len`.
fn check_network(value: &str) -> Result<(), String> {
    let (addr, prefix) = value
        .split_once('/')
        .ok_or("not a network: address/prefix")?;
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => {
            if let Ok(mask) = prefix.parse::<Ipv4Addr>() {
                let m = u32::from(mask);
                return (m.leading_ones() + m.trailing_zeros() == 32)
                    .then_some(())
                    .ok_or_else(|| "not a netmask".to_string());
            }
            match prefix.parse::<u8>() {
                Ok(p) if p <= 32 => Ok(()),
                _ => Err("prefix length 0-32".into()),
            }
        }
        Ok(IpAddr::V6(_)) => match prefix.parse::<u8>() {
            Ok(p) if p <= 128 => Ok(()),
            _ => Err("prefix length 0-128".into()),
        },
        Err(_) => Err(format!("'{addr}' is not an IP address")),
    }
}

fn check_domain(value: &str) -> Result<(), String> {
    let ok = value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then_some(())
        .ok_or_else(|| "not a domain name".to_string())
}

/// ocserv's port list: `tcp(443), udp(53), !icmp()`-style entries.
fn check_ports(value: &str) -> Result<(), String> {
    for entry in value.split(',').map(str::trim) {
        let entry = entry.strip_prefix('!').unwrap_or(entry);
        let (proto, rest) = entry
            .split_once('(')
            .ok_or_else(|| format!("'{entry}' is not proto(port)"))?;
        let port = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("'{entry}' is not proto(port)"))?;
        if !matches!(proto, "tcp" | "udp" | "sctp" | "icmp" | "icmpv6") {
            return Err(format!("unknown protocol '{proto}'"));
        }
        if !port.is_empty() && port.parse::<u16>().is_err() {
            return Err(format!("'{port}' is not a port"));
        }
    }
    Ok(())
}

/// Reads `key = value` lines (blank lines and `#` comments skipped), each checked.
pub fn parse(text: &str) -> Result<Vec<Directive>, ConfError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (k, v) = t.split_once('=').ok_or(ConfError::Syntax {
            line: i + 1,
            text: t.to_string(),
        })?;
        out.push(directive(k.trim(), v)?);
    }
    Ok(out)
}

/// Refuses directives that ocserv would not take in its main config.
pub fn check_main(directives: &[Directive]) -> Result<(), ConfError> {
    match directives.iter().find(|d| PER_USER_ONLY.contains(&d.key)) {
        Some(d) => Err(ConfError::NotInMain(d.key)),
        None => Ok(()),
    }
}

/// Refuses keys that ocserv reads only from its main config.
pub fn check_per_user(directives: &[Directive]) -> Result<(), ConfError> {
    match directives.iter().find(|d| MAIN_ONLY.contains(&d.key)) {
        Some(d) => Err(ConfError::OnlyInMain(d.key)),
        None => Ok(()),
    }
}

/// Refuses keys the running ocserv would not read (it skips them with a warning in its log,
/// so a write would look done and do nothing): `cgroup` from 1.5.0, which dropped it;
/// `ban-time` before 1.4.1, which introduced it (`min-reauth-time`, its old name, is read by
/// every version and is the one to use for a mixed fleet).
pub fn check_version(directives: &[Directive], version: Version) -> Result<(), ConfError> {
    for d in directives {
        let why = match d.key {
            "cgroup" if version >= Version::NO_CGROUP => {
                "ocserv 1.5.0 dropped it and ignores the line"
            }
            "ban-time" if version < Version::SESSION_START => {
                "it is new in ocserv 1.4.1; use min-reauth-time, which every version reads"
            }
            _ => continue,
        };
        return Err(ConfError::NotInVersion {
            key: d.key,
            version,
            why,
        });
    }
    Ok(())
}

/// The file's text: a header saying who wrote it, then the lines.
pub fn render(directives: &[Directive]) -> String {
    String::from("# Written by ocserv-agent; edits here are replaced by the next update.\n")
        + &render_lines(directives)
}

/// `key = value` lines, each ending in a newline.
pub fn render_lines(directives: &[Directive]) -> String {
    let mut text = String::new();
    for d in directives {
        text += &format!("{} = {}\n", d.key, d.value);
    }
    text
}

/// What [`replace`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    /// The previous file's copy, when there was one and a backup was asked for.
    pub backup: Option<PathBuf>,
}

/// Where the previous version of a file goes, and how many of a name's backups are kept (the
/// newest; flash is small and `ocserv.backup_keep` bounds what updates leave behind).
#[derive(Clone, Copy, Debug)]
pub struct Backup<'a> {
    pub dir: &'a Path,
    pub keep: u32,
}

/// Replaces `dir/name` with `text` (temp file, fsync, rename, fsync dir). With a backup, a
/// previous file is first copied to `backup.dir/name.YYYYmmddTHHMMSS.NNN` (with the file's own
/// mode) and that name's older backups beyond `backup.keep` are removed. A failure leaves the
/// old file.
pub fn replace(
    dir: &Path,
    name: &str,
    text: &str,
    backup_to: Option<Backup<'_>>,
) -> Result<Written, ConfError> {
    check_name(name)?;
    let path = dir.join(name);
    let io = |what: &str, p: &Path, e: std::io::Error| {
        ConfError::Io(format!("cannot {what} {}: {e}", p.display()))
    };
    crate::fsutil::refuse_link(&path).map_err(|e| io("replace", &path, e))?;
    // A file that exists keeps its mode (ocserv.conf itself may be 0600), and so does its
    // backup; a new one is 0644.
    let mode = std::fs::symlink_metadata(&path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap_or(0o644);
    let mut backup = None;
    if let Some(Backup { dir: bdir, keep }) = backup_to {
        match crate::fsutil::read_nofollow(&path) {
            Ok(old) => {
                std::fs::create_dir_all(bdir).map_err(|e| io("create", bdir, e))?;
                let b = bdir.join(format!("{name}.{}", stamp(SystemTime::now())));
                crate::fsutil::write_atomic(&b, &old, mode).map_err(|e| io("write", &b, e))?;
                if let Err(e) = prune(bdir, name, keep) {
                    log::warn!(
                        "cannot prune old backups of {name} in {}: {e}",
                        bdir.display()
                    );
                }
                backup = Some(b);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &path, e)),
        }
    }
    crate::fsutil::write_atomic(&path, text.as_bytes(), mode).map_err(|e| io("write", &path, e))?;
    Ok(Written { path, backup })
}

/// Removes `name`'s backups in `dir` beyond the newest `keep` (at least one is always kept).
/// Only names of the form `name.STAMP` are touched: another file in the directory never is.
fn prune(dir: &Path, name: &str, keep: u32) -> std::io::Result<()> {
    let prefix = format!("{name}.");
    let mut ours: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|f| f.strip_prefix(&prefix).is_some_and(is_stamp))
        .collect();
    // The stamps sort as they were made.
    ours.sort_unstable();
    let excess = ours.len().saturating_sub(keep.max(1) as usize);
    for old in &ours[..excess] {
        std::fs::remove_file(dir.join(old))?;
    }
    Ok(())
}

/// `YYYYmmddTHHMMSS.mmm`, as [`stamp`] makes them.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// `20261126T140102.123` in UTC: sortable, unique enough for backups made by one daemon.
fn stamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let (year, month, day, h, m, sec) = crate::utc::parts(d.as_secs() as i64);
    format!(
        "{year:04}{month:02}{day:02}T{h:02}{m:02}{sec:02}.{:03}",
        d.subsec_millis()
    )
}

#[cfg(test)]
#[path = "conffile_tests.rs"]
mod tests;
