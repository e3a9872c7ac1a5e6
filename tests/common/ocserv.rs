//! What ocserv hands its connect/disconnect script, and running the real hook with it.

use super::{bin, hook};
use std::path::Path;

/// What ocserv sets for a connect of `user` (session `id`) from `ip`.
pub fn connect(id: u32, user: &str, ip: &str) -> Vec<(String, String)> {
    vec![
        ("REASON".into(), "connect".into()),
        ("ID".into(), id.to_string()),
        ("USERNAME".into(), user.into()),
        ("GROUPNAME".into(), "staff".into()),
        ("IP_REAL".into(), ip.into()),
        ("IP_REMOTE".into(), "10.10.0.2".into()),
        ("DEVICE".into(), "vpns0".into()),
    ]
}

pub fn disconnect(id: u32, user: &str) -> Vec<(String, String)> {
    vec![
        ("REASON".into(), "disconnect".into()),
        ("ID".into(), id.to_string()),
        ("USERNAME".into(), user.into()),
        ("STATS_BYTES_IN".into(), "1000".into()),
        ("STATS_BYTES_OUT".into(), "2000".into()),
        ("STATS_DURATION".into(), "30".into()),
    ]
}

pub fn run_hook(config: &Path, vars: &[(String, String)]) -> (Option<i32>, String) {
    hook(&bin(), &["hook", "-c", config.to_str().unwrap()], vars)
}
