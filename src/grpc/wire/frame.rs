//! gRPC message framing: each message is a 1-byte compressed flag, a 4-byte big-endian length,
//! then the message. HTTP/2 DATA frames do not respect message boundaries (one message may span
//! many frames, one frame may carry several messages), so the decoder buffers across chunks.
//!
//! Limits are enforced from the header, before the body arrives: a peer announcing a 4 GiB
//! message is refused at once, not after we have buffered it.

use crate::grpc::wire::status::{Code, Status};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes before each message.
pub const PREFIX_LEN: usize = 5;

/// gRPC's customary default for the largest message accepted.
pub const DEFAULT_MAX_MESSAGE: usize = 4 << 20;

/// Appends one framed, uncompressed message to `out`.
pub fn encode(message: &[u8], out: &mut BytesMut) {
    out.reserve(PREFIX_LEN + message.len());
    out.put_u8(0);
    out.put_u32(message.len() as u32);
    out.put_slice(message);
}

/// Splits a byte stream into messages.
#[derive(Debug)]
pub struct Decoder {
    buffer: BytesMut,
    max_message: usize,
}

impl Decoder {
    /// A decoder that refuses messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            buffer: BytesMut::new(),
            max_message,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete message, `Ok(None)` if more bytes are needed, or the status to fail
    /// the call with.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Status> {
        if self.buffer.len() < PREFIX_LEN {
            return Ok(None);
        }
        let compressed = self.buffer[0];
        let len = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        match compressed {
            0 => {}
            1 => {
                return Err(Status::new(
                    Code::Unimplemented,
                    "compressed messages are not supported (grpc-encoding identity only)",
                ))
            }
            other => {
                return Err(Status::new(
                    Code::Internal,
                    format!("invalid compressed flag {other} in message prefix"),
                ))
            }
        }
        if len > self.max_message {
            return Err(Status::new(
                Code::ResourceExhausted,
                format!(
                    "message of {len} bytes exceeds the limit of {} bytes",
                    self.max_message
                ),
            ));
        }
        if self.buffer.len() < PREFIX_LEN + len {
            // No reserve from the announced length: memory follows the bytes that arrive, so a
            // peer announcing big messages on many streams cannot make us allocate up front.
            return Ok(None);
        }
        self.buffer.advance(PREFIX_LEN);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }

    /// Called at the end of the stream: leftover bytes mean a truncated message.
    pub fn finish(&self) -> Result<(), Status> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(Status::new(
                Code::Internal,
                format!(
                    "stream ended inside a message ({} bytes left over)",
                    self.buffer.len()
                ),
            ))
        }
    }

    /// The length the next message's prefix announces, once its prefix is here.
    pub fn announced(&self) -> Option<usize> {
        let prefix = self.buffer.get(1..PREFIX_LEN)?;
        Some(u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize)
    }

    /// Bytes buffered but not yet returned.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[&[u8]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for m in messages {
            encode(m, &mut out);
        }
        out.to_vec()
    }

    #[test]
    fn prefix_is_flag_then_big_endian_length() {
        assert_eq!(framed(&[b"hi"]), b"\x00\x00\x00\x00\x02hi");
        assert_eq!(framed(&[b""]), b"\x00\x00\x00\x00\x00");
        let big = vec![7u8; 0x0001_0203];
        assert_eq!(&framed(&[&big])[..5], b"\x00\x00\x01\x02\x03");
    }

    #[test]
    fn messages_split_across_chunks_and_sharing_chunks() {
        let bytes = framed(&[b"one", b"", b"three", &[9u8; 1000]]);
        // Every way of cutting the stream in two gives the same messages.
        for cut in 0..=bytes.len() {
            let mut d = Decoder::new(DEFAULT_MAX_MESSAGE);
            let mut got = Vec::new();
            for chunk in [&bytes[..cut], &bytes[cut..]] {
                d.push(chunk);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m.to_vec());
                }
            }
            assert_eq!(got.len(), 4, "cut at {cut}");
            assert_eq!(got[0], b"one");
            assert_eq!(got[1], b"");
            assert_eq!(got[3].len(), 1000);
            d.finish().unwrap();
        }
        // And byte by byte.
        let mut d = Decoder::new(DEFAULT_MAX_MESSAGE);
        let mut n = 0;
        for b in &bytes {
            d.push(std::slice::from_ref(b));
            while d.next_message().unwrap().is_some() {
                n += 1;
            }
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn oversized_messages_are_refused_from_the_header() {
        let mut d = Decoder::new(16);
        d.push(b"\x00\xff\xff\xff\xff");
        let e = d.next_message().unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        assert!(e
            .message
            .contains("4294967295 bytes exceeds the limit of 16"));
        let mut d = Decoder::new(16);
        d.push(&framed(&[&[0u8; 16]]));
        assert_eq!(d.next_message().unwrap().unwrap().len(), 16);
    }

    #[test]
    fn compressed_or_bad_flags_are_refused() {
        let mut d = Decoder::new(DEFAULT_MAX_MESSAGE);
        d.push(b"\x01\x00\x00\x00\x01x");
        assert_eq!(d.next_message().unwrap_err().code, Code::Unimplemented);
        let mut d = Decoder::new(DEFAULT_MAX_MESSAGE);
        d.push(b"\x02\x00\x00\x00\x01x");
        assert_eq!(d.next_message().unwrap_err().code, Code::Internal);
    }

    #[test]
    fn memory_follows_arrived_bytes_not_announced_lengths() {
        let mut d = Decoder::new(DEFAULT_MAX_MESSAGE);
        d.push(b"\x00\x00\x3f\xff\xffab"); // announces almost 4 MiB, sends 2 bytes
        assert_eq!(d.next_message().unwrap(), None);
        assert!(
            d.buffer.capacity() < 64 * 1024,
            "reserved {}",
            d.buffer.capacity()
        );
    }

    #[test]
    fn a_truncated_stream_is_an_error() {
        let mut d = Decoder::new(DEFAULT_MAX_MESSAGE);
        d.push(b"\x00\x00\x00\x00\x05abc");
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.finish().unwrap_err().code, Code::Internal);
        assert_eq!(d.buffered(), 8);
    }
}
