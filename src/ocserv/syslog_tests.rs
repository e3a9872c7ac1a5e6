use super::*;
use std::time::UNIX_EPOCH;

fn at(t: u64) -> Option<SystemTime> {
    Some(UNIX_EPOCH + Duration::from_secs(t))
}

#[test]
fn the_three_line_formats_are_taken_apart() {
    let l = parse(
        "Thu Nov 26 13:43:07 2026 daemon.info ocserv[1234]: main: added user 'alice'",
        2026,
    )
    .unwrap();
    assert_eq!(l.time, at(1_795_700_587));
    assert_eq!((l.level.as_str(), l.program.as_str()), ("info", "ocserv"));
    assert_eq!(l.message, "main: added user 'alice'");
    assert!(l.is_ocserv());

    let l = parse(
        "Nov 26 13:43:07 router ocserv[99]: worker: sent  2 bytes",
        2026,
    )
    .unwrap();
    assert_eq!(l.time, at(1_795_700_587));
    assert_eq!(l.message, "worker: sent  2 bytes");

    let l = parse(
        "2026-11-26T14:43:07.123456+01:00 router dnsmasq[7]: query A example.net",
        2000,
    )
    .unwrap();
    assert_eq!(l.time, at(1_795_700_587));
    assert_eq!(l.program, "dnsmasq");
    assert!(!l.is_ocserv());

    let l = parse(
        "Sun Mar  1 00:00:00 2026 daemon.err ocserv-main[1]: x: y",
        2026,
    )
    .unwrap();
    assert_eq!((l.level.as_str(), l.message.as_str()), ("err", "x: y"));
    assert_eq!(l.time, at(1_772_323_200));

    // Not syslog lines: no panic, no line.
    for bad in [
        "",
        "garbage",
        "Nov",
        "Thu Nov 26",
        "2026-11-26T",
        "Nov 26 1:2:3 host no-colon",
    ] {
        assert_eq!(parse(bad, 2026), None, "{bad:?}");
    }
}

/// Found by fuzz/fuzz_targets/syslog.rs: an offset of many digits overflowed the arithmetic
/// (a panic in the fuzz build's overflow checks, a wrong time in the router's).
#[test]
fn an_rfc3339_offset_is_two_digits_of_hours_and_of_minutes() {
    for zone in [
        "-9199:2222222222222224444",
        "+24:00",
        "+01:60",
        "+1:00",
        "01:00",
        "+01:00:00",
        "+-1:00",
    ] {
        let line = format!("2026-11-26T14:43:07{zone} router ocserv[7]: x");
        let l = parse(&line, 2026).unwrap();
        assert_eq!(l.time, None, "{zone}");
    }
    let l = parse("2026-11-26T14:43:07-23:59 r ocserv[7]: x", 2026).unwrap();
    assert_eq!(l.time, at(1_795_700_587 + 3600 + 23 * 3600 + 59 * 60));
}

fn settings(dir: &Path) -> Ocserv {
    Ocserv {
        logread: dir.join("no-logread"),
        syslog_file: Some(dir.join("syslog")),
        ..Ocserv::default()
    }
}

#[test]
fn without_logread_or_a_file_the_error_names_both() {
    let dir = crate::testutil::fresh_dir("syslog-none");
    let err = source(&settings(&dir)).unwrap_err().to_string();
    assert!(err.contains("no-logread is not installed"), "{err}");
    assert!(err.contains("syslog does not exist"), "{err}");
}

#[test]
fn a_followed_file_yields_new_whole_lines_and_survives_rotation() {
    let dir = crate::testutil::fresh_dir("syslog-file");
    let file = dir.join("syslog");
    std::fs::write(
        &file,
        "Nov 26 13:43:07 r ocserv[1]: one\nNov 26 13:43:08 r ocserv[1]: tw",
    )
    .unwrap();
    let src = source(&settings(&dir)).unwrap();
    assert_eq!(src, Source::File(file.clone()));
    let mut r = Reader::open(&src, true).unwrap();
    async_io::block_on(async {
        assert!(r.next().await.unwrap().ends_with("one"));
        // The half-written line comes once it is whole.
        let append = |text: &str| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        append("o\n");
        assert!(r.next().await.unwrap().ends_with("two"));
        // Rotated: a new, shorter file is read from its start.
        std::fs::write(&file, "Nov 26 13:44:00 r ocserv[1]: 3\n").unwrap();
        assert!(r.next().await.unwrap().ends_with(": 3"));
    });
    let mut once = Reader::open(&src, false).unwrap();
    async_io::block_on(async {
        assert!(once.next().await.is_some());
        assert!(once.next().await.is_none());
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logread_is_run_without_a_shell_and_ended_with_the_reader() {
    let dir = crate::testutil::fresh_dir("syslog-logread");
    // A stand-in logread: prints a line, and with -f waits like the real one.
    let program = dir.join("logread");
    std::fs::write(
        &program,
        "#!/bin/sh\necho 'Thu Nov 26 13:43:07 2026 daemon.info ocserv[1]: hello'\n\
         [ \"$1\" = -f ] && exec sleep 60\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut s = settings(&dir);
    s.logread = program.clone();
    let src = source(&s).unwrap();
    assert_eq!(src, Source::Logread(program));
    let mut once = Reader::open(&src, false).unwrap();
    async_io::block_on(async {
        assert!(once.next().await.unwrap().ends_with("hello"));
        assert_eq!(once.next().await, None);
    });
    let followed = Reader::open(&src, true).unwrap();
    let Reader::Logread { ref child, .. } = followed else {
        panic!("not logread")
    };
    let pid = child.id();
    drop(followed);
    // Killed and reaped: nothing left of it.
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
