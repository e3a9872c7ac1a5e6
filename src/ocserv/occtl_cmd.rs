//! occtl's everyday commands, parsed and run over the native control client: shared by
//! `ocserv-agent occtl` and the portal's `ExecuteCommand`, so both accept the same words,
//! check the same arguments and print the same text.
//!
//! Arguments are checked before anything is sent: IDs are positive numbers, addresses parse,
//! names are printable without spaces, shell metacharacters or a leading `-`. Nothing is ever
//! given to a shell; the checks keep odd input out of ocserv and out of the logs.

use crate::ocserv::ctl::{Client, CtlError};
use crate::ocserv::occtl_fmt::{self as fmt, Counters, Dialect};
use crate::ocserv::version;
use crate::utc::now;
use std::net::IpAddr;

/// Exit status of a command ocserv refused or that failed.
pub const FAILED: u8 = 1;
/// Exit status for an unknown user or ID (occtl's).
pub const NOT_FOUND: u8 = 2;

/// The commands, as words on the command line.
pub const USAGE: &str = "commands: show users | show status | show user NAME | show id ID | \
show ip bans | show events | disconnect user NAME | disconnect id ID | unban ip IP | reload";

/// What was asked for, checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Users,
    Status,
    User(String),
    Id(i32),
    Bans,
    DisconnectUser(String),
    DisconnectId(i32),
    Unban(IpAddr),
    Reload,
}

/// Why a command line is refused (before anything is sent to ocserv).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadCommand {
    /// Not one of the verbs (the words given).
    Unknown(String),
    /// Not a user name ocserv could have (escaped for printing).
    UserName(String),
    /// Not a positive session ID.
    SessionId(String),
    /// Not an IP address.
    Address(String),
}

impl std::fmt::Display for BadCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadCommand::Unknown(words) => write!(f, "unknown command '{words}'; {USAGE}"),
            BadCommand::UserName(name) => write!(f, "'{name}' is not a user name"),
            BadCommand::SessionId(id) => write!(f, "'{id}' is not a session ID"),
            BadCommand::Address(ip) => write!(f, "'{ip}' is not an IP address"),
        }
    }
}

impl std::error::Error for BadCommand {}

/// Reads occtl's command words into a request, every argument checked.
pub fn parse(words: &[String]) -> Result<Request, BadCommand> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    Ok(match w.as_slice() {
        ["show", "users"] => Request::Users,
        ["show", "status"] => Request::Status,
        ["show", "user", name] => Request::User(username(name)?),
        ["show", "id", id] => Request::Id(session_id(id)?),
        ["show", "ip", "bans"] => Request::Bans,
        ["disconnect", "user", name] => Request::DisconnectUser(username(name)?),
        ["disconnect", "id", id] => Request::DisconnectId(session_id(id)?),
        ["unban", "ip", ip] => Request::Unban(
            ip.parse()
                .map_err(|_| BadCommand::Address(ip.to_string()))?,
        ),
        ["reload"] => Request::Reload,
        _ => return Err(BadCommand::Unknown(w.join(" "))),
    })
}

/// A user name as ocserv could have one: printable, no spaces, bounded (requests are ≤ 256 B).
fn username(name: &str) -> Result<String, BadCommand> {
    if name.is_empty()
        || name.len() > 200
        || name.starts_with('-')
        || name.contains(|c: char| "`$;|&<>(){}[]*?!~'\"\\".contains(c))
        || name.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(BadCommand::UserName(name.escape_default().to_string()));
    }
    Ok(name.to_string())
}

fn session_id(id: &str) -> Result<i32, BadCommand> {
    id.parse::<i32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| BadCommand::SessionId(id.to_string()))
}

/// The command's words without its argument, as `grpc.allowed_command` lists them.
pub fn verb(request: &Request) -> &'static str {
    match request {
        Request::Users => "show users",
        Request::Status => "show status",
        Request::User(_) => "show user",
        Request::Id(_) => "show id",
        Request::Bans => "show ip bans",
        Request::DisconnectUser(_) => "disconnect user",
        Request::DisconnectId(_) => "disconnect id",
        Request::Unban(_) => "unban ip",
        Request::Reload => "reload",
    }
}

/// A tun device's counters, as the formatter wants them.
pub fn counters(dev: &str) -> Counters {
    let (rx, tx) = crate::ocserv::tun_counters(dev);
    Counters { rx, tx }
}

/// Runs a request: the text to print and the exit status.
pub async fn execute(
    client: &Client,
    request: &Request,
    json: bool,
) -> Result<(String, u8), CtlError> {
    // occtl's words differ between versions where sessions are printed in detail or as JSON.
    let detailed = matches!(request, Request::User(_) | Request::Id(_))
        || (json && matches!(request, Request::Users));
    let dialect = if detailed {
        Dialect::of(version::running(client).await)
    } else {
        Dialect::of(None)
    };
    let users = |list: Vec<_>, table: bool| {
        let code = if list.is_empty() && !table {
            NOT_FOUND
        } else {
            0
        };
        let out = if json {
            fmt::users_json(&list, now(), &counters, dialect)
        } else if table {
            fmt::users_table(&list, now())
        } else if list.is_empty() {
            "user or ID not found\n".to_string()
        } else {
            fmt::user_detail(&list, now(), &counters, dialect)
        };
        (out, code)
    };
    let done = |ok: bool, yes: String, no: String| {
        if ok {
            (format!("{yes}\n"), 0)
        } else {
            (format!("{no}\n"), FAILED)
        }
    };
    Ok(match request {
        Request::Users => users(client.list().await?.user, true),
        Request::User(name) => users(client.user_info(name).await?.user, false),
        Request::Id(id) => users(client.id_info(*id).await?.user, false),
        Request::Status => {
            let st = client.status().await?;
            let dialect = Dialect::of(version::of_main_pid(st.pid).await);
            let out = if json {
                fmt::status_json(&st, now(), dialect)
            } else {
                fmt::status_text(&st, now(), dialect)
            };
            (out, 0)
        }
        Request::Bans => {
            let bans = client.banned().await?;
            let out = if json {
                fmt::bans_json(&bans, now())
            } else {
                fmt::bans_text(&bans, now())
            };
            (out, 0)
        }
        Request::DisconnectUser(name) => done(
            client.disconnect_user(name).await?,
            format!("user '{name}' was disconnected"),
            format!("could not disconnect user '{name}'"),
        ),
        Request::DisconnectId(id) => done(
            client.disconnect_id(*id).await?,
            format!("connection ID '{id}' was disconnected"),
            format!("could not disconnect ID '{id}'"),
        ),
        Request::Unban(ip) => done(
            client.unban(*ip).await?,
            format!("IP '{ip}' was unbanned"),
            format!("could not unban IP '{ip}'"),
        ),
        Request::Reload => done(
            client.reload().await?,
            "Server scheduled to reload".into(),
            "could not reload the server".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Request, String> {
        parse(&line.split(' ').map(str::to_string).collect::<Vec<_>>()).map_err(|e| e.to_string())
    }

    #[test]
    fn commands_and_their_arguments_are_checked() {
        assert_eq!(p("show users"), Ok(Request::Users));
        assert_eq!(
            p("show user alice@corp"),
            Ok(Request::User("alice@corp".into()))
        );
        assert_eq!(p("disconnect id 15202"), Ok(Request::DisconnectId(15202)));
        assert_eq!(
            p("unban ip 2001:db8::1"),
            Ok(Request::Unban("2001:db8::1".parse().unwrap()))
        );
        assert!(p("show id -1").unwrap_err().contains("not a session ID"));
        assert!(p("show id 99999999999").is_err());
        assert!(p("unban ip 10.0.0.1;reboot")
            .unwrap_err()
            .contains("not an IP"));
        assert!(p("show user a\u{1}b").is_err());
        for injection in [
            "a;reboot", "$(id)", "`id`", "a|b", "a&&b", "x>y", "a'b", "a\\b",
        ] {
            assert!(
                p(&format!("disconnect user {injection}")).is_err(),
                "{injection}"
            );
        }
        assert!(p(&format!("show user {}", "x".repeat(201))).is_err());
        assert!(p("stop now")
            .unwrap_err()
            .contains("unknown command 'stop now'"));
    }
}
