//! ocserv's control socket, spoken natively (what occtl does; see `shared/spec/ocserv.md` §2).
//!
//! Both directions frame a message as `u8 command` + `u32 length` in the **host's** byte order
//! (big-endian on MIPS-BE routers) + a protobuf message of that length. One request per
//! connection: ocserv answers and closes. A command ocserv does not know gets no reply, only
//! EOF, which is how an older server says "not supported". ocserv serves only uid 0.

use crate::proto::ocserv::ctl::{
    BanListRep, BoolMsg, IdReq, StatusRep, UnbanReq, UserListRep, UsernameReq,
};
use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use prost::Message;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Largest request ocserv accepts, header included.
pub const MAX_REQUEST: usize = 256;
/// Largest reply read (a user list of thousands of sessions fits with room).
pub const MAX_REPLY: u32 = 16 << 20;
/// Default time for one request: ocserv's main loop can stall (a script it waits for).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The control commands, with the reply command each expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Status = 1,
    Reload = 2,
    List = 4,
    UserInfo = 5,
    IdInfo = 6,
    DisconnectName = 7,
    DisconnectId = 8,
    ListBanned = 9,
    UnbanIp = 10,
    Top = 11,
    TerminateUser = 13,
    TerminateId = 14,
}

impl Command {
    /// The command number ocserv answers with.
    pub fn reply(self) -> u8 {
        match self {
            Command::Status => 101,
            Command::Reload => 102,
            Command::List | Command::UserInfo | Command::IdInfo | Command::Top => 104,
            Command::DisconnectName => 105,
            Command::DisconnectId => 106,
            Command::UnbanIp => 107,
            Command::ListBanned => 108,
            Command::TerminateUser => 111,
            Command::TerminateId => 112,
        }
    }
}

/// Byte order of the length field; the host's in production, either in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Big,
    Little,
}

impl Endian {
    pub const HOST: Endian = if cfg!(target_endian = "big") {
        Endian::Big
    } else {
        Endian::Little
    };
}

/// Why a control request failed.
#[derive(Debug)]
pub enum CtlError {
    /// The socket could not be reached (ocserv not running, `use-occtl` off, not root).
    Connect(PathBuf, io::Error),
    Io(io::Error),
    Timeout(Duration),
    /// ocserv closed without answering: this version does not know the command.
    NotSupported(Command),
    /// A request over [`MAX_REQUEST`] bytes (a very long user name).
    RequestTooLarge(usize),
    /// A reply that is not what the command expects, or does not decode.
    BadReply(String),
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Connect(path, e) => {
                write!(
                    f,
                    "cannot connect to ocserv's control socket {}: {e}",
                    path.display()
                )?;
                if e.kind() == io::ErrorKind::PermissionDenied {
                    write!(f, " (ocserv serves only root)")?;
                }
                Ok(())
            }
            CtlError::Io(e) => write!(f, "control socket: {e}"),
            CtlError::Timeout(t) if t.as_secs() > 0 && t.subsec_millis() == 0 => {
                write!(f, "ocserv did not answer within {} s", t.as_secs())
            }
            CtlError::Timeout(t) => write!(f, "ocserv did not answer within {} ms", t.as_millis()),
            CtlError::NotSupported(c) => {
                write!(
                    f,
                    "this ocserv does not support {c:?} (it closed without a reply)"
                )
            }
            CtlError::RequestTooLarge(n) => {
                write!(
                    f,
                    "request of {n} bytes; ocserv accepts at most {MAX_REQUEST}"
                )
            }
            CtlError::BadReply(why) => write!(f, "unexpected reply from ocserv: {why}"),
        }
    }
}

impl std::error::Error for CtlError {}

/// The 5-byte header.
pub fn header(command: u8, len: u32, endian: Endian) -> [u8; 5] {
    let n = match endian {
        Endian::Big => len.to_be_bytes(),
        Endian::Little => len.to_le_bytes(),
    };
    [command, n[0], n[1], n[2], n[3]]
}

/// Reads a header: command and payload length.
pub fn parse_header(h: [u8; 5], endian: Endian) -> (u8, u32) {
    let n = [h[1], h[2], h[3], h[4]];
    let len = match endian {
        Endian::Big => u32::from_be_bytes(n),
        Endian::Little => u32::from_le_bytes(n),
    };
    (h[0], len)
}

/// A whole request frame, checked against [`MAX_REQUEST`].
pub fn request(command: Command, payload: &[u8], endian: Endian) -> Result<Vec<u8>, CtlError> {
    let total = 5 + payload.len();
    if total > MAX_REQUEST {
        return Err(CtlError::RequestTooLarge(total));
    }
    let mut frame = header(command as u8, payload.len() as u32, endian).to_vec();
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// A client for one ocserv; each call opens its own connection.
#[derive(Clone, Debug)]
pub struct Client {
    path: PathBuf,
    timeout: Duration,
}

impl Client {
    pub fn new(path: impl Into<PathBuf>, timeout: Duration) -> Client {
        Client {
            path: path.into(),
            timeout,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Connects and sends one request; the connection, for its reply (or replies).
    pub(crate) async fn send(
        &self,
        command: Command,
        payload: &[u8],
    ) -> Result<Async<UnixStream>, CtlError> {
        let frame = request(command, payload, Endian::HOST)?;
        let mut stream = Async::<UnixStream>::connect(&self.path)
            .await
            .map_err(|e| CtlError::Connect(self.path.clone(), e))?;
        stream.write_all(&frame).await.map_err(CtlError::Io)?;
        stream.flush().await.map_err(CtlError::Io)?;
        Ok(stream)
    }

    /// Sends one request and returns the reply's payload.
    pub async fn call(&self, command: Command, payload: &[u8]) -> Result<Vec<u8>, CtlError> {
        let exchange = async {
            let mut stream = self.send(command, payload).await?;
            read_reply(&mut stream, command).await
        };
        future::or(exchange, async {
            Timer::after(self.timeout).await;
            Err(CtlError::Timeout(self.timeout))
        })
        .await
    }

    /// STATUS: the server's counters.
    pub async fn status(&self) -> Result<StatusRep, CtlError> {
        decode(&self.call(Command::Status, &[]).await?)
    }

    /// RELOAD: ocserv re-reads its configuration (and per-user files).
    pub async fn reload(&self) -> Result<bool, CtlError> {
        self.boolean(Command::Reload, &[]).await
    }

    /// LIST: every session.
    pub async fn list(&self) -> Result<UserListRep, CtlError> {
        decode(&self.call(Command::List, &[]).await?)
    }

    /// USER_INFO: every session of one user.
    pub async fn user_info(&self, username: &str) -> Result<UserListRep, CtlError> {
        decode(
            &self
                .call(Command::UserInfo, &username_req(username))
                .await?,
        )
    }

    /// ID_INFO: one session, or none.
    pub async fn id_info(&self, id: i32) -> Result<UserListRep, CtlError> {
        decode(&self.call(Command::IdInfo, &id_req(id)).await?)
    }

    /// DISCONNECT_NAME: ends every session of a user (they may reconnect with their cookie).
    pub async fn disconnect_user(&self, username: &str) -> Result<bool, CtlError> {
        self.boolean(Command::DisconnectName, &username_req(username))
            .await
    }

    /// DISCONNECT_ID.
    pub async fn disconnect_id(&self, id: i32) -> Result<bool, CtlError> {
        self.boolean(Command::DisconnectId, &id_req(id)).await
    }

    /// TERMINATE_USER (ocserv ≥ 1.4.2): disconnects and invalidates the cookies.
    pub async fn terminate_user(&self, username: &str) -> Result<bool, CtlError> {
        self.boolean(Command::TerminateUser, &username_req(username))
            .await
    }

    /// TERMINATE_ID (ocserv ≥ 1.4.2).
    pub async fn terminate_id(&self, id: i32) -> Result<bool, CtlError> {
        self.boolean(Command::TerminateId, &id_req(id)).await
    }

    /// LIST_BANNED.
    pub async fn banned(&self) -> Result<BanListRep, CtlError> {
        decode(&self.call(Command::ListBanned, &[]).await?)
    }

    /// UNBAN_IP.
    pub async fn unban(&self, ip: IpAddr) -> Result<bool, CtlError> {
        let bytes = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let req = UnbanReq { ip: Some(bytes) }.encode_to_vec();
        self.boolean(Command::UnbanIp, &req).await
    }

    async fn boolean(&self, command: Command, payload: &[u8]) -> Result<bool, CtlError> {
        let reply: BoolMsg = decode(&self.call(command, payload).await?)?;
        Ok(reply.status.unwrap_or(false))
    }
}

fn username_req(username: &str) -> Vec<u8> {
    UsernameReq {
        username: Some(username.to_string()),
    }
    .encode_to_vec()
}

fn id_req(id: i32) -> Vec<u8> {
    IdReq { id: Some(id) }.encode_to_vec()
}

pub(crate) fn decode<M: Message + Default>(payload: &[u8]) -> Result<M, CtlError> {
    M::decode(payload).map_err(|e| CtlError::BadReply(e.to_string()))
}

/// Reads one reply frame for `command`: EOF before a header is "not supported".
async fn read_reply(
    stream: &mut (impl AsyncReadExt + Unpin),
    command: Command,
) -> Result<Vec<u8>, CtlError> {
    read_frame(stream, command, command.reply())
        .await?
        .ok_or(CtlError::NotSupported(command))
}

/// Reads one frame, which must carry command number `expect` (an answer to `command`);
/// `None` when the stream ends before a header.
pub(crate) async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    command: Command,
    expect: u8,
) -> Result<Option<Vec<u8>>, CtlError> {
    let mut h = [0u8; 5];
    let mut got = 0;
    while got < h.len() {
        match stream.read(&mut h[got..]).await.map_err(CtlError::Io)? {
            0 if got == 0 => return Ok(None),
            0 => return Err(CtlError::BadReply("reply cut inside its header".into())),
            n => got += n,
        }
    }
    let (cmd, len) = parse_header(h, Endian::HOST);
    if cmd != expect {
        return Err(CtlError::BadReply(format!(
            "command {cmd} to {command:?}, which expects {expect}"
        )));
    }
    if len > MAX_REPLY {
        return Err(CtlError::BadReply(format!(
            "announced {len} bytes, more than the {MAX_REPLY} accepted"
        )));
    }
    // Grown as bytes arrive, never sized by the announced length alone.
    let mut payload = Vec::with_capacity((len as usize).min(64 * 1024));
    stream
        .take(u64::from(len))
        .read_to_end(&mut payload)
        .await
        .map_err(CtlError::Io)?;
    if payload.len() != len as usize {
        return Err(CtlError::BadReply(format!(
            "reply cut short: {} of {len} bytes",
            payload.len()
        )));
    }
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's wire samples (captured from ocserv 1.1.6 on x86_64, little-endian).
    #[test]
    fn requests_match_the_captured_bytes() {
        let status = request(Command::Status, &[], Endian::Little).unwrap();
        assert_eq!(status, [0x01, 0, 0, 0, 0]);
        let user = request(Command::UserInfo, &username_req("alice"), Endian::Little).unwrap();
        assert_eq!(
            user,
            [0x05, 0x07, 0, 0, 0, 0x0a, 0x05, b'a', b'l', b'i', b'c', b'e']
        );
        let id = request(Command::DisconnectId, &id_req(14791), Endian::Little).unwrap();
        assert_eq!(id, [0x08, 0x04, 0, 0, 0, 0x08, 0x8e, 0xe7, 0x01]);
        let user = request(Command::TerminateUser, &username_req("alice"), Endian::Big);
        assert_eq!(
            user.unwrap(),
            [13, 0, 0, 0, 7, 0x0a, 0x05, b'a', b'l', b'i', b'c', b'e']
        );
    }

    /// TERMINATE_USER through a stand-in ocserv: done, then "not supported" the way an ocserv
    /// before 1.4.2 says it (the connection closed without a reply).
    #[test]
    fn a_command_an_older_ocserv_lacks_is_not_supported() {
        let dir = crate::testutil::fresh_dir("ctl-terminate");
        let path = dir.join("s");
        let server =
            crate::ocserv::ctl_fake::scripted(&path, vec![Some((111, vec![0x08, 0x01])), None]);
        let client = Client::new(&path, Duration::from_secs(5));
        assert!(future::block_on(client.terminate_user("alice")).unwrap());
        let err = future::block_on(client.terminate_user("alice")).unwrap_err();
        assert!(
            matches!(err, CtlError::NotSupported(Command::TerminateUser)),
            "{err}"
        );
        assert_eq!(server.join().unwrap(), [13, 13]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_length_is_in_host_order_and_big_endian_routers_get_big_endian() {
        assert_eq!(header(5, 7, Endian::Big), [5, 0, 0, 0, 7]);
        assert_eq!(header(5, 7, Endian::Little), [5, 7, 0, 0, 0]);
        assert_eq!(parse_header([104, 0, 0, 1, 2], Endian::Big), (104, 258));
        assert_eq!(parse_header([104, 2, 1, 0, 0], Endian::Little), (104, 258));
        let host = header(1, 0x0102_0304, Endian::HOST);
        assert_eq!(&host[1..], &0x0102_0304u32.to_ne_bytes());
    }

    #[test]
    fn oversized_requests_are_refused_before_sending() {
        let long = "x".repeat(300);
        let err = request(Command::UserInfo, &username_req(&long), Endian::HOST).unwrap_err();
        assert!(matches!(err, CtlError::RequestTooLarge(_)), "{err}");
    }

    fn reply(bytes: &[u8], command: Command) -> Result<Vec<u8>, CtlError> {
        future::block_on(read_reply(&mut &bytes[..], command))
    }

    #[test]
    fn replies_are_checked() {
        let ok = [&header(101, 2, Endian::HOST)[..], &[0x08, 0x01]].concat();
        let status: StatusRep = decode(&reply(&ok, Command::Status).unwrap()).unwrap();
        assert_eq!(status.status, Some(true));
        assert!(matches!(
            reply(&[], Command::TerminateId),
            Err(CtlError::NotSupported(Command::TerminateId))
        ));
        assert!(matches!(
            reply(&[101, 0], Command::Status),
            Err(CtlError::BadReply(_))
        ));
        let wrong = header(102, 0, Endian::HOST);
        assert!(matches!(
            reply(&wrong, Command::Status),
            Err(CtlError::BadReply(_))
        ));
        let short = [&header(104, 10, Endian::HOST)[..], &[0x0a]].concat();
        assert!(matches!(
            reply(&short, Command::List),
            Err(CtlError::BadReply(_))
        ));
        let huge = header(104, u32::MAX, Endian::HOST);
        assert!(matches!(
            reply(&huge, Command::List),
            Err(CtlError::BadReply(_))
        ));
    }

    #[test]
    fn a_user_list_decodes_with_missing_newer_fields() {
        use crate::proto::ocserv::ctl::UserInfoRep;
        let old = UserListRep {
            user: vec![UserInfoRep {
                id: Some(15202),
                username: Some("alice".into()),
                conn_time: Some(1_700_000_000),
                ..UserInfoRep::default()
            }],
        }
        .encode_to_vec();
        let list: UserListRep = decode(&old).unwrap();
        assert_eq!(list.user[0].id, Some(15202));
        assert_eq!(list.user[0].session_start_time, None);
        assert!(decode::<UserListRep>(&[0x0a, 0xff]).is_err());
    }
}
