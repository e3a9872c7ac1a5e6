//! `ocserv-agent cache clear [USER]`: drops cached portal decisions in the running daemon, so
//! the next connect of that user (or of everyone) is put to the portal. For the operator who
//! has just changed a user's rights in the portal and cannot wait for `cache_ttl`.
//!
//! Exit status as `status`: 0 done, 3 the daemon is not running, 1 anything else.

use super::say;
use super::status::not_running;
use super::CacheArgs;
use crate::config;
use crate::ipc::client;
use crate::ipc::messages::{CacheClear, Reply, Request};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: CacheArgs) -> ExitCode {
    if args.action != "clear" {
        say(
            "cache",
            format_args!(
                "unknown action '{}' (usage: cache clear [USER])",
                args.action.escape_default()
            ),
        );
        return ExitCode::from(1);
    }
    let settings = match config::client_settings(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let request = Request::CacheClear(CacheClear {
        username: args.user.clone(),
    });
    match client::call(&settings.socket, &request, TIMEOUT) {
        Ok(Reply::Cleared(c)) => {
            match &args.user {
                Some(user) => println!("dropped {} cached decision(s) of '{user}'", c.dropped),
                None => println!("dropped {} cached decision(s)", c.dropped),
            }
            ExitCode::SUCCESS
        }
        Ok(Reply::Error(message)) => {
            say("cache", format_args!("the daemon refused: {message}"));
            ExitCode::from(1)
        }
        Ok(other) => {
            say(
                "cache",
                format_args!("the daemon answered something else ({})", other.kind_name()),
            );
            ExitCode::from(1)
        }
        Err(e) if not_running(&e) => {
            say(
                "cache",
                format_args!(
                    "the daemon is not running (nothing listens on {}: {e})",
                    settings.socket.display()
                ),
            );
            ExitCode::from(3)
        }
        Err(e) => {
            say(
                "cache",
                format_args!("no answer from {}: {e}", settings.socket.display()),
            );
            ExitCode::from(1)
        }
    }
}
