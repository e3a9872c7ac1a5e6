//! `ocserv-agent hook`: what ocserv runs on every connect, disconnect and host update.
//!
//! In this version the hook reads and checks ocserv's environment and then fails closed:
//! a connect is denied (exit 1) with a message saying why, because the daemon's decision
//! protocol is not part of this build yet. Disconnect and host-update events cannot be denied;
//! they are acknowledged (exit 0) and reported as not forwarded.

use super::HookArgs;
use crate::authz::request::{Reason, SessionEvent};
use std::process::ExitCode;

/// ocserv admits a session only on exit status 0.
const DENY: u8 = 1;

pub fn run(args: HookArgs) -> ExitCode {
    let settings = match crate::config::client_settings(&args.config) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("ocserv-agent hook: denied: cannot read the agent settings:");
            eprintln!("{e}");
            return ExitCode::from(DENY);
        }
    };
    let event = match SessionEvent::from_process_env() {
        Ok(event) => event,
        Err(e) => {
            eprintln!("ocserv-agent hook: denied: {e}");
            return ExitCode::from(DENY);
        }
    };
    match event.reason {
        Reason::Connect => {
            eprintln!(
                "ocserv-agent hook: connect of user '{}' (session {}) denied: this build cannot ask the daemon at {} for a decision, so it fails closed",
                event.username,
                event.id,
                settings.socket.display()
            );
            ExitCode::from(DENY)
        }
        Reason::Disconnect | Reason::HostUpdate => {
            eprintln!(
                "ocserv-agent hook: {} of user '{}' (session {}) not forwarded: this build cannot report events to the daemon",
                event.reason.as_str(),
                event.username,
                event.id
            );
            ExitCode::SUCCESS
        }
    }
}
