//! gRPC status codes and messages, and how transport failures map onto them.
//!
//! `grpc-message` travels percent-encoded: bytes outside 0x20–0x7E, and `%` itself, become
//! `%XX`. Decoding is lenient (a malformed escape is kept as text), because a status message is
//! for people and must never turn into a second error.

use std::fmt;

/// The status codes of gRPC's status-code document, by their numbers there (each variant is
/// the document's, so it is not described again here).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

const ALL: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code for a number; numbers gRPC does not define are `Unknown`, as the spec says.
    pub fn from_number(n: u32) -> Code {
        ALL.get(n as usize).copied().unwrap_or(Code::Unknown)
    }

    /// Parses a `grpc-status` header value (decimal).
    pub fn from_header(value: &[u8]) -> Option<Code> {
        let text = std::str::from_utf8(value).ok()?;
        if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().map(Code::from_number)
    }

    /// The code's number on the wire (`grpc-status`).
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The code's name, as gRPC spells it (`PERMISSION_DENIED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The code for an HTTP/2 RST_STREAM or GOAWAY error code, per gRPC's HTTP/2 mapping.
    pub fn from_reset(h2_error_code: u32) -> Code {
        match h2_error_code {
            0x8 => Code::Cancelled,         // CANCEL
            0x7 => Code::Unavailable,       // REFUSED_STREAM
            0xb => Code::ResourceExhausted, // ENHANCE_YOUR_CALM
            0xc => Code::PermissionDenied,  // INADEQUATE_SECURITY
            _ => Code::Internal,
        }
    }

    /// The code for a response that is not gRPC at all (no grpc-status), by its HTTP status.
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call's outcome: a code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// What kind of outcome.
    pub code: Code,
    /// Words for a person (`grpc-message`).
    pub message: String,
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    /// Success.
    pub fn ok() -> Status {
        Status::new(Code::Ok, "")
    }

    /// Whether this is success.
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// From received `grpc-status` and `grpc-message` header values.
    pub fn from_trailers(status: &[u8], message: Option<&[u8]>) -> Status {
        match Code::from_header(status) {
            Some(code) => Status::new(code, message.map(decode_message).unwrap_or_default()),
            None => Status::new(
                Code::Unknown,
                format!(
                    "malformed grpc-status {:?}",
                    String::from_utf8_lossy(status)
                ),
            ),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

/// Percent-encodes a message for the `grpc-message` trailer.
pub fn encode_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes a `grpc-message` value; malformed escapes are kept as they are.
pub fn decode_message(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' && i + 2 < value.len() {
            if let (Some(h), Some(l)) = (hex_value(value[i + 1]), hex_value(value[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(value[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_numbers_are_unknown() {
        for (n, code) in ALL.iter().enumerate() {
            assert_eq!(Code::from_number(n as u32), *code);
            assert_eq!(code.number(), n as u32);
        }
        assert_eq!(Code::from_number(17), Code::Unknown);
        assert_eq!(Code::from_number(u32::MAX), Code::Unknown);
    }

    #[test]
    fn grpc_status_header_parsing() {
        assert_eq!(Code::from_header(b"0"), Some(Code::Ok));
        assert_eq!(Code::from_header(b"14"), Some(Code::Unavailable));
        assert_eq!(Code::from_header(b"99"), Some(Code::Unknown));
        for bad in [&b""[..], b"-1", b" 1", b"1a", b"1234", b"\xff"] {
            assert_eq!(Code::from_header(bad), None, "{bad:?}");
        }
        let s = Status::from_trailers(b"x", None);
        assert_eq!(s.code, Code::Unknown);
        assert!(s.message.contains("malformed"));
    }

    #[test]
    fn messages_are_percent_encoded_and_decoded() {
        assert_eq!(encode_message("plain text"), "plain text");
        assert_eq!(encode_message("100%"), "100%25");
        assert_eq!(encode_message("a\nb"), "a%0Ab");
        assert_eq!(encode_message("über"), "%C3%BCber");
        for text in ["", "plain", "100% sure\n", "über ✓", "%%%"] {
            assert_eq!(decode_message(encode_message(text).as_bytes()), text);
        }
        // tonic percent-encodes spaces; accept it.
        assert_eq!(decode_message(b"a%20b"), "a b");
        // Malformed escapes stay as text.
        assert_eq!(decode_message(b"50%"), "50%");
        assert_eq!(decode_message(b"%zz%4"), "%zz%4");
        assert_eq!(decode_message(b"%C3"), "\u{fffd}");
    }

    #[test]
    fn transport_failures_map_as_grpc_says() {
        assert_eq!(Code::from_reset(0x8), Code::Cancelled);
        assert_eq!(Code::from_reset(0x7), Code::Unavailable);
        assert_eq!(Code::from_reset(0xb), Code::ResourceExhausted);
        assert_eq!(Code::from_reset(0xc), Code::PermissionDenied);
        assert_eq!(Code::from_reset(0x2), Code::Internal);
        assert_eq!(Code::from_http_status(404), Code::Unimplemented);
        assert_eq!(Code::from_http_status(503), Code::Unavailable);
        assert_eq!(Code::from_http_status(401), Code::Unauthenticated);
        assert_eq!(Code::from_http_status(500), Code::Unknown);
    }

    #[test]
    fn display_reads_well() {
        assert_eq!(
            Status::new(Code::NotFound, "no user bob").to_string(),
            "NOT_FOUND: no user bob"
        );
        assert_eq!(Status::ok().to_string(), "OK");
    }
}
