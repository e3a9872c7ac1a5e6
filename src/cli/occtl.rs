//! `ocserv-agent occtl`: occtl's everyday commands over ocserv's control socket, spoken natively
//! (OpenWrt's occtl lacks RX/TX; this one reads them as occtl does, from the tun device).
//!
//! Output is occtl's text, or with `--json` its JSON shapes (valid JSON). Exit status as
//! occtl's: 0 done, 1 failed (ocserv unreachable, a command it refused), 2 no such user or ID.
//! The commands themselves live in `ocserv/occtl_cmd.rs`, shared with ExecuteCommand.

use super::OcctlArgs;
use crate::config;
use crate::ocserv::conf::ctl_socket;
use crate::ocserv::ctl::{Client, DEFAULT_TIMEOUT};
use crate::ocserv::occtl_cmd::{execute, parse, FAILED};
use std::path::PathBuf;
use std::process::ExitCode;

fn socket(args: &OcctlArgs) -> Result<PathBuf, String> {
    if let Some(s) = &args.socket {
        return Ok(s.clone());
    }
    // On a router without the agent's config (debugging ocserv alone), the defaults apply.
    if !args.config.exists() {
        return Ok(ctl_socket(&config::Ocserv::default()));
    }
    config::load(&args.config)
        .map(|c| ctl_socket(&c.ocserv))
        .map_err(|e| e.to_string())
}

pub fn run(args: OcctlArgs) -> ExitCode {
    let request = match parse(&args.command) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ocserv-agent occtl: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let path = match socket(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(FAILED);
        }
    };
    let client = Client::new(path, DEFAULT_TIMEOUT);
    match async_io::block_on(execute(&client, &request, args.json)) {
        Ok((out, code)) => {
            print!("{out}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("ocserv-agent occtl: {e}");
            ExitCode::from(FAILED)
        }
    }
}
