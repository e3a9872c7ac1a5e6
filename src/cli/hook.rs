//! `ocserv-agent hook`: what ocserv runs on every connect, disconnect and host update.
//!
//! It checks ocserv's environment, forwards it to the daemon and turns the decision into the
//! exit code ocserv reads: for a connect, 0 only on an explicit allow; disconnects and host
//! updates are forwarded and always exit 0. It never hangs: one deadline (`hook_timeout`) for
//! the whole exchange, and on SIGTERM (ocserv's `auth-timeout`) an immediate exit 1, because
//! ocserv's main loop waits for this process to end.
//!
//! Only *no answer* (no socket, a refused connection, not one byte within `hook_timeout`)
//! applies `hook_fallback` (deny unless configured). An answer that is not an explicit allow
//! (an error reply, a malformed or cut-off frame, another kind of reply) is a deny: a daemon
//! that answers has not failed in the way `hook_fallback` is meant for.

use super::say;
use super::HookArgs;
use crate::config::Verdict;
use crate::ipc::client::{self, CallError};
use crate::ipc::messages::{Reply, Request};
use crate::session::{Reason, SessionEvent};
use std::process::ExitCode;

/// ocserv admits a session only on exit status 0.
const DENY: u8 = 1;

pub fn run(args: HookArgs) -> ExitCode {
    exit_at_once_on_sigterm();
    let settings = match crate::config::client_settings(&args.config) {
        Ok(settings) => settings,
        Err(e) => {
            say("hook", "denied: cannot read the agent settings:");
            eprintln!("{e}");
            return ExitCode::from(DENY);
        }
    };
    // Read and checked once, here; the daemon checks the typed event again when it reads it.
    let event = match SessionEvent::from_process_env() {
        Ok(event) => event,
        Err(e) => {
            say("hook", format_args!("denied: {e}"));
            return ExitCode::from(DENY);
        }
    };
    let what = format!(
        "{} of user '{}' (session {})",
        event.reason.as_str(),
        event.username,
        event.id
    );
    let reason = event.reason;
    let reply = client::call(
        &settings.socket,
        &Request::Event(Box::new(event)),
        settings.hook_timeout,
    );
    let allow = match reply {
        Ok(Reply::Decision(d)) => {
            if reason == Reason::Connect && !d.allow {
                say(
                    "hook",
                    format_args!(
                        "{what} denied ({}): {}{}",
                        d.source.as_str(),
                        d.reason,
                        crate::trace::note(d.trace)
                    ),
                );
            }
            d.allow
        }
        Ok(Reply::Error(message)) => {
            refused(&what, &format!("the daemon refused: {message}"), reason)
        }
        Ok(other) => refused(
            &what,
            &format!(
                "the daemon answered without a decision ({})",
                other.kind_name()
            ),
            reason,
        ),
        Err(CallError::BadAnswer(e)) => refused(
            &what,
            &format!(
                "a malformed answer from the daemon at {}: {e}",
                settings.socket.display()
            ),
            reason,
        ),
        Err(CallError::NoAnswer(e)) => fallback(
            &what,
            &format!(
                "no answer from the daemon at {}: {e}",
                settings.socket.display()
            ),
            settings.hook_fallback,
            reason,
        ),
    };
    match reason {
        Reason::Connect if allow => ExitCode::SUCCESS,
        Reason::Connect => ExitCode::from(DENY),
        // ocserv ignores these exit codes; 0 says "nothing went wrong here".
        Reason::Disconnect | Reason::HostUpdate => ExitCode::SUCCESS,
    }
}

/// A daemon that answered without an allow: deny (disconnects and host updates pass).
fn refused(what: &str, why: &str, reason: Reason) -> bool {
    if reason != Reason::Connect {
        say("hook", format_args!("{what} not taken: {why}"));
        return true;
    }
    say("hook", format_args!("{what} denied: {why}"));
    false
}

/// Applies `hook_fallback` and says so on stderr (ocserv logs it).
fn fallback(what: &str, why: &str, fallback: Verdict, reason: Reason) -> bool {
    if reason != Reason::Connect {
        say("hook", format_args!("{what} not forwarded: {why}"));
        return true;
    }
    let allow = fallback == Verdict::Allow;
    say(
        "hook",
        format_args!(
            "{what} {} by agent.hook_fallback: {why}",
            if allow { "allowed" } else { "denied" }
        ),
    );
    allow
}

/// SIGTERM ends the hook with status 1 at once: ocserv blocks its main loop until the script
/// exits, and treats death by a signal as success on one path (`shared/spec/ocserv.md` §1).
fn exit_at_once_on_sigterm() {
    // SAFETY: the handler only calls _exit, which is async-signal-safe.
    let installed = unsafe {
        signal_hook_registry::register(libc::SIGTERM, || {
            libc::_exit(i32::from(DENY));
        })
    };
    if let Err(e) = installed {
        say(
            "hook",
            format_args!("cannot handle SIGTERM ({e}); continuing"),
        );
    }
}
