//! `ocserv-agent check-config`: validate, then print the effective configuration.

use super::CheckConfigArgs;
use crate::config;
use std::process::ExitCode;

/// On success prints `uci show`-style lines to stdout and exits 0; otherwise prints every
/// problem as `PATH:LINE: message` to stderr and exits 1. Warnings (what libuci reads in a way
/// an operator may not mean) go to stderr either way.
pub fn run(args: CheckConfigArgs) -> ExitCode {
    for warning in config::warnings(&args.config) {
        eprintln!("{warning}");
    }
    match config::load(&args.config) {
        Ok(c) => {
            print!("{}", config::show(&c));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
