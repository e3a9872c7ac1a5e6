//! Every target's seed corpus and every crash input ever found, through the same entry points
//! the fuzz targets call: a crash found once fails `cargo test` until it is fixed, on every
//! target the tests run on (qemu included).

use super::TARGETS;
use std::path::{Path, PathBuf};

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus_that_runs_clean() {
    for (name, run) in TARGETS {
        let files = inputs(&dir("corpus", name));
        assert!(!files.is_empty(), "fuzz/corpus/{name} is empty");
        for file in files {
            run(&std::fs::read(&file).unwrap());
        }
    }
}

#[test]
fn every_crash_the_fuzzers_found_stays_fixed() {
    let mut replayed = 0;
    for (name, run) in TARGETS {
        for file in inputs(&dir("regressions", name)) {
            run(&std::fs::read(&file).unwrap());
            replayed += 1;
        }
    }
    let dirs = inputs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions"));
    for d in dirs {
        let name = d.file_name().unwrap().to_str().unwrap().to_string();
        assert!(TARGETS.iter().any(|(t, _)| *t == name), "no target {name}");
    }
    assert!(replayed > 0, "fuzz/regressions holds no input");
}

/// The fuzz crate has one target per entry point here, and no other.
#[test]
fn the_fuzz_crate_has_exactly_these_targets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<String> = inputs(&root.join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    files.sort();
    names.sort();
    assert_eq!(files, names);
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for name in names {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name}");
    }
}

/// Writes the seed corpus (`cargo test --lib write_seed_corpus -- --ignored`): a few valid
/// inputs per target, made with the agent's own writers and the test PKI.
#[test]
#[ignore]
fn write_seed_corpus() {
    for (name, seeds) in seeds::all() {
        let d = dir("corpus", name);
        std::fs::create_dir_all(&d).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
}

mod seeds {
    use crate::decision::{Decision, Source};
    use crate::events::journal::{self, Event, Kind as EventKind};
    use crate::ipc::frame::Kind;
    use crate::ipc::messages::{CacheClear, Reply, Request, StatusReply};
    use crate::ocserv::ctl::{header, Endian};
    use crate::proto::ocserv::ctl::*;
    use crate::proto::vpn::v1::{CheckPolicyResponse, ValidateSessionResponse};
    use crate::session::{Reason, SessionEvent};
    use prost::Message;

    type Seeds = Vec<Vec<u8>>;

    pub fn all() -> Vec<(&'static str, Seeds)> {
        vec![
            ("uci", uci()),
            ("user_config", user_config()),
            ("json", json()),
            ("hook_env", hook_env()),
            ("ipc", ipc()),
            ("journal", journal()),
            (
                "syslog",
                text(&[
                    "Thu Nov 26 16:00:27 2026 daemon.info ocserv[12]: main: added 1 user",
                    "Nov 26 16:00:27 router ocserv[12]: worker: sent periodic stats",
                    "2026-11-26T16:00:27.123+01:00 router ocserv-main[7]: reloading",
                ]),
            ),
            (
                "metrics_http",
                text(&[
                    "GET /metrics HTTP/1.1\r\nHost: router\r\n\r\n",
                    "HEAD /metrics?x=1 HTTP/1.0\n\n",
                    "POST /metrics HTTP/1.1\r\n\r\n",
                ]),
            ),
            ("portal_reply", portal_reply()),
            (
                "traceparent",
                text(&[
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra",
                ]),
            ),
            ("ocserv_ctl", ocserv_ctl()),
            ("grpc_wire", grpc_wire()),
            ("grpc_connection", grpc_connection()),
            ("x509", x509()),
        ]
    }

    fn text(items: &[&str]) -> Seeds {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn uci() -> Seeds {
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/rootfs/etc/config/ocserv-agent"
        );
        let mut seeds = vec![std::fs::read(shipped).unwrap()];
        seeds.extend(text(&[concat!(
            "package ocserv-agent\n\nconfig agent 'agent'\n\toption log_level \"debug\"\n",
            "\tlist allowed_user 'alice'\n\tlist allowed_user 'it'\\''s'\n",
            "config policy\n\toption default deny # comment\n\toption 'name' multi\\\n line\n",
        )]));
        seeds
    }

    fn user_config() -> Seeds {
        text(&[
            concat!(
                r#"{"routes": ["10.10.0.0/16"], "dns": ["10.10.0.53"], "split_dns": ["corp.example"],"#,
                r#" "max_same_clients": 2, "restrict_user_to_routes": true,"#,
                r#" "custom_directives": {"idle-timeout": "600", "cgroup": "cpuset,cpu:vpn"}}"#
            ),
            "route = 10.0.0.0/255.0.0.0\n# comment\ndns = 2001:db8::1\nrestrict-user-to-ports = tcp(443), !udp(53)\n",
            "alice.smith@example",
        ])
    }

    fn event() -> Event {
        Event {
            seq: 1,
            kind: EventKind::Disconnect,
            session: 42,
            user: "alice".into(),
            group: "staff".into(),
            client_ip: "192.0.2.1".into(),
            vpn_ip: "10.0.0.2".into(),
            device: "vpns0".into(),
            at: 1_700_000_000,
            bytes_in: 1,
            bytes_out: 2,
            duration: 3,
            trace: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        }
    }

    fn json() -> Seeds {
        let mut seeds = text(&[
            r#"{"a": [1, -2.5e3, true, false, null, "\u00e9\n"], "b": {"c": {}}}"#,
            r#"{"routes": ["10.0.0.0/8"], "custom_directives": {"mtu": "1400"}}"#,
            r#"{"allow":true,"source":"portal","reason":"","trace":""}"#,
        ]);
        seeds.push(journal::records(std::iter::once(&event())).into_bytes());
        seeds
    }

    fn hook_env() -> Seeds {
        text(&[
            "REASON=connect\nID=22450\nUSERNAME=alice\nGROUPNAME=staff\nVHOST=default\nDEVICE=vpns0\nIP_REAL=192.0.2.1\nIP_REAL_LOCAL=192.0.2.254\nIP_LOCAL=10.0.0.1\nIP_REMOTE=10.0.0.2\nIPV6_LOCAL=fd00::1\nIPV6_REMOTE=fd00::2\nIPV6_PREFIX=64\nHOSTNAME=laptop\nUSER_AGENT=OpenConnect-GUI\nDEVICE_TYPE=linux\nDEVICE_PLATFORM=x86_64",
            "REASON=disconnect\nID=1\nUSERNAME=bob\nSTATS_BYTES_IN=18446744073709551615\nSTATS_BYTES_OUT=2\nSTATS_DURATION=3\nREMOTE_HOSTNAME=phone",
            "REASON=host-update\nID=7\nUSERNAME=carol\nHOSTNAME=new-name",
        ])
    }

    fn ipc() -> Seeds {
        let mut connect = SessionEvent::new(Reason::Connect, 9, "alice");
        connect.ip_real = Some("192.0.2.1".parse().unwrap());
        vec![
            Request::Status.encode(),
            Request::Event(Box::new(connect)).encode(),
            Request::CacheClear(CacheClear::default()).encode(),
            Reply::Decision(Decision {
                allow: true,
                source: Source::Portal,
                reason: "ok".into(),
                trace: Some(crate::trace::TraceId::random()),
            })
            .encode(),
            Reply::Status(Box::new(StatusReply::default_for_test())).encode(),
            Reply::Error("bad".into()).encode(),
            vec![Kind::EventRequest as u8, b'{', b'}'],
        ]
    }

    fn journal() -> Seeds {
        let mut second = event();
        second.seq = 2;
        second.kind = EventKind::Connect;
        let mut text = journal::records([event(), second].iter());
        text += "ack 1\n{\"seq\":3,\"kind\"";
        vec![text.into_bytes()]
    }

    fn portal_reply() -> Seeds {
        let allow = CheckPolicyResponse {
            allowed: true,
            metadata: [("cache_ttl_seconds".to_string(), "60".to_string())].into(),
            ..Default::default()
        };
        let revoke = CheckPolicyResponse {
            allowed: true,
            should_disconnect: true,
            deny_reason: "suspended".into(),
            routes: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let invalid = ValidateSessionResponse {
            valid: false,
            invalid_reason: "expired".into(),
            force_disconnect: true,
        };
        vec![
            allow.encode_to_vec(),
            revoke.encode_to_vec(),
            invalid.encode_to_vec(),
        ]
    }

    /// A reply frame as ocserv sends it, after the byte that picks the command.
    fn ctl(pick: u8, command: u8, message: &impl Message) -> Vec<u8> {
        let payload = message.encode_to_vec();
        let mut out = vec![pick];
        out.extend_from_slice(&header(command, payload.len() as u32, Endian::HOST));
        out.extend_from_slice(&payload);
        out
    }

    fn user() -> UserInfoRep {
        UserInfoRep {
            id: Some(22450),
            username: Some("alice".into()),
            groupname: Some("staff".into()),
            ip: Some("10.0.0.2".into()),
            tun: Some("vpns0".into()),
            remote_ip: Some("192.0.2.1".into()),
            conn_time: Some(1_700_000_000),
            status: Some(4),
            dns: vec!["10.0.0.53".into()],
            routes: vec!["10.10.0.0/16".into()],
            session_start_time: Some(1_699_999_000),
            ..Default::default()
        }
    }

    fn ocserv_ctl() -> Seeds {
        let status = StatusRep {
            status: Some(true),
            pid: Some(7),
            start_time: Some(1_700_000_000),
            kbytes_in: Some(u64::MAX),
            ..Default::default()
        };
        let list = UserListRep { user: vec![user()] };
        let bans = BanListRep {
            info: vec![BanInfo {
                ip: Some(vec![192, 0, 2, 1]),
                score: Some(30),
                expires: Some(1_700_000_100),
            }],
        };
        let top = TopUpdateRep {
            connected: Some(0),
            discon_reason: Some(2),
            discon_reason_txt: None,
            user: Some(list.clone()),
        };
        vec![
            ctl(0, 101, &status),
            ctl(1, 104, &list),
            ctl(2, 108, &bans),
            ctl(3, 109, &top),
            ctl(4, 106, &BoolMsg { status: Some(true) }),
        ]
    }

    fn grpc_wire() -> Seeds {
        let framed = [&[0, 0, 0, 0, 5][..], b"hello", &[0, 0, 0, 0, 0]].concat();
        let parts: [&[u8]; 5] = [
            &framed,
            b"100m",
            b"x-request-id: 7\ntrace-bin: AAECAw==\ngrpc-timeout: 1S",
            b"aGVsbG8",
            b"caf%C3%A9 100%25",
        ];
        vec![parts.join(&0xffu8)]
    }

    /// An HTTP/2 frame.
    fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A request's header block, HPACK literals without indexing or Huffman.
    fn headers(path: &str) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST"),
            (":scheme", "https"),
            (":path", path),
            (":authority", "router"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", "1S"),
        ] {
            block.push(0);
            block.push(name.len() as u8);
            block.extend_from_slice(name.as_bytes());
            block.push(value.len() as u8);
            block.extend_from_slice(value.as_bytes());
        }
        block
    }

    fn grpc_connection() -> Seeds {
        let settings = h2_frame(4, 0, 0, &[]);
        let call = |path: &str, body: &[u8]| {
            let mut out = settings.clone();
            out.extend(h2_frame(1, 4, 1, &headers(path)));
            out.extend(h2_frame(0, 1, 1, body));
            out
        };
        let mut unended = settings.clone();
        unended.extend(h2_frame(1, 4, 1, &headers("/fuzz.v1.Echo/Echo")));
        unended.extend(h2_frame(0, 0, 1, &[0, 0, 0x40, 0, 0, 1, 2, 3, 4, 5]));
        let hello = [&[0, 0, 0, 0, 5][..], b"hello"].concat();
        vec![
            call("/fuzz.v1.Echo/Echo", &hello),
            call(
                "/fuzz.v1.Echo/Stream",
                &[hello.clone(), hello.clone()].concat(),
            ),
            call("/fuzz.v1.Echo/Fail", &hello),
            // A message that announces 4 MiB and sends five bytes of it, with and without
            // ending the stream.
            call("/fuzz.v1.Echo/Echo", &[0, 0, 0x40, 0, 0, 1, 2, 3, 4, 5]),
            unended,
        ]
    }

    fn x509() -> Seeds {
        let dir = crate::grpc::test_certs();
        ["client.pem", "server.pem", "ca.pem"]
            .iter()
            .map(|name| {
                let pem = std::fs::read_to_string(dir.join(name)).unwrap();
                let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                crate::grpc::fuzz::base64(body.as_bytes())
            })
            .collect()
    }
}
