use super::*;
use crate::proto::agent::v1::{CommandInstruction, ConfigType};
use crate::proto::ocserv::ctl::StatusRep;
use std::path::PathBuf;

fn handlers(name: &str) -> (Handlers, PathBuf) {
    let dir = crate::testutil::fresh_dir(&format!("dispatch-{name}"));
    let ocserv = crate::testutil::ocserv_under(&dir);
    let h = Handlers {
        command: Setup {
            ctl_socket: dir.join("ctl.socket"),
            allowed: vec!["show status".into(), "show users".into()],
        },
        ocserv,
        revoke: std::rc::Rc::new(|_| 0),
    };
    (h, dir)
}

fn order(id: &str, payload: Payload) -> ServerMessage {
    ServerMessage {
        request_id: id.into(),
        payload: Some(payload),
    }
}

fn command(args: &[&str]) -> Payload {
    Payload::Command(CommandInstruction {
        command_type: "occtl".into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        timeout_seconds: 2,
    })
}

fn action(kind: &str, params: &[(&str, &str)]) -> Payload {
    Payload::Action(ControlAction {
        action_type: kind.into(),
        parameters: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

fn ask(m: ServerMessage, seen: &mut Seen, h: &Handlers) -> EventNotification {
    async_io::block_on(answer(m, seen, h))
}

#[test]
fn a_command_runs_once_and_a_repeat_gets_the_same_answer() {
    let (h, _dir) = handlers("once");
    let status = StatusRep {
        status: Some(true),
        pid: Some(42),
        active_clients: Some(3),
        ..StatusRep::default()
    };
    // One STATUS only: a second run would find nobody listening.
    let server = crate::ocserv::ctl_fake::scripted(
        &h.command.ctl_socket,
        vec![Some((101, status.encode_to_vec()))],
    );
    let mut seen = Seen::default();
    let first = ask(order("c-1", command(&["show", "status"])), &mut seen, &h);
    assert_eq!(server.join().unwrap(), [1], "one STATUS");
    assert_eq!(first.event_type, "command_result");
    assert_eq!(first.metadata["request_id"], "c-1");
    assert_eq!(first.metadata["success"], "true", "{first:?}");
    assert_eq!(first.metadata["exit_code"], "0");
    assert!(
        first.message.contains("Status: online"),
        "{}",
        first.message
    );
    let again = ask(order("c-1", command(&["show", "status"])), &mut seen, &h);
    assert_eq!(again, first);
}

#[test]
fn orders_that_may_not_run_say_why_with_the_status_code() {
    let (h, _dir) = handlers("refused");
    let mut seen = Seen::default();
    let r = ask(
        order("c-2", command(&["disconnect", "user", "x"])),
        &mut seen,
        &h,
    );
    assert_eq!(r.metadata["success"], "false");
    assert_eq!(r.metadata["code"], "PERMISSION_DENIED");
    let r = ask(
        order("c-3", command(&["show", "user", "a;reboot"])),
        &mut seen,
        &h,
    );
    assert_eq!(r.metadata["code"], "INVALID_ARGUMENT");
    let r = ask(order("a-1", action("reboot", &[])), &mut seen, &h);
    assert_eq!(r.event_type, "action_result");
    assert!(r.message.contains("unknown action 'reboot'"), "{r:?}");
    let r = ask(
        order(
            "a-2",
            action("disconnect_user", &[("username", "bob"), ("all", "maybe")]),
        ),
        &mut seen,
        &h,
    );
    assert!(r.message.contains("not true or false"), "{r:?}");
    let r = ask(
        order("a-3", action("disconnect_user", &[("username", "../x")])),
        &mut seen,
        &h,
    );
    assert_eq!(r.metadata["success"], "false", "{r:?}");
    let r = ask(
        ServerMessage {
            request_id: "e-1".into(),
            payload: None,
        },
        &mut seen,
        &h,
    );
    assert_eq!(
        (r.event_type.as_str(), r.metadata["success"].as_str()),
        ("error", "false")
    );
}

#[test]
fn a_config_update_is_written_once_even_when_repeated() {
    let (h, dir) = handlers("config");
    let update = || {
        Payload::ConfigUpdate(ConfigUpdate {
            config_type: ConfigType::PerUser as i32,
            config_name: "dave".into(),
            config_content: r#"{"routes": ["10.80.0.0/16"]}"#.into(),
            validate_only: false,
            create_backup: true,
        })
    };
    let mut seen = Seen::default();
    let r = ask(order("u-1", update()), &mut seen, &h);
    assert_eq!(r.event_type, "config_result");
    assert_eq!(r.metadata["success"], "true", "{r:?}");
    assert_eq!(
        r.message,
        "valid: 1 line(s) for user 'dave' (ocserv's version unknown: not checked against it)"
    );
    // A second run would have backed up the first file.
    assert_eq!(ask(order("u-1", update()), &mut seen, &h), r);
    assert!(!dir.join("backup").exists());
    let r = ask(order("u-2", update()), &mut seen, &h);
    assert!(r.metadata["backup_path"].contains("dave."), "{r:?}");
}

#[test]
fn answers_are_remembered_for_the_last_64_orders_and_long_output_is_cut() {
    let mut seen = Seen::default();
    for i in 0..70 {
        let id = format!("r-{i}");
        seen.remember(&id, &result("x", &id, true, String::new(), &[]));
    }
    assert!(seen.get("r-5").is_none());
    assert!(seen.get("r-6").is_some() && seen.get("r-69").is_some());
    seen.remember("", &result("x", "", true, String::new(), &[]));
    assert!(
        seen.get("").is_none(),
        "an order without an id is not remembered"
    );
    let long = "é".repeat(MAX_OUTPUT);
    let r = result("x", "r", true, long, &[("empty", String::new())]);
    assert!(r.message.len() <= MAX_OUTPUT + 32);
    assert!(r.message.ends_with("[output truncated]\n"));
    assert!(!r.metadata.contains_key("empty"));
}

#[test]
fn invalidate_cache_drops_one_users_decisions_or_all() {
    let (mut h, _dir) = handlers("invalidate");
    let asked: std::rc::Rc<std::cell::RefCell<Vec<Option<String>>>> = Default::default();
    let log = asked.clone();
    h.revoke = std::rc::Rc::new(move |user| {
        log.borrow_mut().push(user.map(str::to_string));
        3
    });
    let mut seen = Seen::default();
    let r = ask(
        order("i-1", action("invalidate_cache", &[("username", "alice")])),
        &mut seen,
        &h,
    );
    assert_eq!(r.event_type, "action_result");
    assert_eq!(r.metadata["success"], "true", "{r:?}");
    assert_eq!(r.message, "dropped 3 cached decision(s) of 'alice'");
    let r = ask(order("i-2", action("invalidate_cache", &[])), &mut seen, &h);
    assert_eq!(r.message, "dropped all 3 cached decision(s)");
    let r = ask(
        order("i-3", action("invalidate_cache", &[("username", "a b")])),
        &mut seen,
        &h,
    );
    assert_eq!(r.metadata["code"], "INVALID_ARGUMENT", "{r:?}");
    // disconnect_user revokes too, before ocserv is asked (here ocserv is not even there).
    let _ = ask(
        order("i-4", action("disconnect_user", &[("username", "bob")])),
        &mut seen,
        &h,
    );
    assert_eq!(
        *asked.borrow(),
        [Some("alice".to_string()), None, Some("bob".to_string())]
    );
}
