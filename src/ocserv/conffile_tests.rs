use super::*;
use std::time::Duration;

#[test]
fn names_that_could_escape_the_directory_are_refused() {
    for good in ["alice", "alice@corp.example", "a_b-c.d"] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "../etc/passwd",
        "a/b",
        ".hidden",
        "-rf",
        "a..b",
        "a b",
        "a\nb",
        "é",
    ] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn keys_come_from_the_allow_list_and_values_are_checked() {
    assert!(directive("route", "10.0.0.0/8").is_ok());
    assert!(directive("route", "10.0.0.0/255.0.0.0").is_ok());
    assert!(directive("route", "fd00::/64").is_ok());
    assert!(directive("route", "default").is_ok());
    assert!(directive("dns", "2001:db8::53").is_ok());
    assert!(directive("restrict-user-to-ports", "tcp(443), !udp(53), icmp()").is_ok());
    assert!(directive("ipv4-netmask", "255.255.255.0").is_ok());
    assert!(directive("split-dns", "corp.example").is_ok());
    assert!(directive("cgroup", "cpuset,cpu:vpn").is_ok());
    assert!(
        directive("cgroup", "cpu:vpn/users..x").is_err(),
        "no value written carries '..', even inside a name (fuzz/regressions/user_config)"
    );
    assert_eq!(
        directive("connect-script", "/tmp/x").unwrap_err(),
        ConfError::ScriptKey("connect-script".into())
    );
    for (k, v) in [
        ("route", "10.0.0.0/33"),
        ("route", "10.0.0.0/255.0.255.0"),
        ("route", "10.0.0.0"),
        ("dns", "8.8.8.8\nroute = 0.0.0.0/0"),
        ("dns", "dns.example"),
        ("mtu", "70000"),
        ("mtu", "-1"),
        ("no-udp", "yes"),
        ("restrict-user-to-ports", "http(80)"),
        ("cgroup", "cpu;reboot"),
        ("cgroup", "cpu:../../escape"),
        ("cgroup", "cpu:vpn/../../x"),
        ("cgroup", "cpu:/abs"),
        ("cgroup", "cpu"),
        ("cgroup", ":vpn"),
        ("cgroup", "cpu:a:b"),
        ("split-dns", "-bad.example"),
        ("ipv6-network", "10.0.0.0/8"),
    ] {
        assert!(
            matches!(directive(k, v), Err(ConfError::BadValue { .. })),
            "{k} = {v:?}"
        );
    }
}

#[test]
fn text_is_parsed_with_line_numbers() {
    let d = parse("# routes\nroute = 10.0.0.0/8\n\ndns=10.0.0.53\n").unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        parse("route = 10.0.0.0/8\nnonsense\n").unwrap_err(),
        ConfError::Syntax {
            line: 2,
            text: "nonsense".into()
        }
    );
}

#[test]
fn writes_are_atomic_with_a_timestamped_backup() {
    let dir = std::env::temp_dir().join(format!("conffile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("users")).unwrap();
    let routes = [directive("route", "10.0.0.0/8").unwrap()];
    let bdir = dir.join("backup");
    let keep3 = Some(Backup {
        dir: &bdir,
        keep: 3,
    });
    let w = replace(&dir.join("users"), "alice", &render(&routes), keep3).unwrap();
    assert_eq!(w.backup, None, "nothing to back up yet");
    let text = std::fs::read_to_string(&w.path).unwrap();
    assert!(text.ends_with("route = 10.0.0.0/8\n"), "{text}");
    let dns = [directive("dns", "10.0.0.53").unwrap()];
    let w = replace(&dir.join("users"), "alice", &render(&dns), keep3).unwrap();
    let backup = w.backup.unwrap();
    assert!(std::fs::read_to_string(&backup)
        .unwrap()
        .contains("route = 10.0.0.0/8"));
    assert!(backup
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("alice.20"));
    // A failed write (the directory is gone) leaves nothing half-written and says where.
    let e = replace(&dir.join("missing"), "alice", &render(&dns), None).unwrap_err();
    assert!(e.to_string().contains("missing/alice"), "{e}");
    assert!(replace(&dir.join("users"), "../x", &render(&dns), None).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Backups are pruned to the newest `keep` of each name; other names and other files are
/// never touched; a backup keeps the mode of the file it copies.
#[test]
fn backups_are_pruned_to_the_newest_and_keep_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::testutil::fresh_dir("conffile-prune");
    let (users, bdir) = (dir.join("users"), dir.join("backup"));
    std::fs::create_dir_all(&users).unwrap();
    std::fs::create_dir_all(&bdir).unwrap();
    for old in [
        "alice.20200101T000000.000",
        "alice.20210101T000000.000",
        "bob.20200101T000000.000",
    ] {
        std::fs::write(bdir.join(old), "old").unwrap();
    }
    std::fs::write(bdir.join("alice.notes"), "mine").unwrap();
    let file = users.join("alice");
    std::fs::write(&file, "mtu = 1400\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let keep = Some(Backup {
        dir: &bdir,
        keep: 2,
    });
    let dns = [directive("dns", "10.0.0.53").unwrap()];
    let w = replace(&users, "alice", &render(&dns), keep).unwrap();
    let b = w.backup.unwrap();
    assert_eq!(
        std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut names: Vec<String> = std::fs::read_dir(&bdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let newest = b.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(
        names,
        [
            "alice.20210101T000000.000".to_string(),
            newest,
            "alice.notes".to_string(),
            "bob.20200101T000000.000".to_string()
        ]
    );
    assert!(is_stamp("20261126T134307.123"));
    for bad in ["20261126T134307", "2026112xT134307.123", "../../etc/passwd"] {
        assert!(!is_stamp(bad), "{bad}");
    }
}

#[test]
fn errors_quote_only_a_short_excerpt() {
    let long = format!("route{}", "x".repeat(100_000));
    let e = parse(&long).unwrap_err().to_string();
    assert!(
        e.len() < 200 && e.contains("… (100005 bytes)'"),
        "{}",
        &e[..e.len().min(300)]
    );
    let e = directive(&"k".repeat(5000), "v").unwrap_err().to_string();
    assert!(e.len() < 1000, "{}", e.len());
    let e = directive("mtu", &"9".repeat(5000)).unwrap_err().to_string();
    assert!(e.len() < 200, "{e}");
    // Short text is quoted whole.
    assert!(parse("oops").unwrap_err().to_string().contains("'oops'"));
}

#[test]
fn stamps_are_utc_calendar_times() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_700_587_123);
    assert_eq!(stamp(t), "20261126T134307.123");
    assert_eq!(stamp(SystemTime::UNIX_EPOCH), "19700101T000000.000");
}

#[test]
fn iroute_is_refused_in_the_main_config_only() {
    let lines = parse("route = 10.0.0.0/8\niroute = 192.168.5.0/24\n").unwrap();
    assert_eq!(
        check_main(&lines).unwrap_err().to_string(),
        "'iroute' belongs in a per-user or per-group file, not in the main config"
    );
    assert_eq!(check_main(&lines[..1]), Ok(()));
}

#[test]
fn ban_times_are_refused_in_per_user_files() {
    let lines = parse("route = 10.0.0.0/8\nmin-reauth-time = 300\n").unwrap();
    assert_eq!(
        check_per_user(&lines).unwrap_err().to_string(),
        "'min-reauth-time' belongs in the main config (CONFIG_TYPE_MAIN), not in a per-user or per-group file"
    );
    assert_eq!(check_per_user(&lines[..1]), Ok(()));
    assert_eq!(check_main(&lines), Ok(()));
}

#[test]
fn keys_follow_the_running_version() {
    let lines = parse("cgroup = cpu:vpn\nban-time = 300\nmin-reauth-time = 300\n").unwrap();
    let (cgroup, ban, reauth) = (&lines[..1], &lines[1..2], &lines[2..]);
    let v = |a, b, c| Version(a, b, c);
    // cgroup: read up to 1.4.x, dropped in 1.5.0.
    assert_eq!(check_version(cgroup, v(1, 4, 1)), Ok(()));
    assert_eq!(
        check_version(cgroup, v(1, 5, 0)).unwrap_err().to_string(),
        "'cgroup' is not for the running ocserv 1.5.0: ocserv 1.5.0 dropped it and ignores the line"
    );
    // ban-time: from 1.4.1; before, min-reauth-time (read by every version).
    assert_eq!(
        check_version(ban, v(1, 3, 0)).unwrap_err().to_string(),
        "'ban-time' is not for the running ocserv 1.3.0: it is new in ocserv 1.4.1; use min-reauth-time, which every version reads"
    );
    assert_eq!(check_version(ban, v(1, 4, 1)), Ok(()));
    for version in [v(1, 1, 6), v(1, 3, 0), v(1, 5, 0)] {
        assert_eq!(check_version(reauth, version), Ok(()));
    }
    assert!(check_version(&lines, v(1, 5, 0)).is_err());
}
