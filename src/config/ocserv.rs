//! `config ocserv 'ocserv'`: where ocserv's files and control socket are. In one place: its type
//! and defaults, how the file's options are read (and checked against each other), and its `uci
//! show` form.

use super::from_uci::{number_in, parse_path, parse_socket_path};
use super::reader::SectionReader;
use super::schema::SectionWriter;
use super::uci::Section;
use std::path::PathBuf;

/// `config ocserv 'ocserv'`: where ocserv's files and control socket are.
#[derive(Clone, Debug, PartialEq)]
pub struct Ocserv {
    /// ocserv.conf (on OpenWrt the one rendered under /var/etc).
    pub config: PathBuf,
    /// The occtl socket; when unset, `occtl-socket-file` from `config`, else the default.
    pub ctl_socket: Option<PathBuf>,
    /// `option per_user_dir`: ocserv's `config-per-user` directory.
    pub per_user_dir: PathBuf,
    /// `option per_group_dir`: ocserv's `config-per-group` directory.
    pub per_group_dir: PathBuf,
    /// The agent-owned fragment of the main config (UpdateConfig CONFIG_TYPE_MAIN). OpenWrt's
    /// init script appends it to the rendered ocserv.conf.
    pub local_conf: PathBuf,
    /// OpenWrt's init script for ocserv: when it exists, UpdateConfig MAIN runs it with
    /// `reload` so that the rendered config (/var/etc/ocserv.conf) takes in `local_conf`.
    pub init_script: PathBuf,
    /// `option backup_dir`: where replaced files are kept.
    pub backup_dir: PathBuf,
    /// Backups kept per file name (the newest); older ones are removed as new ones are made.
    pub backup_keep: u32,
    /// OpenWrt's log reader (StreamLogs `ocserv` / `system`); used when it exists.
    pub logread: PathBuf,
    /// The syslog file read otherwise; /var/log/syslog or /var/log/messages when unset.
    pub syslog_file: Option<PathBuf>,
}

impl Default for Ocserv {
    fn default() -> Ocserv {
        Ocserv {
            config: PathBuf::from("/var/etc/ocserv.conf"),
            ctl_socket: None,
            per_user_dir: PathBuf::from("/etc/ocserv/config-per-user"),
            per_group_dir: PathBuf::from("/etc/ocserv/config-per-group"),
            local_conf: PathBuf::from("/etc/ocserv/ocserv.conf.local"),
            init_script: PathBuf::from("/etc/init.d/ocserv"),
            backup_dir: PathBuf::from("/etc/ocserv/backup"),
            backup_keep: 10,
            logread: PathBuf::from("/sbin/logread"),
            syslog_file: None,
        }
    }
}

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Ocserv {
    let d = Ocserv::default();
    let ocserv = Ocserv {
        config: r.or("config", d.config, parse_path),
        ctl_socket: r.value("ctl_socket", parse_socket_path),
        per_user_dir: r.or("per_user_dir", d.per_user_dir, parse_path),
        per_group_dir: r.or("per_group_dir", d.per_group_dir, parse_path),
        local_conf: r.or("local_conf", d.local_conf, parse_path),
        init_script: r.or("init_script", d.init_script, parse_path),
        backup_dir: r.or("backup_dir", d.backup_dir, parse_path),
        backup_keep: r.or("backup_keep", d.backup_keep, |s| number_in(s, 1, 1000)),
        logread: r.or("logread", d.logread, parse_path),
        syslog_file: r.value("syslog_file", parse_path),
    };
    r.finish();
    ocserv
}

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(o: &Ocserv) -> Section {
    let mut s = SectionWriter::new("ocserv", Some("ocserv"));
    s.set("config", super::schema::path(&o.config))
        .set_opt("ctl_socket", o.ctl_socket.as_ref())
        .set("per_user_dir", super::schema::path(&o.per_user_dir))
        .set("per_group_dir", super::schema::path(&o.per_group_dir))
        .set("local_conf", super::schema::path(&o.local_conf))
        .set("init_script", super::schema::path(&o.init_script))
        .set("backup_dir", super::schema::path(&o.backup_dir))
        .set("backup_keep", o.backup_keep.to_string())
        .set("logread", super::schema::path(&o.logread))
        .set_opt("syslog_file", o.syslog_file.as_ref());
    s.0
}
