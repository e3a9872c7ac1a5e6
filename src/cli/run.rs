//! `ocserv-agent run`: the daemon in the foreground.

use super::RunArgs;
use std::process::ExitCode;

/// Exit status when the daemon cannot start (configuration, socket or signals).
const START_FAILED: u8 = 1;

pub fn run(args: RunArgs) -> ExitCode {
    match crate::daemon::run(&args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The logger may not be up yet: say it on stderr, which procd sends to logd.
            for line in e.to_string().lines() {
                eprintln!("ocserv-agent: {line}");
            }
            ExitCode::from(START_FAILED)
        }
    }
}
