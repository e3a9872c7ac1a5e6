//! `ocserv-agent status`: asks the running daemon over its socket and prints the answer.
//!
//! Exit status: 0 when the daemon answered, 3 when it is not running (nothing listens on the
//! socket, as LSB's `status` uses 3), 1 for any other failure.

use super::say;
use super::StatusArgs;
use crate::config;
use crate::ipc::client::{self, CallError};
use crate::ipc::frame::FrameError;
use crate::ipc::messages::{Reply, Request, StatusReply};
use std::io::ErrorKind;
use std::process::ExitCode;
use std::time::Duration;

const NOT_RUNNING: u8 = 3;

/// Nothing listens on the socket: the daemon is not running.
pub(super) fn not_running(e: &CallError) -> bool {
    matches!(
        e,
        CallError::NoAnswer(FrameError::Io(e))
            if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused)
    )
}
const FAILED: u8 = 1;

/// `status` is interactive: a daemon that takes longer than this to answer is reported.
const TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: StatusArgs) -> ExitCode {
    let settings = match config::client_settings(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(FAILED);
        }
    };
    match client::call(&settings.socket, &Request::Status, TIMEOUT) {
        Ok(Reply::Status(status)) => {
            if args.json {
                println!("{}", status.to_json());
            } else {
                print!("{}", format_text(&status));
            }
            ExitCode::SUCCESS
        }
        Ok(Reply::Error(message)) => {
            say("status", format_args!("the daemon refused: {message}"));
            ExitCode::from(FAILED)
        }
        Ok(other) => {
            say(
                "status",
                format_args!("the daemon answered something else ({})", other.kind_name()),
            );
            ExitCode::from(FAILED)
        }
        Err(e) if not_running(&e) => {
            say(
                "status",
                format_args!(
                    "the daemon is not running (nothing listens on {}: {e})",
                    settings.socket.display()
                ),
            );
            ExitCode::from(NOT_RUNNING)
        }
        Err(e) => {
            say(
                "status",
                format_args!("no answer from {}: {e}", settings.socket.display()),
            );
            ExitCode::from(FAILED)
        }
    }
}

/// The human-readable form.
fn format_text(s: &StatusReply) -> String {
    let mut out = format!(
        "ocserv-agent {} (pid {}), up {}\n",
        s.version,
        s.pid,
        format_age(s.uptime_secs)
    );
    out += &format!("agent id:   {}\n", s.agent_id);
    out += &format!(
        "config:     {} (loaded {} ago; {} reload(s), {} refused)\n",
        s.config_path,
        format_age(s.config_age_secs),
        s.reloads,
        s.reload_failures
    );
    if let Some(err) = &s.last_reload_error {
        out += "last reload refused:\n";
        for line in err.lines() {
            out += &format!("  {line}\n");
        }
    }
    out += &format!("log level:  {}\n", s.log_level);
    out += &format!(
        "decisions:  {}local policy (default {}, {} rule(s))\n",
        if s.portal_enabled {
            format!("portal with fail mode {}, then ", s.fail_mode)
        } else {
            String::new()
        },
        s.policy_default,
        s.policy_rules
    );
    if s.portal_enabled {
        out += &format!(
            "portal:     breaker {}, {} cached decision(s)\n",
            s.breaker_state, s.cache_entries
        );
        if !s.breaker.is_empty() {
            out += &format!("breaker:    {}\n", s.breaker);
            out += &format!("cache:      {}\n", s.cache);
        }
    }
    out += &format!("counted:    {}\n", s.decisions);
    out += &format!("sessions:   {} admitted and not ended\n", s.sessions);
    if !s.outbox.is_empty() {
        out += &format!(
            "outbox:     {} event(s) waiting; {}\n",
            s.outbox_depth, s.outbox
        );
    }
    out
}

/// `3723` → `1h 2m 3s`.
fn format_age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(format_age(5), "5s");
        assert_eq!(format_age(65), "1m 5s");
        assert_eq!(format_age(3723), "1h 2m 3s");
        assert_eq!(format_age(90_061), "1d 1h 1m");
    }

    #[test]
    fn text_shows_refused_reloads() {
        let text = format_text(&StatusReply::default_for_test());
        assert!(text.contains("1 refused"), "{text}");
        assert!(text.contains("  x:1: bad"), "{text}");
        assert!(
            text.contains("local policy (default allow, 0 rule(s))"),
            "{text}"
        );
    }
}
