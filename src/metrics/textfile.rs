//! The metrics as a file for node-exporter's textfile collector, rewritten every
//! `metrics.textfile_interval`. node-exporter reads `*.prom` files whenever it is scraped, so
//! each write replaces the file atomically: it never sees half a file.

use async_io::Timer;
use std::path::PathBuf;
use std::time::Duration;

/// Writes `render()` to `path` every `interval` until dropped; failures are logged once per
/// streak (a full /tmp must not flood the log every 15 s).
pub async fn run(path: PathBuf, interval: impl Fn() -> Duration, render: impl Fn() -> String) {
    let mut failing = false;
    loop {
        let (to, text) = (path.clone(), render());
        let written =
            crate::offload::run(move || crate::fsutil::write_atomic(&to, text.as_bytes(), 0o644))
                .await
                .unwrap_or_else(|busy| Err(std::io::Error::other(busy.to_string())));
        match written {
            Ok(()) if failing => {
                log::info!("metrics: writing {} works again", path.display());
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                log::error!("metrics: cannot write {}: {e}", path.display());
                failing = true;
            }
            Err(_) => {}
        }
        Timer::after(interval()).await;
    }
}
