//! `ocserv-agent occtl`: occtl's everyday commands over ocserv's control socket, spoken natively
//! (OpenWrt's occtl lacks RX/TX; this one reads them as occtl does, from the tun device).
//!
//! Output is occtl's text, or with `--json` its JSON shapes (valid JSON). Exit status as
//! occtl's: 0 done, 1 failed (ocserv unreachable, a command it refused), 2 no such user or ID.
//! The commands themselves live in `ocserv/occtl_cmd.rs`, shared with ExecuteCommand.

use super::say;
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
    if args.command == ["show", "events"] {
        return match socket(&args) {
            Ok(path) => events(Client::new(path, DEFAULT_TIMEOUT), args.json),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(FAILED)
            }
        };
    }
    let request = match parse(&args.command) {
        Ok(r) => r,
        Err(e) => {
            say("occtl", &e);
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
            say("occtl", &e);
            ExitCode::from(FAILED)
        }
    }
}

/// `show events`: the sessions now (as `show users` prints them), then a line per connect and
/// disconnect until interrupted. Unlike occtl it outlives an ocserv restart: the stream is
/// reopened (said on stderr). ocserv serves one event listener at a time.
fn events(client: Client, json: bool) -> ExitCode {
    use crate::ocserv::occtl_fmt as fmt;
    use crate::ocserv::top::{Subscription, Update};
    use crate::ocserv::version;
    use crate::utc::now;
    use std::io::Write;
    // Only the JSON sessions differ by version; it is asked before the event stream opens
    // (ocserv serves one at a time).
    let version = json
        .then(|| async_io::block_on(version::running(&client)))
        .flatten();
    let dialect = fmt::Dialect::of(version);
    let mut sub = Subscription::new(client);
    let mut started = false;
    async_io::block_on(async {
        loop {
            let out = match sub.next().await {
                Update::Sessions(list) if !started => {
                    started = true;
                    if json {
                        fmt::users_json(
                            &list.user,
                            now(),
                            &crate::ocserv::occtl_cmd::counters,
                            dialect,
                        )
                    } else {
                        format!(
                            "{}\nPress CTRL+C to quit\n\n",
                            fmt::users_table(&list.user, now())
                        )
                    }
                }
                Update::Sessions(list) => {
                    eprintln!("events: reconnected ({} session(s))", list.user.len());
                    continue;
                }
                Update::Event(e) => {
                    let line = if json {
                        fmt::event_json(&e, now())
                    } else {
                        fmt::event_line(&e, now())
                    };
                    match line {
                        Some(l) => l + "\n",
                        None => continue,
                    }
                }
                Update::Lost(e) if !started => {
                    say("occtl", &e);
                    return ExitCode::from(FAILED);
                }
                Update::Lost(e) => {
                    eprintln!("events: {e}; reconnecting");
                    continue;
                }
            };
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::SUCCESS; // the reader went away (a closed pipe)
            }
        }
    })
}
