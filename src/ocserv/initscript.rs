//! OpenWrt's `/etc/init.d/ocserv reload`: how a changed `ocserv.conf.local` reaches the running
//! ocserv there. The init script renders `/var/etc/ocserv.conf` from UCI and appends the
//! fragment; ocserv's RELOAD then re-reads that file (a RELOAD alone would re-read the old
//! render). See `shared/spec/openwrt.md`.
//!
//! The script runs as a fixed command (`SCRIPT reload`: no shell of ours, no user text; it gets
//! the daemon's environment, which procd sets) and is waited for without blocking the daemon's
//! thread: the child is polled on a timer, and killed when it takes longer than [`TIMEOUT`].

use async_io::Timer;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Rendering ocserv.conf takes well under a second on a router; this only bounds a hang.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What happened when the script was asked to reload.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// There is no such script (not OpenWrt): nothing to render.
    NoScript,
    Done,
    /// It ran and failed, or could not be run; the words say how.
    Failed(String),
}

/// Runs `script reload` if `script` exists, within `timeout`.
pub async fn reload(script: &Path, timeout: Duration) -> Reloaded {
    if !script.exists() {
        return Reloaded::NoScript;
    }
    let spawn = || {
        Command::new(script)
            .arg("reload")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    let mut spawned = spawn();
    // ETXTBSY: the script was just replaced and a process forked meanwhile still holds it open
    // for writing (a package upgrade, or a test); it clears in moments.
    for _ in 0..10 {
        match &spawned {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                Timer::after(Duration::from_millis(20)).await;
                spawned = spawn();
            }
            _ => break,
        }
    }
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Reloaded::Failed(format!("cannot run {} reload: {e}", script.display())),
    };
    let give_up = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Reloaded::Done,
            Ok(Some(status)) => {
                // The code, or the signal that ended it (no ExitStatus Display: it costs 0.4 KB).
                let how = status.code().map_or_else(
                    || "killed by a signal".to_string(),
                    |c| format!("exit status {c}"),
                );
                return Reloaded::Failed(format!("{} reload: {how}", script.display()));
            }
            Ok(None) if Instant::now() >= give_up => {
                let _ = child.kill();
                let _ = child.wait();
                return Reloaded::Failed(format!(
                    "{} reload took longer than {timeout:?}; stopped",
                    script.display()
                ));
            }
            Ok(None) => {
                Timer::after(Duration::from_millis(20)).await;
            }
            Err(e) => return Reloaded::Failed(format!("{} reload: {e}", script.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("ocserv-init");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn runs_reload_and_reports_how_it_went() {
        let dir = crate::testutil::fresh_dir("initscript");
        let out = dir.join("args");
        let ok = script(&dir, &format!("echo \"$# $1\" > {}", out.display()));
        let got = async_io::block_on(reload(&ok, TIMEOUT));
        assert_eq!(got, Reloaded::Done);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "1 reload\n");
        let failing = script(&dir, "exit 3");
        let got = async_io::block_on(reload(&failing, TIMEOUT));
        assert!(
            matches!(got, Reloaded::Failed(ref w) if w.contains("3")),
            "{got:?}"
        );
        let hangs = script(&dir, "exec sleep 30");
        let got = async_io::block_on(reload(&hangs, Duration::from_millis(200)));
        assert!(
            matches!(got, Reloaded::Failed(ref w) if w.contains("longer than")),
            "{got:?}"
        );
        assert_eq!(
            async_io::block_on(reload(&dir.join("absent"), TIMEOUT)),
            Reloaded::NoScript
        );
    }
}
