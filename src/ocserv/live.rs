//! A user's live sessions as ocserv sees them, for `max_sessions`: ocserv's count is the truth
//! (it includes sessions admitted before the agent started, and drops ones that ended while the
//! agent was away), the agent's own table is the fallback when the control socket does not
//! answer. `replace_oldest` ends the oldest sessions through the same socket.

use crate::ocserv::ctl::{Client, CtlError};

/// A session other than the one being decided: ocserv's ID and when it started (not when it
/// last reconnected: see [`crate::ocserv::session_start`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    pub id: i32,
    pub since: u64,
}

/// The user's sessions in ocserv except `deciding` (ocserv lists a session while its
/// connect-script runs), oldest first.
pub async fn others(client: &Client, user: &str, deciding: u32) -> Result<Vec<Live>, CtlError> {
    let list = client.user_info(user).await?;
    let mut live: Vec<Live> = list
        .user
        .iter()
        .filter_map(|u| {
            let id = u.id?;
            (u32::try_from(id).ok() != Some(deciding)).then_some(Live {
                id,
                since: crate::ocserv::session_start(u),
            })
        })
        .collect();
    live.sort_by_key(|s| (s.since, s.id));
    Ok(live)
}

/// Ends one session: TERMINATE_ID (its cookie cannot reconnect), or on an ocserv before 1.4.2
/// DISCONNECT_ID. Returns whether ocserv said it did.
pub async fn end(client: &Client, id: i32) -> Result<bool, CtlError> {
    match client.terminate_id(id).await {
        Err(CtlError::NotSupported(_)) => client.disconnect_id(id).await,
        other => other,
    }
}

/// What `max_sessions` asks of a connect that a rule admits.
#[derive(Debug, PartialEq, Eq)]
pub enum Limit {
    /// Under the limit.
    Room,
    /// At the limit without `replace_oldest` (or unable to replace): the reason to deny.
    Full(String),
    /// At the limit with `replace_oldest`: these sessions, oldest first, are to end once the
    /// connect is admitted.
    Replace(Vec<i32>),
}

/// Works out `max_sessions` for `user` (the session `deciding` excluded) from ocserv's list,
/// or from `own` (the agent's table) when ocserv does not answer. Ends nothing.
pub async fn plan(
    client: &Client,
    user: &str,
    deciding: u32,
    own: impl FnOnce() -> u32,
    rule: &str,
    max: u32,
    replace_oldest: bool,
) -> Limit {
    let others = match others(client, user, deciding).await {
        Ok(others) => others,
        Err(e) => {
            let n = own();
            log::debug!("max_sessions from the agent's own table ({n}): ocserv: {e}");
            if n < max {
                return Limit::Room;
            }
            let mut why = format!("user has {n} session(s); {rule} allows {max}");
            if replace_oldest {
                why += &format!(" (cannot replace the oldest: {e})");
            }
            return Limit::Full(why);
        }
    };
    // usize: a list can never be longer than memory, and max fits in usize everywhere.
    let max = max as usize;
    if others.len() < max {
        return Limit::Room;
    }
    if !replace_oldest {
        return Limit::Full(format!(
            "user has {} session(s) in ocserv; {rule} allows {max}",
            others.len()
        ));
    }
    let excess = (others.len() + 1).saturating_sub(max).min(others.len());
    Limit::Replace(others[..excess].iter().map(|s| s.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ocserv::ctl::{UserInfoRep, UserListRep};
    use prost::Message;
    use std::time::Duration;

    /// `others` for session 30 of alice, with ocserv answering USER_INFO with `users`.
    fn others_than_30(name: &str, users: Vec<UserInfoRep>) -> Vec<Live> {
        let path = crate::testutil::fresh_dir(name).join("s");
        let list = UserListRep { user: users }.encode_to_vec();
        let server = crate::ocserv::ctl_fake::scripted(&path, vec![Some((104, list))]);
        let client = Client::new(&path, Duration::from_secs(5));
        let live = async_io::block_on(others(&client, "alice", 30)).unwrap();
        server.join().unwrap();
        live
    }

    #[test]
    fn the_session_being_decided_is_not_counted_and_the_oldest_comes_first() {
        let u = |id, t| UserInfoRep {
            id: Some(id),
            conn_time: Some(t),
            ..UserInfoRep::default()
        };
        assert_eq!(
            others_than_30("live-order", vec![u(30, 300), u(10, 100), u(20, 200)]),
            vec![Live { id: 10, since: 100 }, Live { id: 20, since: 200 }]
        );
    }

    /// ocserv 1.4.1 on: `conn_time` is the last (re)connect. Session 10 started first and
    /// reconnected last; it is still the oldest, the one `replace_oldest` ends.
    #[test]
    fn a_reconnect_does_not_make_a_session_new() {
        let u = |id, started: i64, last: u64| UserInfoRep {
            id: Some(id),
            conn_time: Some(last),
            session_start_time: Some(started),
            ..UserInfoRep::default()
        };
        let users = vec![u(10, 100, 900), u(20, 200, 200), u(30, 300, 300)];
        assert_eq!(
            others_than_30("live-reconnect", users),
            vec![Live { id: 10, since: 100 }, Live { id: 20, since: 200 }]
        );
    }
}
