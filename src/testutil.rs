//! Helpers for the unit tests: fresh directories, and ocserv settings inside one.

use crate::config::Ocserv;
use std::path::{Path, PathBuf};

/// An empty directory for one test (`name` and the process ID keep parallel tests apart).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oa-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// ocserv's files and control socket under `dir` (users/ and groups/ created; nothing there
/// answers on ctl.socket unless a test serves it).
pub fn ocserv_under(dir: &Path) -> Ocserv {
    std::fs::create_dir_all(dir.join("users")).unwrap();
    std::fs::create_dir_all(dir.join("groups")).unwrap();
    Ocserv {
        config: dir.join("ocserv.conf"),
        ctl_socket: Some(dir.join("ctl.socket")),
        per_user_dir: dir.join("users"),
        per_group_dir: dir.join("groups"),
        local_conf: dir.join("ocserv.conf.local"),
        init_script: dir.join("no-init-script"),
        backup_dir: dir.join("backup"),
        backup_keep: 10,
        logread: dir.join("no-logread"),
        syslog_file: Some(dir.join("syslog")),
    }
}
