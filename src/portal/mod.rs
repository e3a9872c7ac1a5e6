//! The agent as the portal's client: policy questions (auth.rs), ValidateSession sweeps of the
//! sessions ocserv has (validate.rs), and the channel they travel on.

pub mod auth;
pub mod validate;

use crate::config::{Config, Portal};
use crate::grpc::client::{Channel, Settings};
use crate::grpc::{client_config, TlsError, TlsFiles};
use async_executor::LocalExecutor;

/// A channel to the configured portal; `Ok(None)` when the portal is disabled. Errors name the
/// file that could not be used.
pub fn channel(
    config: &Config,
    executor: &'static LocalExecutor<'static>,
) -> Result<Option<Channel>, LinkError> {
    Ok(settings(config)?.map(|s| Channel::new(s, executor)))
}

/// How to reach the configured portal; `Ok(None)` when it is disabled.
fn settings(config: &Config) -> Result<Option<Settings>, LinkError> {
    let Portal {
        enabled: true,
        address: Some(address),
        ca: Some(ca),
        cert: Some(cert),
        key: Some(key),
        server_name,
        timeout,
        ..
    } = &config.portal
    else {
        return Ok(None);
    };
    let files = TlsFiles { ca, cert, key };
    let mut settings = link(config, "portal", address, server_name.as_deref(), files)?;
    // A connection is made inside a call and ends with the call's deadline anyway; an operator
    // who gives calls longer than the default connect timeout (a slow uplink, a slow CPU doing
    // the handshake) means that the connection may take that long too.
    settings.connect_timeout = settings.connect_timeout.max(*timeout);
    // The breaker already paces calls while the portal is away; the channel's own wait after a
    // failed connection attempt must not outlast the breaker's, or the half-open probe that
    // follows a heal would find the channel still waiting and re-open the breaker. The last
    // attempt fails at the latest when the breaker opens; its wait (+20% jitter at most) ends
    // by the time the breaker lets the probe through.
    settings.backoff_max = settings
        .backoff_max
        .min(config.resilience.breaker_timeout * 5 / 6)
        .max(settings.backoff_min);
    Ok(Some(settings))
}

/// Client settings for a link to the portal's side (the portal itself, the control server),
/// with the same TLS floor as our own endpoint: 1.3 unless grpc.allow_tls12. `what` names the
/// link in errors.
pub fn link(
    config: &Config,
    what: &'static str,
    address: &str,
    server_name: Option<&str>,
    files: TlsFiles,
) -> Result<Settings, LinkError> {
    let tls =
        client_config(files, config.grpc.allow_tls12).map_err(|error| LinkError { what, error })?;
    Ok(Settings::new(address, server_name, tls))
}

/// A link to the portal (or the control server) that cannot be set up: its TLS files.
#[derive(Debug)]
pub struct LinkError {
    /// `portal` or `control`.
    pub what: &'static str,
    pub error: TlsError,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} TLS: {}", self.what, self.error)
    }
}

impl std::error::Error for LinkError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn enabled(timeout: Duration) -> Config {
        let pki = crate::grpc::test_certs();
        let mut config = crate::config::parse(b"").unwrap();
        config.portal = Portal {
            enabled: true,
            address: Some("127.0.0.1:1".into()),
            ca: Some(pki.join("ca.pem")),
            cert: Some(pki.join("client.pem")),
            key: Some(pki.join("client.key")),
            server_name: Some("localhost".into()),
            timeout,
            validate_interval: Duration::ZERO,
        };
        config
    }

    #[test]
    fn a_portal_timeout_longer_than_the_connect_timeout_extends_it() {
        let s = settings(&enabled(Duration::from_secs(20)))
            .unwrap()
            .unwrap();
        assert_eq!(s.connect_timeout, Duration::from_secs(20));
        let s = settings(&enabled(Duration::from_secs(2))).unwrap().unwrap();
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.server_name, "localhost");
    }

    #[test]
    fn the_channel_never_waits_longer_than_the_breaker() {
        let mut config = enabled(Duration::from_secs(2));
        let s = settings(&config).unwrap().unwrap();
        assert_eq!(
            s.backoff_max,
            Duration::from_secs(25),
            "30 s breaker: 25 s + 20% = 30 s"
        );
        config.resilience.breaker_timeout = Duration::from_secs(6);
        let s = settings(&config).unwrap().unwrap();
        assert_eq!(s.backoff_max, Duration::from_secs(5));
        config.resilience.breaker_timeout = Duration::from_millis(1);
        let s = settings(&config).unwrap().unwrap();
        assert_eq!(s.backoff_max, s.backoff_min, "never below the first wait");
        config.resilience.breaker_timeout = Duration::from_secs(600);
        let s = settings(&config).unwrap().unwrap();
        assert_eq!(
            s.backoff_max,
            Duration::from_secs(30),
            "the channel's own cap stays"
        );
    }

    #[test]
    fn a_disabled_portal_has_no_channel_and_a_bad_key_is_named() {
        let mut config = enabled(Duration::from_secs(2));
        config.portal.enabled = false;
        assert!(settings(&config).unwrap().is_none());
        let mut config = enabled(Duration::from_secs(2));
        config.portal.key = Some("/nonexistent/client.key".into());
        let err = settings(&config).unwrap_err().to_string();
        assert!(
            err.contains("portal TLS") && err.contains("/nonexistent/client.key"),
            "{err}"
        );
    }
}
