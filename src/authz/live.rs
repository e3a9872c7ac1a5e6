//! A user's live sessions as ocserv sees them, for `max_sessions`: ocserv's count is the truth
//! (it includes sessions admitted before the agent started, and drops ones that ended while the
//! agent was away), the agent's own table is the fallback when the control socket does not
//! answer. `replace_oldest` ends the oldest sessions through the same socket.

use crate::ocserv::ctl::{Client, CtlError};

/// A session other than the one being decided: ocserv's ID and when it connected.
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
                since: u.conn_time.unwrap_or(0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ocserv::ctl::{UserInfoRep, UserListRep};
    use prost::Message;
    use std::time::Duration;

    #[test]
    fn the_session_being_decided_is_not_counted_and_the_oldest_comes_first() {
        let dir = std::env::temp_dir().join(format!("live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let u = |id, t| UserInfoRep {
            id: Some(id),
            conn_time: Some(t),
            ..UserInfoRep::default()
        };
        let list = UserListRep {
            user: vec![u(30, 300), u(10, 100), u(20, 200)],
        }
        .encode_to_vec();
        let server = crate::ocserv::ctl_fake::scripted(&path, vec![Some((104, list))]);
        let client = Client::new(&path, Duration::from_secs(5));
        let live = async_io::block_on(others(&client, "alice", 30)).unwrap();
        assert_eq!(
            live,
            vec![Live { id: 10, since: 100 }, Live { id: 20, since: 200 }]
        );
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
