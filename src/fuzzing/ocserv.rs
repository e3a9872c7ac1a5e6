//! ocserv's control socket: reply frames, their protobuf messages, and everything the agent
//! makes of them (occtl's text and JSON, VpnService's sessions).

use crate::ocserv::ctl::{decode, read_frame, Command};
use crate::ocserv::occtl_fmt::{self as fmt, Counters, Dialect};
use crate::ocserv::top::TOP_UPDATE;
use crate::ocserv::version::Version;
use crate::proto::ocserv::ctl::{BanListRep, BoolMsg, StatusRep, TopUpdateRep, UserListRep};
use futures_lite::future::block_on;
use futures_lite::io::Cursor;

/// Replies each input can stand for; its first byte picks one.
const COMMANDS: [Command; 5] = [
    Command::Status,
    Command::List,
    Command::ListBanned,
    Command::Top,
    Command::DisconnectId,
];

/// A reply stream from ocserv: the first byte picks the command asked, the rest is what the
/// socket returns. A frame is read (bounded, checked) and its payload, or else the rest
/// itself, decoded and formatted in every dialect: no panic, and the JSON is valid JSON.
pub fn ocserv_ctl(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let command = COMMANDS[usize::from(pick) % COMMANDS.len()];
    let expect = match command {
        Command::Top => TOP_UPDATE,
        other => other.reply(),
    };
    let framed = block_on(read_frame(&mut Cursor::new(rest), command, expect));
    let payload = match &framed {
        Ok(Some(payload)) => payload.as_slice(),
        _ => rest,
    };
    for now in [0, 1_800_000_000] {
        for version in [None, Some(Version(1, 1, 6)), Some(Version(1, 4, 1))] {
            show(command, payload, now, Dialect::of(version));
        }
    }
}

fn show(command: Command, payload: &[u8], now: i64, dialect: Dialect) {
    let json = |text: String| {
        assert!(crate::json::check(&text).is_ok(), "{text}");
    };
    let counters = |_: &str| Counters {
        rx: 1,
        tx: u64::MAX,
    };
    match command {
        Command::Status => {
            if let Ok(st) = decode::<StatusRep>(payload) {
                let _ = fmt::status_text(&st, now, dialect);
                json(fmt::status_json(&st, now, dialect));
            }
        }
        Command::List => {
            if let Ok(list) = decode::<UserListRep>(payload) {
                let _ = fmt::users_table(&list.user, now);
                let _ = fmt::user_detail(&list.user, now, &counters, dialect);
                json(fmt::users_json(&list.user, now, &counters, dialect));
                for u in &list.user {
                    let _ = crate::services::vpn::session(u, Some((u64::MAX, 0)));
                    let _ = crate::ocserv::session_start(u);
                }
            }
        }
        Command::ListBanned => {
            if let Ok(bans) = decode::<BanListRep>(payload) {
                let _ = fmt::bans_text(&bans, now);
                json(fmt::bans_json(&bans, now));
            }
        }
        Command::Top => {
            if let Ok(event) = decode::<TopUpdateRep>(payload) {
                let _ = fmt::event_line(&event, now);
                if let Some(text) = fmt::event_json(&event, now) {
                    json(text);
                }
            }
        }
        _ => {
            let _ = decode::<BoolMsg>(payload);
        }
    }
}
