//! ocserv's TOP event stream (`occtl show events`): after the TOP request ocserv answers with
//! the sessions it has (a USER_LIST reply) and then keeps the connection open, sending a
//! TOP_UPDATE for every connect and disconnect.
//!
//! ocserv serves **one** TOP listener at a time: while another (an operator's `occtl show
//! events`, say) holds it, this one gets the session list and then no events. A `connected`
//! event arrives before the connect-script decides, so it also comes for sessions that will be
//! denied; a disconnect comes only for sessions that were admitted.

use super::ctl::{decode, read_frame, Client, Command, CtlError};
use crate::proto::ocserv::ctl::{TopUpdateRep, UserListRep};
use async_io::{Async, Timer};
use futures_lite::future;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The command number of each event frame.
pub const TOP_UPDATE: u8 = 109;

/// One TOP connection.
pub struct Top {
    stream: Async<UnixStream>,
}

impl Top {
    /// Connects and subscribes; returns the sessions ocserv had at that moment (within the
    /// client's timeout).
    pub async fn open(client: &Client) -> Result<(Top, UserListRep), CtlError> {
        let timeout = client.timeout();
        let start = async {
            let mut stream = client.send(Command::Top, &[]).await?;
            let first = read_frame(&mut stream, Command::Top, Command::Top.reply())
                .await?
                .ok_or(CtlError::NotSupported(Command::Top))?;
            Ok((Top { stream }, decode(&first)?))
        };
        future::or(start, async {
            Timer::after(timeout).await;
            Err(CtlError::Timeout(timeout))
        })
        .await
    }

    /// The next event; `Ok(None)` when ocserv closed the connection (it stopped or restarted).
    pub async fn next(&mut self) -> Result<Option<TopUpdateRep>, CtlError> {
        match read_frame(&mut self.stream, Command::Top, TOP_UPDATE).await? {
            Some(payload) => Ok(Some(decode(&payload)?)),
            None => Ok(None),
        }
    }
}

/// What a [`Subscription`] has to say.
#[derive(Debug)]
pub enum Update {
    /// (Re)connected: the sessions ocserv has now.
    Sessions(UserListRep),
    Event(TopUpdateRep),
    /// The stream ended or could not be opened; the next call waits and reconnects.
    Lost(CtlError),
}

/// Events that survive an ocserv restart: when the stream ends, the next call reconnects,
/// after 1 s doubling to 30 s while ocserv stays away (±20%).
pub struct Subscription {
    client: Client,
    top: Option<Top>,
    failures: u32,
}

impl Subscription {
    pub fn new(client: Client) -> Subscription {
        Subscription {
            client,
            top: None,
            failures: 0,
        }
    }

    pub async fn next(&mut self) -> Update {
        let Some(top) = self.top.as_mut() else {
            if self.failures > 0 {
                let wait = crate::backoff::backoff(
                    self.failures,
                    Duration::from_secs(1),
                    Duration::from_secs(30),
                    fastrand::u32(..),
                );
                Timer::after(wait).await;
            }
            return match Top::open(&self.client).await {
                Ok((top, sessions)) => {
                    self.top = Some(top);
                    self.failures = 0;
                    Update::Sessions(sessions)
                }
                Err(e) => {
                    self.failures = self.failures.saturating_add(1);
                    Update::Lost(e)
                }
            };
        };
        match top.next().await {
            Ok(Some(event)) => Update::Event(event),
            Ok(None) => {
                self.top = None;
                self.failures = 1;
                Update::Lost(CtlError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "ocserv closed the event stream",
                )))
            }
            Err(e) => {
                self.top = None;
                self.failures = 1;
                Update::Lost(e)
            }
        }
    }
}

#[cfg(test)]
#[path = "top_tests.rs"]
mod tests;
