use super::*;
use crate::proto::ocserv::ctl::UserInfoRep;
use prost::Message;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;

fn frame(cmd: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![cmd];
    f.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
    f.extend_from_slice(payload);
    f
}

fn list(ids: &[i32]) -> UserListRep {
    UserListRep {
        user: ids
            .iter()
            .map(|&id| UserInfoRep {
                id: Some(id),
                ..UserInfoRep::default()
            })
            .collect(),
    }
}

fn event(connected: u32, id: i32) -> Vec<u8> {
    TopUpdateRep {
        connected: Some(connected),
        user: Some(list(&[id])),
        ..TopUpdateRep::default()
    }
    .encode_to_vec()
}

/// A stand-in ocserv: each connection must send TOP; it gets the session list, then the
/// given events, then the connection closes.
fn ocserv(path: &Path, rounds: Vec<(Vec<i32>, Vec<Vec<u8>>)>) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for (sessions, events) in rounds {
            let (mut c, _) = listener.accept().unwrap();
            let mut h = [0u8; 5];
            c.read_exact(&mut h).unwrap();
            assert_eq!(h, [11, 0, 0, 0, 0], "TOP with no payload");
            c.write_all(&frame(104, &list(&sessions).encode_to_vec()))
                .unwrap();
            for e in events {
                c.write_all(&frame(TOP_UPDATE, &e)).unwrap();
            }
        }
    })
}

#[test]
fn the_session_list_then_events_then_the_end() {
    let path = crate::testutil::fresh_dir("top-once").join("s");
    let server = ocserv(&path, vec![(vec![7], vec![event(1, 8), event(0, 7)])]);
    let client = Client::new(&path, Duration::from_secs(5));
    future::block_on(async {
        let (mut top, sessions) = Top::open(&client).await.unwrap();
        assert_eq!(sessions, list(&[7]));
        let e = top.next().await.unwrap().unwrap();
        assert_eq!(
            (e.connected, e.user.unwrap().user[0].id),
            (Some(1), Some(8))
        );
        let e = top.next().await.unwrap().unwrap();
        assert_eq!(e.connected, Some(0));
        assert!(top.next().await.unwrap().is_none(), "closed");
    });
    server.join().unwrap();
}

#[test]
fn a_frame_that_is_not_an_event_is_an_error() {
    let path = crate::testutil::fresh_dir("top-bad").join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut h = [0u8; 5];
        c.read_exact(&mut h).unwrap();
        c.write_all(&frame(104, &[])).unwrap();
        c.write_all(&frame(101, &[])).unwrap();
    });
    let client = Client::new(&path, Duration::from_secs(5));
    future::block_on(async {
        let (mut top, _) = Top::open(&client).await.unwrap();
        let err = top.next().await.unwrap_err();
        assert!(err.to_string().contains("command 101"), "{err}");
    });
    server.join().unwrap();
}

#[test]
fn a_subscription_reconnects_when_ocserv_comes_back() {
    let path = crate::testutil::fresh_dir("top-again").join("s");
    let server = ocserv(
        &path,
        vec![
            (vec![1], vec![event(1, 2)]),
            (vec![1, 2], vec![event(0, 1)]),
        ],
    );
    let mut sub = Subscription::new(Client::new(&path, Duration::from_secs(5)));
    future::block_on(async {
        assert!(matches!(sub.next().await, Update::Sessions(l) if l == list(&[1])));
        assert!(matches!(sub.next().await, Update::Event(e) if e.connected == Some(1)));
        assert!(matches!(sub.next().await, Update::Lost(_)));
        // After a pause, the second connection: the sessions now, then its event.
        assert!(matches!(sub.next().await, Update::Sessions(l) if l == list(&[1, 2])));
        assert!(matches!(sub.next().await, Update::Event(e) if e.connected == Some(0)));
    });
    server.join().unwrap();
}

#[test]
fn no_ocserv_is_lost_not_stuck() {
    let path = crate::testutil::fresh_dir("top-none").join("s");
    let mut sub = Subscription::new(Client::new(&path, Duration::from_secs(5)));
    let update = future::block_on(sub.next());
    assert!(
        matches!(&update, Update::Lost(CtlError::Connect(..))),
        "{update:?}"
    );
}
