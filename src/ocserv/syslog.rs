//! ocserv's log, which ocserv writes to syslog: read with `logread` on OpenWrt (logd keeps the
//! log in RAM), else from the syslog file (`ocserv.syslog_file`, by default /var/log/syslog or
//! /var/log/messages). For StreamLogs `log_source` `ocserv` (ocserv's lines) and `system`
//! (every line).
//!
//! Times: logread prints the router's local time and a traditional syslog file has no year or
//! zone; both are read as UTC of the current year, as the agent's own dates are (utc.rs). An
//! RFC 3339 stamp (rsyslog's high-precision format) is read exactly.

use crate::config::Ocserv;
use async_io::{Async, Timer};
use futures_lite::io::{AsyncBufReadExt, BufReader};
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the lines come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// OpenWrt's `logread` (run with fixed arguments, never through a shell).
    Logread(PathBuf),
    File(PathBuf),
}

/// Why ocserv's log cannot be read.
#[derive(Debug)]
pub enum LogError {
    /// Neither `logread` nor a syslog file: the program and the files looked for.
    NoSyslog {
        logread: PathBuf,
        files: Vec<PathBuf>,
    },
    /// `logread` would not start, or its output could not be read.
    Logread {
        program: PathBuf,
        error: std::io::Error,
    },
    /// The syslog file could not be read.
    File {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::NoSyslog { logread, files } => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                write!(
                    f,
                    "no syslog to read: {} is not installed and {} does not exist",
                    logread.display(),
                    names.join(" / ")
                )
            }
            LogError::Logread { program, error } => {
                write!(f, "cannot run {}: {error}", program.display())
            }
            LogError::File { path, error } => write!(f, "cannot read {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LogError {}

/// The source to read: `ocserv.logread` if that program exists, else the syslog file.
pub fn source(settings: &Ocserv) -> Result<Source, LogError> {
    if settings.logread.is_file() {
        return Ok(Source::Logread(settings.logread.clone()));
    }
    let files = match &settings.syslog_file {
        Some(f) => vec![f.clone()],
        None => vec![
            PathBuf::from("/var/log/syslog"),
            PathBuf::from("/var/log/messages"),
        ],
    };
    files
        .iter()
        .find(|f| f.is_file())
        .map(|f| Source::File(f.clone()))
        .ok_or_else(|| LogError::NoSyslog {
            logread: settings.logread.clone(),
            files: files.clone(),
        })
}

/// One syslog line, taken apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub time: Option<SystemTime>,
    /// The syslog severity when the line carries it (logread does), else `info`.
    pub level: String,
    /// `ocserv`, `ocserv-main`... (the tag without its `[pid]`).
    pub program: String,
    pub message: String,
}

impl Line {
    /// Written by ocserv (its main process, workers and sec-mod tag their lines `ocserv`).
    pub fn is_ocserv(&self) -> bool {
        self.program.starts_with("ocserv")
    }
}

/// Parses a line from logread (`Thu Nov 26 16:00:27 2026 daemon.info ocserv[12]: text`) or a
/// syslog file (`Nov 26 16:00:27 host ocserv[12]: text`, or an RFC 3339 stamp then host).
pub fn parse(line: &str, year_now: i64) -> Option<Line> {
    let w: Vec<&str> = line.split_whitespace().take(6).collect();
    let (time, level, rest) = if crate::utc::month(w.first()?).is_some() {
        // Traditional: month day time host tag: message
        let time = clock(w.get(2)?).and_then(|(h, m, s)| {
            crate::utc::unix(
                year_now,
                crate::utc::month(w[0])?,
                w[1].parse().ok()?,
                h,
                m,
                s,
            )
        });
        (time, "info".into(), after_words(line, 4)?)
    } else if line.as_bytes().get(4) == Some(&b'-') && line.as_bytes().get(10) == Some(&b'T') {
        // RFC 3339 stamp, host, tag: message
        (rfc3339(w[0]), "info".into(), after_words(line, 2)?)
    } else {
        // logread: weekday month day time year facility.level tag: message
        let time = clock(w.get(3)?).and_then(|(h, m, s)| {
            let y = w.get(4)?.parse().ok()?;
            crate::utc::unix(y, crate::utc::month(w[1])?, w[2].parse().ok()?, h, m, s)
        });
        let level = w.get(5)?.rsplit('.').next()?.to_string();
        (time, level, after_words(line, 6)?)
    };
    let (tag, message) = rest.split_once(": ")?;
    let program = tag.split('[').next()?.to_string();
    Some(Line {
        time: time
            .and_then(|t| u64::try_from(t).ok())
            .and_then(|t| UNIX_EPOCH.checked_add(Duration::from_secs(t))),
        level,
        program,
        message: message.to_string(),
    })
}

/// `line` after its first `n` space-separated words (runs of spaces count as one).
fn after_words(line: &str, n: usize) -> Option<&str> {
    let mut rest = line.trim_start();
    for _ in 0..n {
        rest = rest.split_once(' ')?.1.trim_start();
    }
    Some(rest)
}

fn clock(text: &str) -> Option<(u32, u32, u32)> {
    let mut p = text.split(':').map(|n| n.parse::<u32>().ok());
    Some((p.next()??, p.next()??, p.next()??))
}

/// `2026-11-26T16:00:27.123456+01:00` (fraction and offset optional; `Z` for UTC).
fn rfc3339(text: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
    let base = crate::utc::unix(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )?;
    let zone = text[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" | "" => 0,
        z => {
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            // An offset is two digits of hours and two of minutes, no more (a longer number
            // overflowed the arithmetic here: found by fuzz/fuzz_targets/syslog.rs).
            let (h, m) = z[1..].split_once(':')?;
            let two = |t: &str, max: i64| {
                (t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| t.parse::<i64>().ok())
                    .flatten()
                    .filter(|n| *n <= max)
            };
            sign * (two(h, 23)? * 3600 + two(m, 59)? * 60)
        }
    };
    Some(base - offset)
}

/// The lines of a source, the ones already there first; with `follow`, then the new ones.
pub enum Reader {
    Logread {
        child: Child,
        lines: futures_lite::io::Lines<BufReader<Async<ChildStdout>>>,
    },
    File {
        path: PathBuf,
        pending: std::vec::IntoIter<String>,
        pos: u64,
        follow: bool,
    },
}

/// How much of a syslog file is read at the start: its end, not the whole history.
const FILE_TAIL: u64 = 256 * 1024;

/// How often a followed file is checked for new lines.
const FILE_POLL: Duration = Duration::from_millis(500);

impl Reader {
    pub fn open(source: &Source, follow: bool) -> Result<Reader, LogError> {
        match source {
            Source::Logread(program) => {
                let mut cmd = Command::new(program);
                cmd.args(if follow { &["-f"][..] } else { &[][..] })
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null());
                let failed = |error| LogError::Logread {
                    program: program.clone(),
                    error,
                };
                let mut child = cmd.spawn().map_err(failed)?;
                let stdout = child
                    .stdout
                    .take()
                    .ok_or_else(|| failed(std::io::Error::other("logread without stdout")))?;
                let stdout = Async::new(stdout).map_err(failed)?;
                Ok(Reader::Logread {
                    child,
                    lines: BufReader::new(stdout).lines(),
                })
            }
            Source::File(path) => {
                let (text, pos) = read_from(path, None)?;
                Ok(Reader::File {
                    path: path.clone(),
                    pending: text.into_iter(),
                    pos,
                    follow,
                })
            }
        }
    }

    /// The next line; `None` at the end (never, when following).
    pub async fn next(&mut self) -> Option<String> {
        match self {
            Reader::Logread { lines, .. } => {
                use futures_lite::StreamExt;
                lines.next().await?.ok()
            }
            Reader::File {
                path,
                pending,
                pos,
                follow,
            } => loop {
                if let Some(line) = pending.next() {
                    return Some(line);
                }
                if !*follow {
                    return None;
                }
                Timer::after(FILE_POLL).await;
                match read_from(path, Some(*pos)) {
                    Ok((lines, new)) => {
                        *pending = lines.into_iter();
                        *pos = new;
                    }
                    Err(e) => log::debug!("syslog: {e}"),
                }
            },
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Reader::Logread { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The whole lines of `path` from `from` (the last [`FILE_TAIL`] bytes when `None`, or the
/// start again when the file shrank: it was rotated), and where the next read starts.
fn read_from(path: &Path, from: Option<u64>) -> Result<(Vec<String>, u64), LogError> {
    let failed = |error| LogError::File {
        path: path.to_path_buf(),
        error,
    };
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = match from {
        Some(p) if p <= len => p,
        Some(_) => 0,
        None => len.saturating_sub(FILE_TAIL),
    };
    file.seek(SeekFrom::Start(start)).map_err(failed)?;
    let mut bytes = Vec::new();
    file.take(len - start)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    // Only whole lines: a line being written is read next time.
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut lines: Vec<String> = String::from_utf8_lossy(&bytes[..whole])
        .lines()
        .map(str::to_string)
        .collect();
    if from.is_none() && start > 0 && !lines.is_empty() {
        lines.remove(0); // cut in the middle
    }
    Ok((lines, start + whole as u64))
}

#[cfg(test)]
#[path = "syslog_tests.rs"]
mod tests;
