//! Framing on the daemon's Unix socket: an 8-byte header, then a JSON payload.
//!
//! ```text
//! 'O' 'A' | version u8 | kind u8 | payload length u32 big-endian | payload (UTF-8 JSON)
//! ```
//! Both ends are the same binary, but after a firmware upgrade a new hook may meet an old daemon
//! for a moment: the version byte lets either side refuse cleanly instead of misreading.
//! Payloads are bounded ([`MAX_PAYLOAD`]) and decoded with a nesting limit, so a hostile local
//! peer can make a request fail but never make the daemon allocate without bound or crash.

use nanoserde::DeJson;
use std::fmt;
use std::io;

/// Marks our frames, so a stray client gets a clear error rather than a confusing one.
pub const MAGIC: [u8; 2] = *b"OA";

/// Protocol version; bump on any incompatible change of kinds or payloads. 2: the event and
/// the decision are typed (version 1 carried ocserv's variables and the source as free text).
pub const VERSION: u8 = 2;

/// Bytes before the payload.
pub const HEADER_LEN: usize = 8;

/// Largest payload either side accepts.
pub const MAX_PAYLOAD: u32 = 16 * 1024;

/// What a frame carries. Requests are below 128, replies from 128 up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `ocserv-agent status`.
    StatusRequest = 1,
    /// An ocserv event from the hook.
    EventRequest = 2,
    /// `ocserv-agent cache clear`.
    CacheClearRequest = 3,
    /// The daemon's state.
    StatusReply = 129,
    /// The decision for an event.
    DecisionReply = 130,
    /// How many cached decisions were dropped.
    CacheClearReply = 131,
    /// A refused or unservable request, with the reason.
    ErrorReply = 255,
}

impl Kind {
    pub(crate) fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::StatusRequest),
            2 => Some(Kind::EventRequest),
            3 => Some(Kind::CacheClearRequest),
            129 => Some(Kind::StatusReply),
            130 => Some(Kind::DecisionReply),
            131 => Some(Kind::CacheClearReply),
            255 => Some(Kind::ErrorReply),
            _ => None,
        }
    }
}

/// Everything that can go wrong reading or writing a frame.
#[derive(Debug)]
pub enum FrameError {
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The peer closed the connection before a whole frame arrived.
    Closed,
    /// The exchange did not finish within its deadline.
    TimedOut,
    /// The frame does not start with `OA`.
    BadMagic,
    /// A protocol version this binary does not speak (an upgrade half done).
    UnsupportedVersion(u8),
    /// A kind byte this binary does not know.
    UnknownKind(u8),
    /// A payload length over [`MAX_PAYLOAD`].
    TooLarge(u32),
    /// The payload is not what the kind promises.
    BadPayload(String),
    /// An event whose values break the rules ocserv's environment is read by.
    BadEvent(crate::session::EnvError),
    /// The peer's uid is not allowed.
    PeerNotAllowed(u32),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Closed => write!(f, "connection closed before a complete message"),
            FrameError::TimedOut => write!(f, "timed out"),
            FrameError::BadMagic => write!(f, "not an ocserv-agent message"),
            FrameError::UnsupportedVersion(v) => write!(
                f,
                "protocol version {v} is not supported (this binary speaks {VERSION}; restart the daemon after an upgrade)"
            ),
            FrameError::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            FrameError::TooLarge(n) => {
                write!(f, "message of {n} bytes exceeds the {MAX_PAYLOAD}-byte limit")
            }
            FrameError::BadPayload(why) => write!(f, "malformed message: {why}"),
            FrameError::BadEvent(e) => write!(f, "malformed event: {e}"),
            FrameError::PeerNotAllowed(uid) => {
                write!(f, "uid {uid} is not allowed (agent.allowed_uid)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => FrameError::Closed,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FrameError::TimedOut,
            _ => FrameError::Io(e),
        }
    }
}

/// Builds a complete frame.
pub fn encode(kind: Kind, payload: &str) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.push(VERSION);
    frame.push(kind as u8);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// Checks a header; returns the kind and the payload length to read next.
pub fn decode_header(header: &[u8; HEADER_LEN]) -> Result<(Kind, u32), FrameError> {
    if header[..2] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    if header[2] != VERSION {
        return Err(FrameError::UnsupportedVersion(header[2]));
    }
    let kind = Kind::from_byte(header[3]).ok_or(FrameError::UnknownKind(header[3]))?;
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    Ok((kind, len))
}

/// Decodes a JSON payload through `crate::json::decode` (a strict syntax check first, since
/// nanoserde's decoder can panic on some malformed input, and under `panic = "abort"` that would
/// end the daemon).
pub fn decode_json<T: DeJson>(payload: &[u8]) -> Result<T, FrameError> {
    let text =
        std::str::from_utf8(payload).map_err(|_| FrameError::BadPayload("not UTF-8".into()))?;
    crate::json::decode(text).map_err(|e| FrameError::BadPayload(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::messages::StatusReply;

    #[test]
    fn header_round_trip_is_big_endian() {
        let frame = encode(Kind::StatusReply, "{}");
        assert_eq!(
            &frame[..HEADER_LEN],
            &[b'O', b'A', VERSION, 129, 0, 0, 0, 2]
        );
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        assert_eq!(decode_header(&header).unwrap(), (Kind::StatusReply, 2));
    }

    #[test]
    fn bad_headers_are_named() {
        let h = |bytes: [u8; 8]| decode_header(&bytes).unwrap_err().to_string();
        assert!(h(*b"GET / HT").contains("not an ocserv-agent message"));
        assert!(h([b'O', b'A', 9, 1, 0, 0, 0, 0]).contains("version 9"));
        assert!(h([b'O', b'A', VERSION, 77, 0, 0, 0, 0]).contains("kind 77"));
        assert!(h([b'O', b'A', VERSION, 1, 0xff, 0xff, 0xff, 0xff]).contains("limit"));
    }

    #[test]
    fn deep_payloads_are_refused() {
        let deep = "[".repeat(10_000);
        assert!(matches!(
            decode_json::<StatusReply>(deep.as_bytes()),
            Err(FrameError::BadPayload(_))
        ));
    }

    /// Random and mutated payloads must only ever produce errors, never panics.
    #[test]
    fn random_payloads_never_panic() {
        let valid = StatusReply::default_for_test().to_json();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut bytes: Vec<u8> = if round % 2 == 0 {
                (0..next() % 200).map(|_| next() as u8).collect()
            } else {
                valid.as_bytes().to_vec()
            };
            for _ in 0..(next() % 6) {
                if bytes.is_empty() {
                    break;
                }
                let i = (next() % bytes.len() as u64) as usize;
                const ALPHABET: &[u8] = b"{}[]\",:0123456789-eE.\\ntrufalsn \xff";
                bytes[i] = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
            }
            let _ = decode_json::<StatusReply>(&bytes);
        }
    }
}
