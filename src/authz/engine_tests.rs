use super::*;
use crate::config::parse;

fn engine(text: &str) -> Engine {
    Engine::new(Rc::new(parse(text.as_bytes()).unwrap()), None).unwrap()
}

fn waiting() -> bool {
    true
}

fn budget() -> Budget<'static> {
    Budget::within(Duration::from_secs(5), &waiting)
}

fn connect(id: u32, user: &str) -> SessionEvent {
    let mut e = SessionEvent::new(Reason::Connect, id, user);
    e.ip_real = "192.0.2.1".parse().ok();
    e
}

#[test]
fn without_a_portal_local_policy_decides_and_is_counted() {
    let e = engine(
        "config policy 'local'\n option default deny\nconfig rule\n option action allow\n list user 'alice'\n option max_sessions 2\n",
    );
    async_io::block_on(async {
        for id in [1, 2] {
            let d = e.decide(&connect(id, "alice"), &budget()).await;
            assert!(d.allow, "{d:?}");
            assert_eq!(d.source, Source::Local);
            assert_eq!(d.reason, "allowed by the rule at line 3");
        }
        let d = e.decide(&connect(3, "alice"), &budget()).await;
        assert!(!d.allow);
        assert_eq!(
            d.reason,
            "user has 2 session(s); the rule at line 3 allows 2"
        );
        let d = e.decide(&connect(4, "bob"), &budget()).await;
        assert_eq!(
            (d.allow, d.reason.as_str()),
            (false, "denied by policy.default")
        );
        let bye = SessionEvent::new(Reason::Disconnect, 1, "alice");
        assert!(e.decide(&bye, &budget()).await.allow);
        assert!(e.decide(&connect(5, "alice"), &budget()).await.allow);
        let c = e.counters();
        assert_eq!((c.allowed, c.denied, c.local, c.disconnects), (3, 2, 5, 1));
        assert_eq!(e.sessions(), 2);
    });
}

#[test]
fn an_allow_that_cannot_be_delivered_is_a_deny_without_effects() {
    let e =
        engine("config rule\n option action allow\n list user 'alice'\n option max_sessions 1\n");
    async_io::block_on(async {
        let gone = || false;
        let d = e
            .decide(
                &connect(1, "alice"),
                &Budget::within(Duration::from_secs(5), &gone),
            )
            .await;
        assert_eq!((d.allow, d.source), (false, Source::Budget), "{d:?}");
        assert_eq!(e.sessions(), 0, "nothing recorded");
        // Spent before it began: the same.
        let spent = Budget {
            deadline: Instant::now(),
            waiting: &waiting,
        };
        let d = e.decide(&connect(2, "alice"), &spent).await;
        assert_eq!((d.allow, d.source), (false, Source::Budget), "{d:?}");
        assert!(d.reason.contains("hook_timeout"), "{d:?}");
        assert_eq!(e.sessions(), 0);
        // With time and an asker, the same user is admitted once, and max_sessions holds.
        assert!(e.decide(&connect(3, "alice"), &budget()).await.allow);
        assert!(!e.decide(&connect(4, "alice"), &budget()).await.allow);
        assert_eq!((e.sessions(), e.counters().budget), (1, 2));
    });
}

/// replace_oldest finds the user at the limit; ending the old session hangs in ocserv. The
/// decision is a deny within the budget, and nothing is recorded.
#[test]
fn replace_oldest_that_cannot_finish_in_time_is_a_deny_without_effects() {
    use crate::proto::ocserv::ctl::{UserInfoRep, UserListRep};
    use prost::Message;
    use std::io::{Read, Write};
    let dir = crate::testutil::fresh_dir("engine-replace-hang");
    let socket = dir.join("ctl.socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        let list = UserListRep {
            user: vec![UserInfoRep {
                id: Some(11),
                username: Some("alice".into()),
                conn_time: Some(1000),
                ..UserInfoRep::default()
            }],
        }
        .encode_to_vec();
        let mut held = Vec::new();
        for n in 0..2 {
            let (mut c, _) = listener.accept().unwrap();
            let mut h = [0u8; 5];
            c.read_exact(&mut h).unwrap();
            let mut body = vec![0u8; u32::from_ne_bytes([h[1], h[2], h[3], h[4]]) as usize];
            c.read_exact(&mut body).unwrap();
            if n == 0 {
                let mut frame = vec![104u8];
                frame.extend_from_slice(&(list.len() as u32).to_ne_bytes());
                frame.extend_from_slice(&list);
                c.write_all(&frame).unwrap();
            } else {
                held.push(c); // TERMINATE: never answered
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    });
    let e = engine(&format!(
        "config rule\n option action allow\n list user 'alice'\n option max_sessions 1\n option replace_oldest 1\nconfig ocserv 'ocserv'\n option ctl_socket '{}'\n",
        socket.display()
    ));
    let started = Instant::now();
    let d = async_io::block_on(e.decide(
        &connect(2, "alice"),
        &Budget::within(Duration::from_millis(800), &waiting),
    ));
    // The budget's timer or the control client's own deadline (the time left) ends it.
    assert!(!d.allow, "{d:?}");
    assert!(
        d.reason.contains("ran out of time") || d.reason.contains("did not answer within"),
        "{d:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.sessions(), 0);
    server.join().unwrap();
}

#[test]
fn the_budget_keeps_a_margin() {
    let b = Budget::within(Duration::from_secs(5), &waiting);
    let left = b.left();
    assert!(
        left <= Duration::from_millis(4500) && left > Duration::from_millis(4000),
        "{left:?}"
    );
    let b = Budget::within(Duration::from_millis(100), &waiting);
    assert!(b.left() <= Duration::from_millis(80));
}

#[test]
fn disconnects_and_host_updates_are_never_denied() {
    let e = engine("config policy 'local'\n option default deny\n");
    async_io::block_on(async {
        for reason in [Reason::Disconnect, Reason::HostUpdate] {
            let d = e
                .decide(&SessionEvent::new(reason, 9, "nobody"), &budget())
                .await;
            assert!(d.allow, "{reason:?}");
        }
        assert_eq!(e.counters().denied, 0);
    });
}

#[test]
fn a_reload_can_refuse_fail_open_in_production() {
    let e = engine("");
    let bad = parse(b"config resilience 'resilience'\n option fail_mode open\n option environment development\n")
        .unwrap();
    assert!(e.update(Rc::new(bad), None).is_ok());
    let mut refused = parse(b"").unwrap();
    refused.resilience.fail_mode = crate::config::FailMode::Open;
    refused.resilience.environment = crate::config::Environment::Production;
    assert!(e.update(Rc::new(refused), None).is_err());
}
