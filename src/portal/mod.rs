//! The agent as the portal's client: policy questions (auth.rs), and the channel they travel on.

pub mod auth;

use crate::config::{Config, Portal};
use crate::grpc::client::{Channel, Settings};
use crate::grpc::tls::{client_config, TlsFiles};
use async_executor::LocalExecutor;

/// A channel to the configured portal; `Ok(None)` when the portal is disabled. Errors name the
/// file that could not be used.
pub fn channel(
    config: &Config,
    executor: &'static LocalExecutor<'static>,
) -> Result<Option<Channel>, String> {
    let Portal {
        enabled: true,
        address: Some(address),
        ca: Some(ca),
        cert: Some(cert),
        key: Some(key),
        server_name,
        ..
    } = &config.portal
    else {
        return Ok(None);
    };
    // The same TLS floor as our own endpoint: 1.3 unless grpc.allow_tls12.
    let tls = client_config(TlsFiles { ca, cert, key }, config.grpc.allow_tls12)
        .map_err(|e| format!("portal TLS: {e}"))?;
    let settings = Settings::new(address, server_name.as_deref(), tls);
    Ok(Some(Channel::new(settings, executor)))
}
