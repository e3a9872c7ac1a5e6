//! Value syntaxes shared by many options: durations, OpenWrt booleans, octal file modes,
//! CIDR prefixes and `host:port` addresses.
//!
//! Each parser returns an [`Invalid`] whose message says what was expected, so the caller only
//! has to add the file, line and option name.

use super::invalid::Invalid;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Parses `30` (seconds) or a whole number with a unit: `500ms`, `5s`, `2m`, `1h`.
///
/// Whole numbers only: `1.5s` is refused rather than rounded, so the value an operator reads
/// in the file is the value in force.
pub fn parse_duration(text: &str) -> Result<Duration, Invalid> {
    let err = || Invalid::Duration(text.to_string());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(err());
    }
    let n: u64 = digits.parse().map_err(|_| err())?;
    let millis_per_unit: u64 = match unit {
        "" | "s" => 1000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(err()),
    };
    let millis = n
        .checked_mul(millis_per_unit)
        .filter(|&ms| ms <= MAX_DURATION_MS)
        .ok_or_else(|| Invalid::DurationTooLong(text.to_string()))?;
    Ok(Duration::from_millis(millis))
}

/// No setting of ours needs more than this; larger values are typos.
const MAX_DURATION_MS: u64 = 1000 * 3_600_000;

/// Formats a duration the way [`parse_duration`] reads it, in the largest exact unit.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms % 3_600_000 == 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Parses the OpenWrt boolean words (`1|on|true|yes|enabled`, `0|off|false|no|disabled`).
pub fn parse_bool(text: &str) -> Result<bool, Invalid> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "on" | "true" | "yes" | "enabled" => Ok(true),
        "0" | "off" | "false" | "no" | "disabled" => Ok(false),
        _ => Err(Invalid::Bool(text.to_string())),
    }
}

/// Formats a boolean as `uci` tools write it.
pub fn format_bool(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// Parses an octal file mode such as `0600` or `660`.
pub fn parse_mode(text: &str) -> Result<u32, Invalid> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(Invalid::Mode(text.to_string()));
    }
    u32::from_str_radix(digits, 8).map_err(|_| Invalid::Mode(text.to_string()))
}

/// Formats a mode as four octal digits (`0600`).
pub fn format_mode(mode: u32) -> String {
    format!("{mode:04o}")
}

/// An IP prefix such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses a prefix; host bits must be zero so that `10.1.2.3/8` is caught as a likely typo.
    pub fn parse(text: &str) -> Result<Cidr, Invalid> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| Invalid::CidrAddress {
            address: addr_text.to_string(),
            text: text.to_string(),
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix =
            match prefix_text {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(|| {
                    Invalid::CidrPrefix {
                        prefix: p.to_string(),
                        text: text.to_string(),
                        max,
                    }
                })?,
            };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(Invalid::CidrHostBits {
                text: text.to_string(),
                network: cidr.network().to_string(),
                prefix,
            });
        }
        Ok(cidr)
    }

    /// The address with the host bits cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(self.prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(self.prefix)).into()),
        }
    }

    /// Whether `ip` lies inside this prefix. IPv4-mapped IPv6 addresses match IPv4 prefixes,
    /// because ocserv reports dual-stack clients that way on some systems.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Checks a `host:port` address (`portal.example.net:443`, `192.0.2.1:443`, `[2001:db8::1]:443`).
/// The host is resolved only when dialling, so a router may boot before DNS works.
pub fn check_host_port(text: &str) -> Result<(), Invalid> {
    let err = |why: &'static str| Invalid::HostPort {
        text: text.to_string(),
        why,
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(|| err("no port"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(err("bad port")),
    }
    if let Some(inner) = host.strip_prefix('[') {
        let v6 = inner.strip_suffix(']').ok_or_else(|| err("unclosed '['"))?;
        v6.parse::<std::net::Ipv6Addr>()
            .map_err(|_| err("bad IPv6 address"))?;
        return Ok(());
    }
    if host.contains(':') {
        return Err(err("put an IPv6 address in brackets"));
    }
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid_host {
        Ok(())
    } else {
        Err(err("bad host name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_refuse_junk() {
        for bad in [
            "",
            "s",
            "1.5s",
            "-1",
            "5 s",
            "5S",
            "5d",
            "ms5",
            "1e3",
            " 5",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_duration("1001h")
            .unwrap_err()
            .to_string()
            .contains("too long"));
    }

    #[test]
    fn durations_format_in_largest_exact_unit() {
        for (ms, text) in [
            (0, "0s"),
            (1500, "1500ms"),
            (5000, "5s"),
            (120_000, "2m"),
            (7_200_000, "2h"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    #[test]
    fn booleans_take_openwrt_words() {
        for t in ["1", "on", "true", "yes", "enabled", "TRUE", "Yes"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "off", "false", "no", "disabled"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "2", "y", "n", "enable", "truee"] {
            assert!(parse_bool(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        for bad in ["", "0800", "rw", "06000", "-600"] {
            assert!(parse_mode(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(format_mode(0o600), "0600");
    }

    #[test]
    fn cidrs_parse_and_match() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        let host = Cidr::parse("192.0.2.7").unwrap();
        assert_eq!(host.to_string(), "192.0.2.7/32");
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("fe80::1".parse().unwrap()));
    }

    #[test]
    fn cidrs_refuse_junk_and_host_bits() {
        assert!(Cidr::parse("10.1.2.3/8")
            .unwrap_err()
            .to_string()
            .contains("10.0.0.0/8"));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/",
            "host/8",
            "::/129",
            "10.0.0.0/-1",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn host_port_checks() {
        for good in [
            "portal.example.net:443",
            "192.0.2.1:8443",
            "[2001:db8::1]:443",
            "localhost:1",
        ] {
            assert_eq!(check_host_port(good), Ok(()), "{good}");
        }
        for bad in [
            "portal",
            "portal:0",
            "portal:99999",
            ":443",
            "2001:db8::1:443",
            "[2001:db8::1:443",
            "a..b:1",
            "bad host:1",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
