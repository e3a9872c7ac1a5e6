//! W3C Trace Context (`traceparent`) without a tracing SDK: enough to follow one connect from
//! the router to the portal. A connect decision starts a trace; the CheckPolicy call, the
//! session's reports and its ValidateSession calls carry it as gRPC metadata `traceparent`
//! (each call a span of its own), and every log line about the decision or the session says
//! `trace=<id>`. An incoming gRPC call's `traceparent` is continued the same way.
//!
//! Format (version 00): `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, lowercase, ids
//! never all zero. A header that does not parse is ignored (a new trace starts), as the
//! specification asks.

use crate::grpc::{Metadata, Value};
use std::fmt;

/// The metadata key (and HTTP header) that carries the context.
pub const HEADER: &str = "traceparent";

/// One trace: every span of one connect (or of one incoming call) shares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(u128);

/// One call within a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanId(u64);

/// A parsed or made `traceparent`: the trace, the span that sent it, and whether the caller
/// records it (flag 01, "sampled").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace the call belongs to.
    pub trace: TraceId,
    /// The caller's span: the parent of whatever the receiver does for the call.
    pub span: SpanId,
    /// Flag 01: the caller records this trace (ours always do).
    pub sampled: bool,
}

/// Why a `traceparent` was not taken (the call goes on; its logs start a trace of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadTraceParent {
    /// Not `version-traceid-spanid-flags` with the lengths of version 00.
    Shape,
    /// A field that is not lowercase hex.
    NotHex,
    /// Version `ff`, which the specification forbids.
    Version,
    /// An all-zero trace or span id.
    ZeroId,
}

impl TraceId {
    /// A new trace: random, never all zero.
    pub fn random() -> TraceId {
        loop {
            let id = fastrand::u128(..);
            if id != 0 {
                return TraceId(id);
            }
        }
    }

    /// The 32 hex digits of a `trace=` log field or a journal record; `None` unless exactly
    /// that (lowercase) and not all zero.
    pub fn from_hex(text: &str) -> Option<TraceId> {
        Some(TraceId(hex_field(text.as_bytes(), 32).ok()?)).filter(|t| t.0 != 0)
    }
}

impl SpanId {
    /// A new span: random, never all zero.
    pub fn random() -> SpanId {
        loop {
            let id = fastrand::u64(..);
            if id != 0 {
                return SpanId(id);
            }
        }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two u64 halves: u128 formatting is code of its own on 32-bit targets.
        write!(f, "{:016x}{:016x}", (self.0 >> 64) as u64, self.0 as u64)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl TraceParent {
    /// A new span of `trace`, sampled: what each outgoing call sends.
    pub fn child_of(trace: TraceId) -> TraceParent {
        TraceParent {
            trace,
            span: SpanId::random(),
            sampled: true,
        }
    }

    /// Reads a header value. Versions above 00 are read as 00 (their first four fields), as
    /// the specification asks of a version-00 reader.
    pub fn parse(text: &str) -> Result<TraceParent, BadTraceParent> {
        let b = text.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return Err(BadTraceParent::Shape);
        }
        let version = hex_field(&b[0..2], 2)?;
        if version == 0xff {
            return Err(BadTraceParent::Version);
        }
        // Version 00 is exactly 55 bytes; a later version may add fields after a '-'.
        if (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return Err(BadTraceParent::Shape);
        }
        let trace = hex_field(&b[3..35], 32)?;
        let span = hex_field(&b[36..52], 16)?;
        let flags = hex_field(&b[53..55], 2)?;
        if trace == 0 || span == 0 {
            return Err(BadTraceParent::ZeroId);
        }
        Ok(TraceParent {
            trace: TraceId(trace),
            span: SpanId(span as u64),
            sampled: flags & 1 == 1,
        })
    }

    /// The header value, version 00.
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace,
            self.span,
            u8::from(self.sampled)
        )
    }
}

/// `text` as a number if it is exactly `len` lowercase hex digits (the specification's
/// `HEXDIGLC`); `len` ≤ 32. Bytes, not `str` slices: a multi-byte character must not land on
/// a slice boundary of outside text.
fn hex_field(text: &[u8], len: usize) -> Result<u128, BadTraceParent> {
    if text.len() != len {
        return Err(BadTraceParent::Shape);
    }
    let mut n: u128 = 0;
    for &c in text {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return Err(BadTraceParent::NotHex),
        };
        n = (n << 4) | u128::from(digit);
    }
    Ok(n)
}

/// The request metadata of an outgoing call in `trace`: `traceparent` with a new span (none
/// without a trace).
pub fn metadata(trace: Option<TraceId>) -> Metadata {
    let mut m = Metadata::new();
    if let Some(t) = trace {
        // Lowercase hex and dashes: always valid ASCII metadata.
        let _ = m.insert_ascii(HEADER, &TraceParent::child_of(t).header());
    }
    m
}

/// The trace an incoming call continues: its `traceparent`, when there is one that parses.
pub fn incoming(metadata: &Metadata) -> Option<TraceParent> {
    match metadata.get(HEADER)? {
        Value::Ascii(text) => TraceParent::parse(text).ok(),
        Value::Binary(_) => None,
    }
}

/// ` trace=<id>` for a log line, or nothing when there is no trace.
pub fn note(trace: Option<TraceId>) -> String {
    trace.map_or_else(String::new, |t| format!(" trace={t}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_example_round_trips() {
        let t = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(t.trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span.to_string(), "00f067aa0ba902b7");
        assert!(t.sampled);
        assert_eq!(t.header(), EXAMPLE);
        let unsampled = EXAMPLE.replace("-01", "-00");
        assert!(!TraceParent::parse(&unsampled).unwrap().sampled);
    }

    #[test]
    fn what_the_specification_refuses_is_refused() {
        use BadTraceParent::*;
        let cases = [
            ("", Shape),
            (&EXAMPLE[..54], Shape),
            (&format!("{EXAMPLE}-"), Shape),
            (&EXAMPLE.replace("4bf9", "4BF9"), NotHex),
            (&EXAMPLE.replace("00f0", "00g0"), NotHex),
            (&EXAMPLE.replacen("00-", "ff-", 1), Version),
            (&EXAMPLE.replace("-01", "-0x"), NotHex),
            (
                &EXAMPLE.replace("4bf92f3577b34da6a3ce929d0e0e4736", &"0".repeat(32)),
                ZeroId,
            ),
            (
                &EXAMPLE.replace("00f067aa0ba902b7", &"0".repeat(16)),
                ZeroId,
            ),
            (&EXAMPLE.replace('-', "_"), Shape),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\u{e9}",
                Shape,
            ),
            // Multi-byte characters across every field boundary: an error, never a panic.
            (&format!("\u{e9}{}", &EXAMPLE[2..]), NotHex),
            (&format!("0\u{e9}{}", &EXAMPLE[3..]), Shape),
        ];
        for (text, why) in cases {
            assert_eq!(TraceParent::parse(text), Err(why), "{text:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_00() {
        let later = format!("{}-extra", EXAMPLE.replacen("00-", "01-", 1));
        let t = TraceParent::parse(&later).unwrap();
        assert_eq!(t.trace, TraceParent::parse(EXAMPLE).unwrap().trace);
        assert_eq!(
            TraceParent::parse(&format!("{}x", EXAMPLE.replacen("00-", "01-", 1))),
            Err(BadTraceParent::Shape)
        );
    }

    #[test]
    fn new_ids_are_never_zero_and_spans_differ() {
        let trace = TraceId::random();
        let a = TraceParent::child_of(trace);
        let b = TraceParent::child_of(trace);
        assert_ne!(a.span, b.span);
        assert_eq!(TraceParent::parse(&a.header()), Ok(a));
        assert_eq!(TraceId::from_hex(&trace.to_string()), Some(trace));
        assert_eq!(TraceId::from_hex(&"0".repeat(32)), None);
        assert_eq!(TraceId::from_hex("abc"), None);
        assert_eq!(note(Some(trace)), format!(" trace={trace}"));
        assert_eq!(note(None), "");
    }

    #[test]
    fn calls_carry_a_new_span_of_the_trace_and_incoming_ones_are_read() {
        let trace = TraceId::random();
        let m = metadata(Some(trace));
        let sent = incoming(&m).unwrap();
        assert_eq!((sent.trace, sent.sampled), (trace, true));
        assert_ne!(incoming(&metadata(Some(trace))).unwrap().span, sent.span);
        assert!(metadata(None).is_empty());
        let mut bad = Metadata::new();
        bad.insert_ascii(HEADER, "00-zz").unwrap();
        assert_eq!(incoming(&bad), None);
    }
}
