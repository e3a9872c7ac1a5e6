//! Command-line entry points, one module per subcommand. `main.rs` only dispatches here.

mod cache;
mod check_config;
mod hook;
mod occtl;
mod run;
mod status;
mod version;

use argh::FromArgs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The name under which the binary acts as ocserv's connect/disconnect script by itself.
pub const HOOK_NAME: &str = "ocserv-agent-hook";

#[derive(FromArgs)]
/// ocserv-agent: authorizes, manages and reports ocserv VPN sessions on a router.
struct Cli {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Run(RunArgs),
    Hook(HookArgs),
    CheckConfig(CheckConfigArgs),
    Status(StatusArgs),
    Cache(CacheArgs),
    Occtl(OcctlArgs),
    Version(VersionArgs),
}

/// What a command says on stderr, in one place: `ocserv-agent COMMAND: message`, the prefix
/// ocserv's log and the operator's terminal show for every complaint of ours.
fn say(command: &str, message: impl std::fmt::Display) {
    eprintln!("ocserv-agent {command}: {message}");
}

fn default_config() -> PathBuf {
    PathBuf::from(crate::config::DEFAULT_PATH)
}

#[derive(FromArgs)]
/// Run the daemon in the foreground (procd supervises it).
#[argh(subcommand, name = "run")]
pub struct RunArgs {
    /// configuration file (default /etc/config/ocserv-agent)
    #[argh(option, short = 'c', default = "default_config()")]
    pub config: PathBuf,
}

#[derive(FromArgs)]
/// Act as ocserv's connect / disconnect / host-update script (reads ocserv's environment).
#[argh(subcommand, name = "hook")]
pub struct HookArgs {
    /// configuration file (default /etc/config/ocserv-agent)
    #[argh(option, short = 'c', default = "default_config()")]
    pub config: PathBuf,
}

#[derive(FromArgs)]
/// Validate the configuration and print it, defaults filled in, as `uci show` would.
#[argh(subcommand, name = "check-config")]
pub struct CheckConfigArgs {
    /// configuration file (default /etc/config/ocserv-agent)
    #[argh(option, short = 'c', default = "default_config()")]
    pub config: PathBuf,
}

#[derive(FromArgs)]
/// Ask the running daemon for its state.
#[argh(subcommand, name = "status")]
pub struct StatusArgs {
    /// configuration file, for the socket path (default /etc/config/ocserv-agent)
    #[argh(option, short = 'c', default = "default_config()")]
    pub config: PathBuf,
    /// print JSON instead of text
    #[argh(switch)]
    pub json: bool,
}

#[derive(FromArgs)]
/// Drop the running daemon's cached portal decisions: `cache clear [USER]`.
#[argh(subcommand, name = "cache")]
pub struct CacheArgs {
    /// configuration file, for the socket path (default /etc/config/ocserv-agent)
    #[argh(option, short = 'c', default = "default_config()")]
    pub config: PathBuf,
    /// clear
    #[argh(positional)]
    pub action: String,
    /// the user whose decisions to drop (default: everyone's)
    #[argh(positional)]
    pub user: Option<String>,
}

#[derive(FromArgs)]
/// occtl's commands over ocserv's control socket (run as root, in ocserv's network namespace).
#[argh(subcommand, name = "occtl")]
pub struct OcctlArgs {
    /// configuration file, for the control socket's path (default /etc/config/ocserv-agent)
    #[argh(option, short = 'c', default = "default_config()")]
    pub config: PathBuf,
    /// the control socket, instead of the one the configuration names
    #[argh(option, short = 's')]
    pub socket: Option<PathBuf>,
    /// print JSON instead of text
    #[argh(switch)]
    pub json: bool,
    /// show users | show status | show user NAME | show id ID | show ip bans | show events |
    /// disconnect user NAME | disconnect id ID | unban ip IP | reload
    #[argh(positional, greedy)]
    pub command: Vec<String>,
}

#[derive(FromArgs)]
/// Print the version, target and enabled features.
#[argh(subcommand, name = "version")]
pub struct VersionArgs {}

/// Parses the command line (or recognises hook mode by the program name) and runs it.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let invoked_as = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    if invoked_as == HOOK_NAME {
        let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
        return match HookArgs::from_args(&[HOOK_NAME], &rest) {
            Ok(hook_args) => hook::run(hook_args),
            Err(early) => {
                // Help or a usage error: never admit a session because of it.
                eprintln!("{}", early.output);
                ExitCode::from(if early.status.is_ok() { 0 } else { 1 })
            }
        };
    }
    let cli: Cli = argh::from_env();
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Hook(a) => hook::run(a),
        Command::CheckConfig(a) => check_config::run(a),
        Command::Status(a) => status::run(a),
        Command::Cache(a) => cache::run(a),
        Command::Occtl(a) => occtl::run(a),
        Command::Version(_) => version::run(),
    }
}
