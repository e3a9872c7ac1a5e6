//! The agent's logger for the `log` facade: plain lines on stderr (procd hands a service's
//! stderr to logd) or RFC 3164 datagrams to the local syslog socket.
//!
//! Syslog messages are sent as `<PRI>ocserv-agent[PID]: text`, facility `daemon`, without a
//! timestamp: RFC 3164 lets the receiver add it, and logd, syslogd, rsyslog and journald all
//! stamp a message on receipt in the router's own time zone. A message with several lines is
//! sent as one datagram per line, so `logread` shows each.
//!
//! If the syslog socket is missing, the logger says so once on stderr and logs there; if the
//! syslog daemon restarts, it reconnects on the next message.
//!
//! In the daemon, lines go through a bounded queue to a thread of their own
//! ([`start_writer`]): a write to a stderr pipe or to `/dev/log` blocks when logd stalls, and
//! the thread that answers hooks must never wait for it. When the queue is full, lines are
//! dropped and counted ([`dropped`]); the writer says how many once it catches up.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// procd forwards a service's stderr to logd.
    Stderr,
    /// RFC 3164 datagrams to `/dev/log`.
    Syslog,
}

/// Where syslog listens on Linux.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The tag in syslog lines.
const TAG: &str = "ocserv-agent";

/// RFC 3164 §4.1: the whole datagram is at most 1024 bytes.
const MAX_DATAGRAM: usize = 1024;

/// `daemon` facility (3), shifted as in the PRI field.
const FACILITY_DAEMON: u8 = 3 << 3;

/// The installed logger; the daemon reconfigures it on reload.
static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Lines waiting for the writer thread; more are dropped. 256 lines of a few hundred bytes
/// hold a burst (a reload, a portal outage) without holding much memory.
const QUEUE: usize = 256;

/// Lines dropped since the writer last said so, and in all (a wrapping counter for metrics).
static DROPPED_UNSAID: AtomicU32 = AtomicU32::new(0);
static DROPPED: AtomicU32 = AtomicU32::new(0);
/// Lines queued and not yet written, for [`Log::flush`] at exit.
static QUEUED: AtomicU32 = AtomicU32::new(0);

/// The writer thread's queue, used once [`WRITER`] is set.
static LINES: Mutex<VecDeque<(Level, String)>> = Mutex::new(VecDeque::new());
static READY: Condvar = Condvar::new();
static WRITER: AtomicBool = AtomicBool::new(false);

/// Writes log records to the configured sink.
pub struct Logger {
    sink: Mutex<Sink>,
}

enum Sink {
    Stderr,
    Syslog {
        path: PathBuf,
        socket: Option<UnixDatagram>,
    },
}

/// Installs the logger (once per process) and applies `target` and `level`.
pub fn init(target: LogTarget, level: LevelFilter) {
    let logger = LOGGER.get_or_init(|| Logger {
        sink: Mutex::new(Sink::Stderr),
    });
    // Fails only if another logger was installed, which this binary never does.
    let _ = log::set_logger(logger);
    configure(target, level);
}

/// Moves the installed logger's output to a thread of its own, behind a bounded queue (the
/// daemon: its one thread must never block on a stalled log reader). Until this is called,
/// and in short-lived commands, lines are written directly.
pub fn start_writer() -> std::io::Result<()> {
    let Some(logger) = LOGGER.get() else {
        return Ok(());
    };
    std::thread::Builder::new()
        .name("log-writer".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            let (level, text) = {
                let mut lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    match lines.pop_front() {
                        Some(line) => break line,
                        None => lines = READY.wait(lines).unwrap_or_else(|e| e.into_inner()),
                    }
                }
            };
            logger.write(level, &text);
            QUEUED.fetch_sub(1, Ordering::Relaxed);
            let lost = DROPPED_UNSAID.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let text = format!("{lost} log line(s) dropped: the log reader fell behind");
                logger.write(Level::Warn, &text);
            }
        })?;
    WRITER.store(true, Ordering::Release);
    Ok(())
}

/// Log lines dropped because the writer thread fell behind, since the daemon started
/// (wrapping).
pub fn dropped() -> u32 {
    DROPPED.load(Ordering::Relaxed)
}

/// Changes target and level at run time (config reload).
pub fn configure(target: LogTarget, level: LevelFilter) {
    log::set_max_level(level);
    if let Some(logger) = LOGGER.get() {
        logger.set_target(target, Path::new(SYSLOG_SOCKET));
    }
}

impl Logger {
    /// A logger writing to `target`; `syslog_path` is the socket used for syslog.
    pub fn new(target: LogTarget, syslog_path: &Path) -> Logger {
        let logger = Logger {
            sink: Mutex::new(Sink::Stderr),
        };
        logger.set_target(target, syslog_path);
        logger
    }

    fn set_target(&self, target: LogTarget, syslog_path: &Path) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        *sink = match target {
            LogTarget::Stderr => Sink::Stderr,
            LogTarget::Syslog => Sink::Syslog {
                path: syslog_path.to_path_buf(),
                socket: connect(syslog_path),
            },
        };
    }

    fn write(&self, level: Level, text: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *sink {
            Sink::Stderr => write_stderr(level, text),
            Sink::Syslog { path, socket } => {
                for line in text.lines() {
                    if !send_syslog(path, socket, level, line) {
                        write_stderr(level, line);
                    }
                }
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            let text = record.args().to_string();
            crate::log_ring::RECENT.push(record.level(), record.target(), &text);
            if !WRITER.load(Ordering::Acquire) {
                return self.write(record.level(), &text);
            }
            let mut lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
            if lines.len() < QUEUE {
                lines.push_back((record.level(), text));
                QUEUED.fetch_add(1, Ordering::Relaxed);
                READY.notify_one();
            } else {
                DROPPED_UNSAID.fetch_add(1, Ordering::Relaxed);
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Gives the writer thread up to a second to write what is queued (the daemon's last
    /// lines at exit); a stalled reader cannot hold the exit longer.
    fn flush(&self) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while QUEUED.load(Ordering::Relaxed) > 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

fn connect(path: &Path) -> Option<UnixDatagram> {
    let attempt = UnixDatagram::unbound().and_then(|s| s.connect(path).map(|()| s));
    match attempt {
        Ok(s) => Some(s),
        Err(e) => {
            write_stderr(
                Level::Warn,
                &format!(
                    "syslog socket {} unavailable ({e}); logging to stderr",
                    path.display()
                ),
            );
            None
        }
    }
}

/// Sends one line; reconnects once if syslog went away. Returns false if it could not.
fn send_syslog(path: &Path, socket: &mut Option<UnixDatagram>, level: Level, line: &str) -> bool {
    let datagram = format_syslog(level, std::process::id(), line);
    if let Some(s) = socket {
        if s.send(&datagram).is_ok() {
            return true;
        }
    }
    *socket = UnixDatagram::unbound()
        .and_then(|s| s.connect(path).map(|()| s))
        .ok();
    socket.as_ref().is_some_and(|s| s.send(&datagram).is_ok())
}

/// Builds `<PRI>ocserv-agent[PID]: line`, cut to 1024 bytes on a character boundary.
pub fn format_syslog(level: Level, pid: u32, line: &str) -> Vec<u8> {
    let mut out = format!("<{}>{TAG}[{pid}]: ", FACILITY_DAEMON + severity(level)).into_bytes();
    let room = MAX_DATAGRAM.saturating_sub(out.len());
    let mut end = line.len().min(room);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&line.as_bytes()[..end]);
    out
}

/// RFC 3164 severities; `trace` has none of its own and goes as debug.
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

fn write_stderr(level: Level, text: &str) {
    let label = match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    };
    let mut err = std::io::stderr().lock();
    for line in text.lines() {
        let _ = writeln!(err, "{label}: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn temp_dir(name: &str) -> PathBuf {
        crate::testutil::fresh_dir(&format!("log-{name}"))
    }

    #[test]
    fn syslog_datagrams_follow_rfc3164() {
        assert_eq!(
            format_syslog(Level::Error, 42, "boom"),
            b"<27>ocserv-agent[42]: boom".to_vec()
        );
        assert_eq!(
            format_syslog(Level::Info, 1, "x"),
            b"<30>ocserv-agent[1]: x".to_vec()
        );
        assert!(format_syslog(Level::Warn, 1, "x").starts_with(b"<28>"));
        assert!(format_syslog(Level::Trace, 1, "x").starts_with(b"<31>"));
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = "é".repeat(1000);
        let d = format_syslog(Level::Info, 7, &line);
        assert!(d.len() <= MAX_DATAGRAM);
        assert!(std::str::from_utf8(&d).is_ok());
    }

    #[test]
    fn sends_each_line_to_the_syslog_socket() {
        let dir = temp_dir("send");
        let path = dir.join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let logger = Logger::new(LogTarget::Syslog, &path);
        logger.write(Level::Warn, "first\nsecond");
        let mut buf = [0u8; 2048];
        let n = server.recv(&mut buf).unwrap();
        let pid = std::process::id();
        assert_eq!(
            &buf[..n],
            format!("<28>ocserv-agent[{pid}]: first").as_bytes()
        );
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            format!("<28>ocserv-agent[{pid}]: second").as_bytes()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reconnects_after_syslog_restarts() {
        let dir = temp_dir("restart");
        let path = dir.join("log.sock");
        let first = UnixDatagram::bind(&path).unwrap();
        let logger = Logger::new(LogTarget::Syslog, &path);
        logger.write(Level::Info, "one");
        drop(first);
        std::fs::remove_file(&path).unwrap();
        let second = UnixDatagram::bind(&path).unwrap();
        second
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        logger.write(Level::Info, "two");
        let mut buf = [0u8; 256];
        let n = second.recv(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b": two"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_syslog_socket_falls_back_to_stderr() {
        let logger = Logger::new(LogTarget::Syslog, Path::new("/nonexistent/dev/log"));
        match &*logger.sink.lock().unwrap() {
            Sink::Syslog { socket, .. } => assert!(socket.is_none()),
            Sink::Stderr => panic!("target should stay syslog so a later restart is picked up"),
        }
        // Must not panic; the line goes to stderr.
        logger.write(Level::Error, "still logged");
    }
}
