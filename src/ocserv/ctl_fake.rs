//! A scripted stand-in for ocserv's control socket, for unit tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;

/// Serves `path`: each connection that sends a request gets the next scripted reply
/// (`None`: closed without one, as an ocserv without the command does); a connection closed
/// before sending anything (a reachability probe) uses no reply. Returns the commands received.
pub fn scripted(path: &Path, replies: Vec<Option<(u8, Vec<u8>)>>) -> JoinHandle<Vec<u8>> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut replies = replies.into_iter();
        let mut next = replies.next();
        while let Some(reply) = next.take() {
            let (mut c, _) = listener.accept().unwrap();
            let mut h = [0u8; 5];
            if c.read_exact(&mut h).is_err() {
                next = Some(reply);
                continue;
            }
            let mut body = vec![0u8; u32::from_ne_bytes([h[1], h[2], h[3], h[4]]) as usize];
            c.read_exact(&mut body).unwrap();
            seen.push(h[0]);
            if let Some((cmd, payload)) = reply {
                let mut frame = vec![cmd];
                frame.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
                frame.extend_from_slice(&payload);
                c.write_all(&frame).unwrap();
            }
            next = replies.next();
        }
        seen
    })
}
