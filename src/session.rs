//! The decision input: what ocserv tells its connect / disconnect / host-update script, read
//! from the environment and checked.
//!
//! ocserv runs the script with no arguments; everything is in variables (see
//! `shared/spec/ocserv.md` §1). Values that decide (REASON, ID, USERNAME, GROUPNAME, addresses)
//! must be well formed or the request is refused with a message naming the variable; values that
//! only inform (user agent, host name, device strings) are client-supplied, so they are cut to
//! [`MAX_INFO_LEN`] bytes instead of failing a login over a long user agent.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Longest user or group name accepted.
pub const MAX_NAME_LEN: usize = 256;

/// Informational strings longer than this are cut (on a character boundary).
pub const MAX_INFO_LEN: usize = 256;

/// Why ocserv ran the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A new session asks to be admitted: the only reason whose exit code ocserv obeys.
    Connect,
    /// A session ended.
    Disconnect,
    /// The client announced its host name after connecting.
    HostUpdate,
}

impl Reason {
    /// The reason ocserv names with `word`; `None` for any other word.
    pub fn from_word(word: &str) -> Option<Reason> {
        [Reason::Connect, Reason::Disconnect, Reason::HostUpdate]
            .into_iter()
            .find(|r| r.as_str() == word)
    }

    /// The word ocserv puts in `REASON`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::Disconnect => "disconnect",
            Reason::HostUpdate => "host-update",
        }
    }
}

/// Traffic totals ocserv reports on disconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Bytes from the client.
    pub bytes_in: u64,
    /// Bytes to the client.
    pub bytes_out: u64,
    /// How long the session lasted.
    pub duration_secs: u64,
}

/// One script invocation, as ocserv described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    /// Why ocserv ran the script.
    pub reason: Reason,
    /// ocserv's session id (the worker's pid): the same as occtl's ID.
    pub id: u32,
    /// The authenticated user (never empty).
    pub username: String,
    /// The user's group, or empty.
    pub groupname: String,
    /// ocserv's virtual host (`default` without vhosts).
    pub vhost: String,
    /// The tun device of the session.
    pub device: String,
    /// The client's public address.
    pub ip_real: Option<IpAddr>,
    /// The server address the client reached.
    pub ip_real_local: Option<IpAddr>,
    /// Server side of the tunnel (IPv4).
    pub ip_local: Option<IpAddr>,
    /// The client's VPN address (IPv4).
    pub ip_remote: Option<IpAddr>,
    /// Server side of the tunnel (IPv6).
    pub ipv6_local: Option<Ipv6Addr>,
    /// The client's VPN address (IPv6).
    pub ipv6_remote: Option<Ipv6Addr>,
    /// Length of the client's IPv6 prefix (at most 128).
    pub ipv6_prefix: Option<u8>,
    /// What the client announced (REMOTE_HOSTNAME, else HOSTNAME).
    pub hostname: String,
    /// The client's software, as it announced itself.
    pub user_agent: String,
    /// The client's device type, as it announced it.
    pub device_type: String,
    /// The client's platform, as it announced it.
    pub device_platform: String,
    /// Present on disconnect.
    pub stats: Option<Stats>,
    /// The trace of the decision and the session: set by the daemon when the event reaches it
    /// (a new one for a connect, the session's for its disconnect, a NotifyConnect's own), so
    /// never read from the hook or its socket.
    pub trace: Option<crate::trace::TraceId>,
}

/// A value that is missing or malformed, named by ocserv's script variable (also when the event
/// came from the hook's message or a NotifyConnect: the names an operator can look up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvError {
    /// ocserv's name for the value.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for EnvError {}

impl SessionEvent {
    /// Reads the process environment.
    pub fn from_process_env() -> Result<SessionEvent, EnvError> {
        SessionEvent::from_env(|name| std::env::var_os(name))
    }

    /// Reads variables through `lookup`, so tests can supply their own.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<SessionEvent, EnvError> {
        let env = Env(lookup);
        let reason = env.required("REASON")?;
        let reason = Reason::from_word(&reason).ok_or_else(|| EnvError {
            variable: "REASON",
            problem: format!(
                "unknown reason '{reason}' (expected connect, disconnect or host-update)"
            ),
        })?;
        let id = env.required("ID")?;
        let id = id.parse::<u32>().map_err(|_| EnvError {
            variable: "ID",
            problem: format!("'{id}' is not a session id"),
        })?;
        let stats = if reason == Reason::Disconnect {
            Some(Stats {
                bytes_in: env.number("STATS_BYTES_IN")?.unwrap_or(0),
                bytes_out: env.number("STATS_BYTES_OUT")?.unwrap_or(0),
                duration_secs: env.number("STATS_DURATION")?.unwrap_or(0),
            })
        } else {
            None
        };
        let hostname = match env.text("REMOTE_HOSTNAME")? {
            h if !h.is_empty() => h,
            _ => env.text("HOSTNAME")?,
        };
        let ip = |variable| {
            env.get(variable)?
                .map(|v| parse_ip(variable, &v))
                .transpose()
        };
        let ipv6 = |variable| {
            env.get(variable)?
                .map(|v| parse_ipv6(variable, &v))
                .transpose()
        };
        SessionEvent {
            reason,
            id,
            username: env.required("USERNAME")?,
            groupname: env.text("GROUPNAME")?,
            vhost: env.text("VHOST")?,
            device: env.text("DEVICE")?,
            ip_real: ip("IP_REAL")?,
            ip_real_local: ip("IP_REAL_LOCAL")?,
            ip_local: ip("IP_LOCAL")?,
            ip_remote: ip("IP_REMOTE")?,
            ipv6_local: ipv6("IPV6_LOCAL")?,
            ipv6_remote: ipv6("IPV6_REMOTE")?,
            ipv6_prefix: env.number("IPV6_PREFIX")?.map(|p| p.min(128) as u8),
            hostname,
            user_agent: env.text("USER_AGENT")?,
            device_type: env.text("DEVICE_TYPE")?,
            device_platform: env.text("DEVICE_PLATFORM")?,
            stats,
            trace: None,
        }
        .checked()
    }

    /// The rules every event meets wherever it came from (ocserv's environment in the hook, the
    /// hook's message in the daemon, a NotifyConnect): a user name is set, names are bounded
    /// and free of control characters, informational text is cut to [`MAX_INFO_LEN`] bytes,
    /// a prefix length is at most 128, and only a disconnect carries traffic totals (zeros when
    /// ocserv gave none).
    pub fn checked(mut self) -> Result<SessionEvent, EnvError> {
        if self.username.is_empty() {
            return Err(EnvError {
                variable: "USERNAME",
                problem: NOT_SET.into(),
            });
        }
        check_name("USERNAME", &self.username)?;
        check_name("GROUPNAME", &self.groupname)?;
        for text in [
            &mut self.vhost,
            &mut self.device,
            &mut self.hostname,
            &mut self.user_agent,
            &mut self.device_type,
            &mut self.device_platform,
        ] {
            cut_info(text);
        }
        if let Some(prefix) = self.ipv6_prefix.filter(|p| *p > 128) {
            return Err(EnvError {
                variable: "IPV6_PREFIX",
                problem: format!("{prefix} is not a prefix length (at most 128)"),
            });
        }
        self.stats = match self.reason {
            Reason::Disconnect => Some(self.stats.unwrap_or(Stats {
                bytes_in: 0,
                bytes_out: 0,
                duration_secs: 0,
            })),
            Reason::Connect | Reason::HostUpdate => None,
        };
        Ok(self)
    }
}

const NOT_SET: &str = "not set (is this binary running as ocserv's connect-script?)";

/// A user or group name: bounded, no control characters.
fn check_name(variable: &'static str, value: &str) -> Result<(), EnvError> {
    if value.len() > MAX_NAME_LEN || value.chars().any(char::is_control) {
        return Err(EnvError {
            variable,
            problem: format!(
                "not a valid name (at most {MAX_NAME_LEN} bytes, no control characters)"
            ),
        });
    }
    Ok(())
}

/// Informational text, cut to [`MAX_INFO_LEN`] bytes on a character boundary.
fn cut_info(value: &mut String) {
    if value.len() > MAX_INFO_LEN {
        let mut end = MAX_INFO_LEN;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
}

/// An address in `variable`'s text.
pub fn parse_ip(variable: &'static str, text: &str) -> Result<IpAddr, EnvError> {
    text.parse().map_err(|_| EnvError {
        variable,
        problem: format!("'{text}' is not an IP address"),
    })
}

/// An IPv6 address in `variable`'s text; ocserv appends a meaningless `%NNN` to IPV6_LOCAL,
/// which is stripped.
pub fn parse_ipv6(variable: &'static str, text: &str) -> Result<Ipv6Addr, EnvError> {
    let addr = text.split('%').next().unwrap_or("");
    addr.parse().map_err(|_| EnvError {
        variable,
        problem: format!("'{text}' is not an IPv6 address"),
    })
}

struct Env<F>(F);

impl<F: Fn(&str) -> Option<std::ffi::OsString>> Env<F> {
    /// The value, if set and non-empty. Non-UTF-8 is an error: names must compare exactly.
    fn get(&self, variable: &'static str) -> Result<Option<String>, EnvError> {
        match (self.0)(variable) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => v.into_string().map(Some).map_err(|_| EnvError {
                variable,
                problem: "not valid UTF-8".into(),
            }),
        }
    }

    fn required(&self, variable: &'static str) -> Result<String, EnvError> {
        self.get(variable)?.ok_or(EnvError {
            variable,
            problem: NOT_SET.into(),
        })
    }

    /// Text that may be unset (then empty).
    fn text(&self, variable: &'static str) -> Result<String, EnvError> {
        Ok(self.get(variable)?.unwrap_or_default())
    }

    fn number(&self, variable: &'static str) -> Result<Option<u64>, EnvError> {
        self.get(variable)?
            .map(|v| {
                v.trim().parse().map_err(|_| EnvError {
                    variable,
                    problem: format!("'{v}' is not a number"),
                })
            })
            .transpose()
    }
}

impl SessionEvent {
    /// An event with the given reason, session id and user and nothing else set, for sources
    /// that know less than ocserv's environment (NotifyConnect) to fill in, then
    /// [`SessionEvent::checked`].
    pub fn new(reason: Reason, id: u32, username: &str) -> SessionEvent {
        SessionEvent {
            reason,
            id,
            username: username.to_string(),
            groupname: String::new(),
            vhost: String::new(),
            device: String::new(),
            ip_real: None,
            ip_real_local: None,
            ip_local: None,
            ip_remote: None,
            ipv6_local: None,
            ipv6_remote: None,
            ipv6_prefix: None,
            hostname: String::new(),
            user_agent: String::new(),
            device_type: String::new(),
            device_platform: String::new(),
            stats: None,
            trace: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    fn event(vars: &[(&str, &str)]) -> Result<SessionEvent, EnvError> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        SessionEvent::from_env(|k| map.get(k).cloned())
    }

    /// A connect as Debian's ocserv 1.1.6 sent it in the spec's real login.
    const CONNECT: &[(&str, &str)] = &[
        ("REASON", "connect"),
        ("ID", "15202"),
        ("USERNAME", "alice"),
        ("GROUPNAME", "engineering"),
        ("VHOST", "default"),
        ("DEVICE", "vpns0"),
        ("IP_REAL", "10.199.0.2"),
        ("IP_REAL_LOCAL", "10.199.0.1"),
        ("IP_LOCAL", "192.168.77.1"),
        ("IP_REMOTE", "192.168.77.50"),
        ("IPV6_LOCAL", "fd00:77:1::1%1962844416"),
        ("IPV6_REMOTE", "fd00:77:1::58ef"),
        ("IPV6_PREFIX", "64"),
        ("HOSTNAME", "router"),
        ("REMOTE_HOSTNAME", "vm"),
        ("USER_AGENT", "Open AnyConnect VPN Agent v9.01-3"),
        ("DEVICE_TYPE", ""),
    ];

    #[test]
    fn reads_a_real_connect() {
        let e = event(CONNECT).unwrap();
        assert_eq!(e.reason, Reason::Connect);
        assert_eq!(e.id, 15202);
        assert_eq!(e.username, "alice");
        assert_eq!(e.groupname, "engineering");
        assert_eq!(e.ip_real, Some("10.199.0.2".parse().unwrap()));
        assert_eq!(e.ip_remote, Some("192.168.77.50".parse().unwrap()));
        assert_eq!(e.ipv6_local, Some("fd00:77:1::1".parse().unwrap()));
        assert_eq!(e.ipv6_prefix, Some(64));
        assert_eq!(e.hostname, "vm");
        assert_eq!(e.device_type, "");
        assert_eq!(e.stats, None);
    }

    #[test]
    fn disconnect_carries_stats() {
        let mut vars = CONNECT.to_vec();
        vars[0] = ("REASON", "disconnect");
        vars.extend([
            ("STATS_BYTES_IN", "216"),
            ("STATS_BYTES_OUT", "18446744073709551615"),
            ("STATS_DURATION", "3"),
        ]);
        let e = event(&vars).unwrap();
        assert_eq!(
            e.stats,
            Some(Stats {
                bytes_in: 216,
                bytes_out: u64::MAX,
                duration_secs: 3
            })
        );
    }

    #[test]
    fn missing_or_bad_deciding_values_are_errors() {
        let without = |name: &str| {
            let vars: Vec<_> = CONNECT
                .iter()
                .copied()
                .filter(|(k, _)| *k != name)
                .collect();
            event(&vars).unwrap_err().variable
        };
        assert_eq!(without("REASON"), "REASON");
        assert_eq!(without("USERNAME"), "USERNAME");
        assert_eq!(without("ID"), "ID");
        let with = |name: &'static str, value: &'static str| {
            let mut vars = CONNECT.to_vec();
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            event(&vars)
        };
        assert!(with("REASON", "reconnect")
            .unwrap_err()
            .problem
            .contains("unknown reason"));
        assert_eq!(with("ID", "-1").unwrap_err().variable, "ID");
        assert_eq!(with("IP_REAL", "10.0.0").unwrap_err().variable, "IP_REAL");
        assert_eq!(with("USERNAME", "a\nb").unwrap_err().variable, "USERNAME");
        let long = Box::leak("u".repeat(MAX_NAME_LEN + 1).into_boxed_str());
        assert_eq!(with("USERNAME", long).unwrap_err().variable, "USERNAME");
        assert!(with("GROUPNAME", "").is_ok());
        assert_eq!(with("HOSTNAME", "x").unwrap().hostname, "vm");
    }

    #[test]
    fn informational_values_are_cut_not_refused() {
        let mut vars = CONNECT.to_vec();
        let ua = Box::leak("ü".repeat(400).into_boxed_str());
        vars.push(("USER_AGENT", ua));
        vars.retain(|(k, v)| *k != "USER_AGENT" || v.len() > 100);
        let e = event(&vars).unwrap();
        assert!(e.user_agent.len() <= MAX_INFO_LEN && e.user_agent.len() >= MAX_INFO_LEN - 1);
    }

    #[test]
    fn non_utf8_username_is_refused() {
        use std::os::unix::ffi::OsStringExt;
        let r = SessionEvent::from_env(|k| match k {
            "REASON" => Some("connect".into()),
            "ID" => Some("1".into()),
            "USERNAME" => Some(OsString::from_vec(vec![0xff, 0x61])),
            _ => None,
        });
        assert_eq!(r.unwrap_err().variable, "USERNAME");
    }
}
