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

/// Every variable ocserv sets for the script that the agent reads: what the hook forwards.
pub const VARIABLES: &[&str] = &[
    "REASON",
    "ID",
    "USERNAME",
    "GROUPNAME",
    "VHOST",
    "DEVICE",
    "IP_REAL",
    "IP_REAL_LOCAL",
    "IP_LOCAL",
    "IP_REMOTE",
    "IPV6_LOCAL",
    "IPV6_REMOTE",
    "IPV6_PREFIX",
    "REMOTE_HOSTNAME",
    "HOSTNAME",
    "USER_AGENT",
    "DEVICE_TYPE",
    "DEVICE_PLATFORM",
    "STATS_BYTES_IN",
    "STATS_BYTES_OUT",
    "STATS_DURATION",
];

/// Why ocserv ran the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Connect,
    Disconnect,
    HostUpdate,
}

impl Reason {
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
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_secs: u64,
}

/// One script invocation, as ocserv described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    pub reason: Reason,
    /// ocserv's session id (the worker's pid): the same as occtl's ID.
    pub id: u32,
    pub username: String,
    pub groupname: String,
    pub vhost: String,
    pub device: String,
    /// The client's public address.
    pub ip_real: Option<IpAddr>,
    /// The server address the client reached.
    pub ip_real_local: Option<IpAddr>,
    /// Server side of the tunnel (IPv4).
    pub ip_local: Option<IpAddr>,
    /// The client's VPN address (IPv4).
    pub ip_remote: Option<IpAddr>,
    pub ipv6_local: Option<Ipv6Addr>,
    pub ipv6_remote: Option<Ipv6Addr>,
    pub ipv6_prefix: Option<u8>,
    /// What the client announced (REMOTE_HOSTNAME, else HOSTNAME).
    pub hostname: String,
    pub user_agent: String,
    pub device_type: String,
    pub device_platform: String,
    /// Present on disconnect.
    pub stats: Option<Stats>,
}

/// A variable that is missing or malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvError {
    pub variable: &'static str,
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
        let reason = match env.required("REASON")?.as_str() {
            "connect" => Reason::Connect,
            "disconnect" => Reason::Disconnect,
            "host-update" => Reason::HostUpdate,
            other => {
                return Err(EnvError {
                    variable: "REASON",
                    problem: format!(
                        "unknown reason '{other}' (expected connect, disconnect or host-update)"
                    ),
                })
            }
        };
        let id = env.required("ID")?;
        let id = id.parse::<u32>().map_err(|_| EnvError {
            variable: "ID",
            problem: format!("'{id}' is not a session id"),
        })?;
        let username = env.name("USERNAME", true)?;
        let stats = if reason == Reason::Disconnect {
            Some(Stats {
                bytes_in: env.number("STATS_BYTES_IN")?.unwrap_or(0),
                bytes_out: env.number("STATS_BYTES_OUT")?.unwrap_or(0),
                duration_secs: env.number("STATS_DURATION")?.unwrap_or(0),
            })
        } else {
            None
        };
        let hostname = match env.info("REMOTE_HOSTNAME")? {
            h if !h.is_empty() => h,
            _ => env.info("HOSTNAME")?,
        };
        Ok(SessionEvent {
            reason,
            id,
            username,
            groupname: env.name("GROUPNAME", false)?,
            vhost: env.info("VHOST")?,
            device: env.info("DEVICE")?,
            ip_real: env.ip("IP_REAL")?,
            ip_real_local: env.ip("IP_REAL_LOCAL")?,
            ip_local: env.ip("IP_LOCAL")?,
            ip_remote: env.ip("IP_REMOTE")?,
            ipv6_local: env.ipv6("IPV6_LOCAL")?,
            ipv6_remote: env.ipv6("IPV6_REMOTE")?,
            ipv6_prefix: env.number("IPV6_PREFIX")?.map(|p| p.min(128) as u8),
            hostname,
            user_agent: env.info("USER_AGENT")?,
            device_type: env.info("DEVICE_TYPE")?,
            device_platform: env.info("DEVICE_PLATFORM")?,
            stats,
        })
    }
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
            problem: "not set (is this binary running as ocserv's connect-script?)".into(),
        })
    }

    /// A user or group name: bounded, no control characters.
    fn name(&self, variable: &'static str, required: bool) -> Result<String, EnvError> {
        let value = if required {
            self.required(variable)?
        } else {
            self.get(variable)?.unwrap_or_default()
        };
        if value.len() > MAX_NAME_LEN || value.chars().any(char::is_control) {
            return Err(EnvError {
                variable,
                problem: format!(
                    "not a valid name (at most {MAX_NAME_LEN} bytes, no control characters)"
                ),
            });
        }
        Ok(value)
    }

    /// Informational text, cut to [`MAX_INFO_LEN`] bytes.
    fn info(&self, variable: &'static str) -> Result<String, EnvError> {
        let mut value = self.get(variable)?.unwrap_or_default();
        if value.len() > MAX_INFO_LEN {
            let mut end = MAX_INFO_LEN;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        Ok(value)
    }

    fn ip(&self, variable: &'static str) -> Result<Option<IpAddr>, EnvError> {
        self.get(variable)?
            .map(|v| {
                v.parse().map_err(|_| EnvError {
                    variable,
                    problem: format!("'{v}' is not an IP address"),
                })
            })
            .transpose()
    }

    /// ocserv appends a meaningless `%NNN` to IPV6_LOCAL; it is stripped.
    fn ipv6(&self, variable: &'static str) -> Result<Option<Ipv6Addr>, EnvError> {
        self.get(variable)?
            .map(|v| {
                let addr = v.split('%').next().unwrap_or("");
                addr.parse().map_err(|_| EnvError {
                    variable,
                    problem: format!("'{v}' is not an IPv6 address"),
                })
            })
            .transpose()
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
    /// An event with the given reason, session id and user and nothing else, for tests.
    #[cfg(test)]
    pub(crate) fn for_test(reason: Reason, id: u32, username: &str) -> SessionEvent {
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
