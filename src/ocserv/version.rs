//! Which ocserv is running, for what differs between the versions routers run (1.3.0 on OpenWrt
//! 23.05/24.10, 1.4.1 on master, 1.5.0 upstream; Debian 12 has 1.1.6): occtl's wording, and
//! directives that were added, renamed or dropped.
//!
//! The control protocol does not say its version, so the running binary is asked:
//! `/proc/PID/exe --version`, PID from STATUS. That is the binary ocserv runs (an upgrade on
//! disk that was not restarted yet does not count), found without configuration. It runs once
//! per ocserv process (the answer is kept by PID), on the disk thread, never on the executor:
//! a fixed argv, no shell, stdin closed, at most [`DEADLINE`], the output read up to 4 KiB. A
//! binary not named `ocserv`, not owned by root, or writable by others, is not run. When no version can be had
//! (ocserv in another PID namespace, a binary that prints something else) the callers fall
//! back to what the replies themselves show (`session_start_time` means 1.4.1 or later).

use super::ctl::Client;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long `ocserv --version` may take before it is killed and the version is unknown.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// An ocserv release, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u16, pub u16, pub u16);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// 1.4.1: `session_start_time` on the wire, occtl's "Last connected at" / "Session started
    /// at", `ban-time` (was `min-reauth-time`).
    pub const SESSION_START: Version = Version(1, 4, 1);
    /// 1.2.4: occtl prints SI symbols, `kB` and `/s` (before: `KB` and `/sec`).
    pub const SI_SYMBOLS: Version = Version(1, 2, 4);
    /// 1.5.0: `cgroup` is gone (ocserv ignores the line).
    pub const NO_CGROUP: Version = Version(1, 5, 0);

    /// The version in `ocserv --version` output: its first line is `ocserv 1.1.6` (1.1.x) or
    /// `OpenConnect VPN Server 1.3.0` (later). Anything else is `None`, never a guess.
    pub fn parse(output: &str) -> Option<Version> {
        let first = output.lines().next()?.trim();
        let number = first
            .strip_prefix("OpenConnect VPN Server ")
            .or_else(|| first.strip_prefix("ocserv "))?;
        let mut parts = number.split('.');
        let mut next = || -> Option<u16> {
            let p = parts.next()?;
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = Version(next()?, next()?, next()?);
        parts.next().is_none().then_some(v)
    }
}

/// Why a version could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum VersionError {
    /// The binary was not run: missing, not root's, or writable by others.
    NotRun(String),
    /// It ran past [`DEADLINE`] and was killed.
    TimedOut,
    /// Its output has no version in a known form (the first line, quoted).
    Unrecognised(String),
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionError::NotRun(why) => write!(f, "not run: {why}"),
            VersionError::TimedOut => write!(f, "no answer within {DEADLINE:?}"),
            VersionError::Unrecognised(line) => {
                write!(f, "no version in '{}'", line.escape_default())
            }
        }
    }
}

/// Runs `binary --version` (blocking: call it off the executor) and reads the version.
pub fn of_binary(binary: &Path) -> Result<Version, VersionError> {
    let meta = std::fs::metadata(binary)
        .map_err(|e| VersionError::NotRun(format!("{}: {e}", binary.display())))?;
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(VersionError::NotRun(format!(
            "{} is not root's alone (uid {}, mode {:o})",
            binary.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    let mut child = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .spawn()
        .map_err(|e| VersionError::NotRun(format!("{}: {e}", binary.display())))?;
    let until = Instant::now() + DEADLINE;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VersionError::TimedOut);
            }
        }
    }
    // ocserv 1.1.6 prints to stdout, later ones to stderr.
    let mut text = String::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut buf = Vec::new();
        let _ = pipe.take(4096).read_to_end(&mut buf);
        text += &String::from_utf8_lossy(&buf);
    }
    let text = text.trim_start();
    Version::parse(text)
        .ok_or_else(|| VersionError::Unrecognised(text.lines().next().unwrap_or("").to_string()))
}

/// [`of_binary`] for the executable of process `pid`, if its name is ocserv's: the PID comes
/// from a reply, and no other program is run on its say-so.
fn of_process(pid: u32) -> Result<Version, VersionError> {
    let exe = format!("/proc/{pid}/exe");
    let target =
        std::fs::read_link(&exe).map_err(|e| VersionError::NotRun(format!("{exe}: {e}")))?;
    if !is_ocserv(&target) {
        return Err(VersionError::NotRun(format!(
            "{exe} is {}, not ocserv",
            target.display()
        )));
    }
    of_binary(Path::new(&exe))
}

/// Whether a path names an ocserv executable (`ocserv`, or ` (deleted)` after it when the
/// binary was replaced on disk since ocserv started).
fn is_ocserv(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "ocserv" || n == "ocserv (deleted)")
}

/// The last answer: ocserv's main PID and its version (or `None` when it could not be had, so
/// that a binary that does not answer is not run again for the same process).
static KNOWN: Mutex<Option<(u32, Option<Version>)>> = Mutex::new(None);

/// The version of the ocserv behind `client`, `None` when it cannot be had (ocserv down, no
/// PID in STATUS, see the module's notes). Costs a STATUS round trip; runs the binary only for
/// a PID not seen before.
pub async fn running(client: &Client) -> Option<Version> {
    of_main_pid(client.status().await.ok()?.pid).await
}

/// The version of the ocserv whose main process is `pid` (STATUS's `pid`), as [`running`].
pub async fn of_main_pid(pid: Option<u32>) -> Option<Version> {
    let pid = pid.filter(|&p| p > 0)?;
    if let Some((known, v)) = *KNOWN.lock().unwrap_or_else(|e| e.into_inner()) {
        if known == pid {
            return v;
        }
    }
    let found = crate::offload::run(move || of_process(pid)).await.ok()?;
    let v = match found {
        Ok(v) => Some(v),
        Err(e) => {
            log::info!("ocserv (pid {pid}): version unknown ({e}); going by its replies");
            None
        }
    };
    *KNOWN.lock().unwrap_or_else(|e| e.into_inner()) = Some((pid, v));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn both_first_lines_ocserv_prints_are_read() {
        assert_eq!(Version::parse("ocserv 1.1.6\n"), Some(Version(1, 1, 6)));
        assert_eq!(
            Version::parse("OpenConnect VPN Server 1.5.0\n\nCompiled with: seccomp\n"),
            Some(Version(1, 5, 0))
        );
        assert!(Version(1, 4, 1) >= Version::SESSION_START);
        assert!(Version(1, 3, 0) < Version::SESSION_START);
        assert!(Version(1, 10, 0) > Version(1, 5, 0));
    }

    #[test]
    fn anything_else_is_no_version_not_a_guess() {
        for text in [
            "",
            "ocserv\n",
            "ocserv 1.5\n",
            "ocserv 1.5.0.1\n",
            "ocserv 1.5.0-rc1\n",
            "ocserv 99999.1.1\n",
            "ocserv 1..0\n",
            "usage: ocserv [options]\n",
            "OpenConnect server control (occtl) version 1.5.0\n",
            "\nOpenConnect VPN Server 1.5.0\n",
        ] {
            assert_eq!(Version::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn only_a_process_named_ocserv_is_asked() {
        assert!(is_ocserv(Path::new("/usr/sbin/ocserv")));
        assert!(is_ocserv(Path::new("/usr/sbin/ocserv (deleted)")));
        assert!(!is_ocserv(Path::new("/usr/sbin/ocserv-worker")));
        assert!(!is_ocserv(Path::new("/sbin/reboot")));
        // This test's own process is not ocserv: nothing is run.
        let me = std::process::id();
        assert!(matches!(of_process(me), Err(VersionError::NotRun(m)) if m.contains("not ocserv")));
        assert!(matches!(
            of_process(999_999_999),
            Err(VersionError::NotRun(_))
        ));
    }

    fn script(name: &str, body: &str, mode: u32) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("oa-version-{}-{name}", std::process::id()));
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_binary_is_asked_with_a_deadline_and_its_answer_read() {
        if !rustix::process::geteuid().is_root() {
            return; // only root's binaries are run; the e2e test covers this too
        }
        let p = script("new", "echo 'OpenConnect VPN Server 1.4.1' >&2", 0o755);
        assert_eq!(of_binary(&p), Ok(Version(1, 4, 1)));
        let p = script("old", "echo 'ocserv 1.1.6'", 0o755);
        assert_eq!(of_binary(&p), Ok(Version(1, 1, 6)));
        let p = script("odd", "echo 'hello'", 0o755);
        assert_eq!(
            of_binary(&p),
            Err(VersionError::Unrecognised("hello".into()))
        );
        let p = script("slow", "exec sleep 30", 0o755);
        let started = Instant::now();
        assert_eq!(of_binary(&p), Err(VersionError::TimedOut));
        assert!(started.elapsed() < DEADLINE + Duration::from_secs(2));
        let p = script("writable", "echo 'ocserv 1.1.6'", 0o757);
        assert!(matches!(of_binary(&p), Err(VersionError::NotRun(_))));
        assert!(matches!(
            of_binary(Path::new("/nonexistent/ocserv")),
            Err(VersionError::NotRun(_))
        ));
    }
}
