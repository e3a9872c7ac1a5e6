//! What reaches the daemon on the router itself: ocserv's script environment, the hook's
//! socket, the outbox journal on disk, syslog lines, and metrics scrapes.

use crate::ipc::frame::{self, Kind, HEADER_LEN, MAX_PAYLOAD};
use crate::ipc::messages::{Reply, Request};
use crate::session::SessionEvent;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// ocserv's environment (`NAME=value` lines, any bytes): an event read from it meets its own
/// rules again unchanged, fits one frame, and crosses the socket whole.
pub fn hook_env(data: &[u8]) {
    let vars: Vec<(&[u8], &[u8])> = data
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let at = line.iter().position(|&b| b == b'=')?;
            Some((&line[..at], &line[at + 1..]))
        })
        .collect();
    let lookup = |name: &str| {
        vars.iter()
            .rev()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| OsString::from_vec(v.to_vec()))
    };
    let Ok(event) = SessionEvent::from_env(lookup) else {
        return;
    };
    assert_eq!(event.clone().checked().as_ref(), Ok(&event));
    let request = Request::Event(Box::new(event));
    let bytes = request.encode();
    assert!(
        bytes.len() <= HEADER_LEN + MAX_PAYLOAD as usize,
        "{}",
        bytes.len()
    );
    assert_eq!(read(&bytes, Request::decode), Some(request));
}

/// Reads a whole frame with `decode`; `None` when the header or the payload is refused, or the
/// length is not the payload's.
fn read<T>(bytes: &[u8], decode: fn(Kind, &[u8]) -> Result<T, frame::FrameError>) -> Option<T> {
    let header: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
    let (kind, len) = frame::decode_header(header).ok()?;
    let payload = &bytes[HEADER_LEN..];
    (payload.len() == len as usize).then(|| decode(kind, payload).ok())?
}

/// A frame on the daemon's socket, read as a request (the daemon) and as a reply (the hook):
/// whatever is read is written back to a frame that reads the same.
pub fn ipc(data: &[u8]) {
    if let Some(request) = read(data, Request::decode) {
        assert_eq!(read(&request.encode(), Request::decode), Some(request));
    }
    if let Some(reply) = read(data, Reply::decode) {
        assert_eq!(read(&reply.encode(), Reply::decode), Some(reply));
    }
    // The payload alone under every kind, whatever the header says.
    if let Some((&k, payload)) = data.split_first() {
        if let Some(kind) = Kind::from_byte(k) {
            let _ = Request::decode(kind, payload);
            let _ = Reply::decode(kind, payload);
        }
    }
}

/// The outbox journal as found on disk: replay never panics, and the live events it keeps,
/// written as compaction writes them, replay to the same events.
pub fn journal(data: &[u8]) {
    let loaded = crate::events::journal::replay(data);
    let written = crate::events::journal::records(loaded.events.iter());
    let again = crate::events::journal::replay(written.as_bytes());
    assert_eq!(again.skipped, 0, "{written:?}");
    assert_eq!(again.events, loaded.events);
}

/// A syslog or logread line: taken apart or not, never a panic.
pub fn syslog(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for year in [1970, 2026, 9999] {
        if let Some(line) = crate::ocserv::syslog::parse(text, year) {
            let _ = line.is_ocserv();
        }
    }
}

/// A metrics request head: the reply is one HTTP/1.1 response whose Content-Length is its
/// body's, and the metrics go only to `GET` / `HEAD` of `/metrics`.
pub fn metrics_http(data: &[u8]) {
    const BODY: &str = "ocserv_agent_up 1\n";
    let reply = crate::metrics::http::answer(data, &|| BODY.to_string());
    let text = String::from_utf8(reply).expect("replies are ASCII");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 "), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .expect("a number");
    let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let head_only = line.starts_with(b"HEAD ");
    if head.starts_with("HTTP/1.1 200 ") {
        assert!(line.starts_with(b"GET /metrics") || line.starts_with(b"HEAD /metrics"));
        assert_eq!(length, BODY.len());
        assert_eq!(body, if head_only { "" } else { BODY });
    } else {
        assert_eq!(length, body.len());
    }
}
