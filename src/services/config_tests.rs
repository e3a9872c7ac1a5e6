use super::*;
use std::fs;

fn settings(name: &str) -> Ocserv {
    crate::testutil::ocserv_under(&crate::testutil::fresh_dir(&format!("updcfg-{name}")))
}

fn request(kind: ConfigType, name: &str, content: &str) -> ConfigUpdateRequest {
    ConfigUpdateRequest {
        request_id: "r-1".into(),
        config_type: kind as i32,
        config_name: name.into(),
        config_content: content.into(),
        validate_only: false,
        create_backup: true,
    }
}

fn ask(s: &Ocserv, req: ConfigUpdateRequest) -> Result<ConfigUpdateResponse, Status> {
    async_io::block_on(update_config(s, req, None))
}

const GO_JSON: &str = r#"{"routes": ["10.10.0.0/16", "192.168.7.0/255.255.255.0"],
    "dns": ["10.10.0.53"], "split_dns": ["corp.example"], "max_same_clients": 2,
    "restrict_user_to_routes": true, "custom_directives": {"idle-timeout": "600"}}"#;

#[test]
fn the_go_agents_json_becomes_the_users_file_and_the_old_one_is_kept() {
    let s = settings("json");
    let path = s.per_user_dir.join("alice");
    fs::write(&path, "route = 172.16.0.0/12\n").unwrap();
    let r = ask(&s, request(ConfigType::PerUser, "alice", GO_JSON)).unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(r.request_id, "r-1");
    assert_eq!(
        r.validation_result,
        "valid: 7 line(s) for user 'alice' (ocserv's version unknown: not checked against it)"
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.ends_with(
            "route = 10.10.0.0/16\nroute = 192.168.7.0/255.255.255.0\ndns = 10.10.0.53\n\
             split-dns = corp.example\nmax-same-clients = 2\nrestrict-user-to-routes = true\n\
             idle-timeout = 600\n"
        ),
        "{text}"
    );
    // The whole file is replaced, and the previous one is where backup_path says.
    assert!(!text.contains("172.16"));
    assert!(r
        .backup_path
        .starts_with(&path_text(&s.backup_dir.join("alice."))));
    assert_eq!(
        fs::read_to_string(&r.backup_path).unwrap(),
        "route = 172.16.0.0/12\n"
    );
}

#[test]
fn ocserv_lines_go_to_a_group_file_without_backup_unless_asked() {
    let s = settings("lines");
    let mut req = request(
        ConfigType::PerGroup,
        "staff",
        "# office\nroute = 10.20.0.0/16\nno-udp = true\n",
    );
    req.create_backup = false;
    let r = ask(&s, req.clone()).unwrap();
    assert!(r.success && r.backup_path.is_empty(), "{r:?}");
    let r = ask(&s, req).unwrap();
    assert!(r.success && r.backup_path.is_empty(), "{r:?}");
    assert!(!s.backup_dir.exists());
    let text = fs::read_to_string(s.per_group_dir.join("staff")).unwrap();
    assert!(
        text.ends_with("route = 10.20.0.0/16\nno-udp = true\n"),
        "{text}"
    );
    // With a backup, a group's goes beside the users' without sharing their names.
    let r = ask(&s, request(ConfigType::PerGroup, "staff", "mtu = 1400")).unwrap();
    assert!(r
        .backup_path
        .starts_with(&path_text(&s.backup_dir.join("groups/staff."))));
}

#[test]
fn validate_only_checks_and_writes_nothing() {
    let s = settings("validate");
    let mut req = request(ConfigType::PerUser, "bob", GO_JSON);
    req.validate_only = true;
    let r = ask(&s, req.clone()).unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(
        r.validation_result,
        "valid: 7 line(s) for user 'bob' (ocserv's version unknown: not checked against it)"
    );
    req.config_content = r#"{"routes": ["10.0.0.0/33"]}"#.into();
    let r = ask(&s, req).unwrap();
    assert!(!r.success);
    assert!(
        r.validation_result
            .starts_with("invalid: route = '10.0.0.0/33'"),
        "{r:?}"
    );
    assert_eq!(fs::read_dir(&s.per_user_dir).unwrap().count(), 0);
}

#[test]
fn bad_content_is_refused_by_name_and_the_old_file_stays() {
    let s = settings("bad");
    let path = s.per_user_dir.join("carol");
    fs::write(&path, "route = 10.1.0.0/16\n").unwrap();
    for (content, why) in [
        (
            r#"{"routes": ["10.0.0.0/8"], "dns_servers": []}"#,
            "unknown field \"dns_servers\"",
        ),
        (
            r#"{"custom_directives": {"connect-script": "/bin/sh"}}"#,
            "'connect-script' may not be set",
        ),
        (r#"{"routes": "10.0.0.0/8"}"#, "JSON content"),
        (
            r#"{"routes": [], "x": }"#,
            "not valid JSON: expected a JSON value",
        ),
        (r#"{"max_same_clients": -1}"#, "JSON content"),
        (
            r#"{"dns": ["10.0.0.53\nroute = 0.0.0.0/0"]}"#,
            "control characters",
        ),
        (
            "route = 10.0.0.0/8\nconnect-script = /tmp/x\n",
            "'connect-script' may not be set",
        ),
        ("just words", "is not 'key = value'"),
    ] {
        let r = ask(&s, request(ConfigType::PerUser, "carol", content)).unwrap();
        assert!(!r.success, "{content}");
        assert!(
            r.error_message.contains(why),
            "{content}: {}",
            r.error_message
        );
        assert_eq!(r.validation_result, format!("invalid: {}", r.error_message));
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), "route = 10.1.0.0/16\n");
    assert!(!s.backup_dir.exists());
}

#[test]
fn malformed_requests_are_invalid_argument() {
    let s = settings("names");
    for (kind, name, want) in [
        (
            ConfigType::PerUser,
            "../etc/passwd",
            "not a valid user or group name",
        ),
        (ConfigType::PerGroup, "", "not a valid user or group name"),
        (ConfigType::Unspecified, "alice", "config_type 0 is not"),
        (
            ConfigType::Main,
            "ocserv.conf",
            "CONFIG_TYPE_MAIN edits only",
        ),
    ] {
        let e = ask(&s, request(kind, name, "mtu = 1400")).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{name}");
        assert!(e.message.contains(want), "{}", e.message);
    }
    let mut req = request(ConfigType::PerUser, "alice", "");
    req.config_type = 42;
    let e = ask(&s, req).unwrap_err();
    assert!(e.message.contains("config_type 42"), "{}", e.message);
}

#[test]
fn the_main_fragment_is_written_then_ocserv_reloads() {
    let s = settings("main");
    let ctl = s.ctl_socket.clone().unwrap();
    // STATUS for ocserv's version (no PID in this reply: unknown), then RELOAD.
    let server = crate::ocserv::ctl_fake::scripted(
        &ctl,
        vec![Some((101, vec![])), Some((102, vec![0x08, 0x01]))],
    );
    let r = ask(&s, request(ConfigType::Main, "", "max-same-clients = 1\n")).unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(server.join().unwrap(), [1, 2], "STATUS, one RELOAD");
    let text = fs::read_to_string(&s.local_conf).unwrap();
    assert!(
        text.ends_with("max-same-clients = 1\n# END ocserv-agent\n"),
        "{text}"
    );

    // iroute has no meaning there; ocserv gone: written, but not in force, and said so.
    let r = ask(
        &s,
        request(
            ConfigType::Main,
            "ocserv.conf.local",
            "iroute = 10.9.0.0/16",
        ),
    )
    .unwrap();
    assert!(
        !r.success && r.error_message.contains("not in the main config"),
        "{r:?}"
    );
    let _ = fs::remove_file(&ctl);
    let r = ask(
        &s,
        request(ConfigType::Main, "ocserv.conf.local", "mtu = 1300"),
    )
    .unwrap();
    assert!(!r.success, "{r:?}");
    assert!(
        r.error_message
            .contains("ocserv.conf.local written; ocserv did not reload"),
        "{}",
        r.error_message
    );
    assert!(r
        .backup_path
        .starts_with(&path_text(&s.backup_dir.join("main/ocserv.conf.local."))));
}

/// First boot put the hook's lines in the fragment; UpdateConfig MAIN never removes them, keeps
/// every other byte, refuses script keys, and says what the file holds.
#[test]
fn the_main_fragment_keeps_the_hook_lines_and_every_other_byte() {
    let s = settings("main-hooks");
    let hooks = "connect-script = /usr/libexec/ocserv-agent/hook\r\ndisconnect-script = /usr/libexec/ocserv-agent/hook\n# operator's\nudp-port = 4443";
    fs::write(&s.local_conf, hooks).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&s.local_conf, fs::Permissions::from_mode(0o600)).unwrap();
    let ctl = s.ctl_socket.clone().unwrap();
    let server = crate::ocserv::ctl_fake::scripted(
        &ctl,
        vec![
            Some((101, vec![])),
            Some((102, vec![0x08, 0x01])),
            Some((101, vec![])),
            Some((102, vec![0x08, 0x01])),
        ],
    );
    let r = ask(&s, request(ConfigType::Main, "", "max-same-clients = 4")).unwrap();
    assert!(r.success, "{r:?}");
    let text = fs::read_to_string(&s.local_conf).unwrap();
    assert!(text.starts_with(hooks), "{text:?}");
    let mode = fs::metadata(&s.local_conf).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the file keeps its mode");
    assert!(
        r.validation_result.contains("will now hold:\n") && r.validation_result.ends_with(&text),
        "{r:?}"
    );
    let r = ask(&s, request(ConfigType::Main, "", "mtu = 1300")).unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(server.join().unwrap(), [1, 2, 1, 2]);
    let text = fs::read_to_string(&s.local_conf).unwrap();
    assert!(
        text.starts_with(hooks) && !text.contains("max-same-clients"),
        "{text:?}"
    );
    assert_eq!(text.matches("mtu = 1300").count(), 1);
    // Keys that decide which scripts ocserv runs are refused by name; nothing is written.
    for key in crate::ocserv::conffile::SCRIPT_KEYS {
        let r = ask(
            &s,
            request(ConfigType::Main, "", &format!("{key} = /bin/sh")),
        )
        .unwrap();
        assert!(!r.success, "{key}: {r:?}");
        assert!(r.error_message.contains("decides which scripts"), "{r:?}");
        let r = ask(
            &s,
            request(
                ConfigType::Main,
                "",
                &format!("{{\"custom_directives\": {{\"{key}\": \"/bin/sh\"}}}}"),
            ),
        )
        .unwrap();
        assert!(!r.success, "{key}: {r:?}");
    }
    assert_eq!(fs::read_to_string(&s.local_conf).unwrap(), text);
    // validate_only shows what the file would hold and writes nothing.
    let mut req = request(ConfigType::Main, "", "mtu = 1200");
    req.validate_only = true;
    let r = ask(&s, req).unwrap();
    assert!(
        r.success && r.validation_result.contains("would hold"),
        "{r:?}"
    );
    assert!(r.validation_result.contains("mtu = 1200"), "{r:?}");
    assert_eq!(fs::read_to_string(&s.local_conf).unwrap(), text);
    // Damaged markers: refused, the file untouched.
    let damaged = format!("{}\n{}", hooks, crate::ocserv::fragment::BEGIN);
    fs::write(&s.local_conf, &damaged).unwrap();
    let r = ask(&s, request(ConfigType::Main, "", "mtu = 1300")).unwrap();
    assert!(
        !r.success && r.error_message.contains("fix the file by hand"),
        "{r:?}"
    );
    assert_eq!(fs::read_to_string(&s.local_conf).unwrap(), damaged);
}

/// On OpenWrt the init script re-renders ocserv.conf (base + fragment) before RELOAD; a
/// failing script means no RELOAD, and the reply says so.
#[test]
fn on_openwrt_the_init_script_renders_before_the_reload() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = settings("main-openwrt");
    let dir = s.local_conf.parent().unwrap().to_path_buf();
    let rendered = dir.join("rendered.conf");
    s.init_script = dir.join("init.d-ocserv");
    fs::write(
        &s.init_script,
        format!(
            "#!/bin/sh\n[ \"$1\" = reload ] || exit 9\necho 'tcp-port = 443' > {r}\ncat {l} >> {r}\n",
            r = rendered.display(),
            l = s.local_conf.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&s.init_script, fs::Permissions::from_mode(0o755)).unwrap();
    let ctl = s.ctl_socket.clone().unwrap();
    let server = crate::ocserv::ctl_fake::scripted(
        &ctl,
        vec![Some((101, vec![])), Some((102, vec![0x08, 0x01]))],
    );
    let r = ask(&s, request(ConfigType::Main, "", "mtu = 1300")).unwrap();
    assert!(r.success, "{r:?}");
    assert_eq!(server.join().unwrap(), [1, 2], "RELOAD after the render");
    let text = fs::read_to_string(&rendered).unwrap();
    assert!(
        text.starts_with("tcp-port = 443\n") && text.contains("mtu = 1300\n"),
        "{text}"
    );
    fs::write(&s.init_script, "#!/bin/sh\nexit 1\n").unwrap();
    let r = ask(&s, request(ConfigType::Main, "", "mtu = 1200")).unwrap();
    assert!(!r.success, "{r:?}");
    assert!(
        r.error_message
            .contains("reload: exit status 1; ocserv was not reloaded"),
        "{}",
        r.error_message
    );
}

/// A per-user file that is a symbolic link (to /etc/shadow, say) is neither copied into a
/// backup nor written through: the update is refused and says why.
#[test]
fn a_symlinked_target_is_refused_not_followed() {
    let s = settings("symlink");
    let secret = s.per_user_dir.parent().unwrap().join("secret");
    fs::write(&secret, "root:$6$hash").unwrap();
    std::os::unix::fs::symlink(&secret, s.per_user_dir.join("alice")).unwrap();
    let r = ask(&s, request(ConfigType::PerUser, "alice", "mtu = 1400")).unwrap();
    assert!(!r.success, "{r:?}");
    assert!(r.error_message.contains("symbolic link"), "{r:?}");
    assert_eq!(fs::read_to_string(&secret).unwrap(), "root:$6$hash");
    assert!(!s.backup_dir.exists() || fs::read_dir(&s.backup_dir).unwrap().count() == 0);
}
