//! Custom metadata: the request and response headers that are not part of gRPC itself.
//!
//! Keys are lowercase `[0-9a-z-_.]`. Values are printable ASCII, except under keys ending in
//! `-bin`, which carry base64 (sent padded, accepted with or without padding).

use std::fmt;

/// A metadata value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A printable ASCII value.
    Ascii(String),
    /// A `-bin` key's value, base64 on the wire.
    Binary(Vec<u8>),
}

/// Ordered key/value pairs (a key may repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
}

/// A key or value that cannot be sent or was received malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMetadata(pub String);

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid metadata: {}", self.0)
    }
}

impl std::error::Error for InvalidMetadata {}

/// Headers that belong to HTTP/2 or gRPC, never to the application.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(':')
        || key.starts_with("grpc-")
        || matches!(key, "content-type" | "te" | "user-agent" | "content-length")
}

/// Whether `key` is a valid custom metadata key.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && !is_reserved(key)
        && key.bytes().all(|b| {
            b.is_ascii_digit() || b.is_ascii_lowercase() || matches!(b, b'-' | b'_' | b'.')
        })
}

impl Metadata {
    /// No entries.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Adds a printable-ASCII value.
    pub fn insert_ascii(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        if !is_valid_key(key) || key.ends_with("-bin") {
            return Err(InvalidMetadata(format!("key {key:?}")));
        }
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(InvalidMetadata(format!(
                "value of {key} is not printable ASCII"
            )));
        }
        self.entries
            .push((key.to_string(), Value::Ascii(value.to_string())));
        Ok(())
    }

    /// Adds a binary value; the key must end in `-bin`.
    pub fn insert_binary(&mut self, key: &str, value: &[u8]) -> Result<(), InvalidMetadata> {
        if !is_valid_key(key) || !key.ends_with("-bin") {
            return Err(InvalidMetadata(format!(
                "binary key {key:?} must end in -bin"
            )));
        }
        self.entries
            .push((key.to_string(), Value::Binary(value.to_vec())));
        Ok(())
    }

    /// The first value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads custom metadata from received headers (names already lowercase, as HTTP/2 has
    /// them), skipping reserved ones. A malformed `-bin` value is an error.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Metadata, InvalidMetadata> {
        let mut md = Metadata::new();
        for (key, value) in headers {
            if is_reserved(key) {
                continue;
            }
            let value = if key.ends_with("-bin") {
                Value::Binary(
                    base64_decode(value)
                        .ok_or_else(|| InvalidMetadata(format!("{key} is not valid base64")))?,
                )
            } else {
                Value::Ascii(String::from_utf8_lossy(value).into_owned())
            };
            md.entries.push((key.to_string(), value));
        }
        Ok(md)
    }

    /// The header values to send, `-bin` values base64-encoded.
    pub fn to_headers(&self) -> impl Iterator<Item = (&str, String)> {
        self.entries.iter().map(|(k, v)| {
            let text = match v {
                Value::Ascii(s) => s.clone(),
                Value::Binary(b) => base64_encode(b),
            };
            (k.as_str(), text)
        })
    }
}

impl Metadata {
    /// Appends these entries to outgoing headers. Entries are valid by construction, so
    /// nothing is dropped in practice; a pair HTTP rejects anyway is skipped, not fatal.
    pub fn write_headers(&self, headers: &mut http::HeaderMap) {
        for (key, value) in self.to_headers() {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(key.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                headers.append(k, v);
            }
        }
    }

    /// Custom metadata from received headers (see [`Metadata::from_headers`]).
    pub fn from_header_map(headers: &http::HeaderMap) -> Result<Metadata, InvalidMetadata> {
        Metadata::from_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padded or not; `None` on any other character or a bad length.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let text = match text.iter().position(|&b| b == b'=') {
        Some(pad) if text[pad..].iter().all(|&b| b == b'=') && text.len() % 4 == 0 => &text[..pad],
        Some(_) => return None,
        None => text,
    };
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), coded);
            assert_eq!(base64_decode(coded.as_bytes()).unwrap(), plain.as_bytes());
            let unpadded = coded.trim_end_matches('=');
            assert_eq!(
                base64_decode(unpadded.as_bytes()).unwrap(),
                plain.as_bytes()
            );
        }
        for bad in [&b"Zg="[..], b"Z", b"Zm9v!", b"Zg==Zg==", b"=Zg="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(base64_encode(&all).as_bytes()).unwrap(), all);
    }

    #[test]
    fn keys_and_values_are_validated() {
        let mut md = Metadata::new();
        md.insert_ascii("x-request-id", "abc 123").unwrap();
        md.insert_binary("trace-bin", &[0, 255]).unwrap();
        assert!(md.insert_ascii("X-Upper", "v").is_err());
        assert!(md.insert_ascii("grpc-timeout", "1S").is_err());
        assert!(md.insert_ascii("x", "line\nbreak").is_err());
        assert!(md.insert_ascii("x-bin", "v").is_err());
        assert!(md.insert_binary("x", b"v").is_err());
        let sent: Vec<(&str, String)> = md.to_headers().collect();
        assert_eq!(
            sent,
            [
                ("x-request-id", "abc 123".to_string()),
                ("trace-bin", "AP8=".to_string())
            ]
        );
    }

    #[test]
    fn received_headers_skip_reserved_ones_and_decode_bin() {
        let headers: Vec<(&str, &[u8])> = vec![
            (":path", b"/a.B/C"),
            ("content-type", b"application/grpc"),
            ("te", b"trailers"),
            ("grpc-timeout", b"1S"),
            ("user-agent", b"grpc-python"),
            ("x-id", b"7"),
            ("trace-bin", b"AP8"),
        ];
        let md = Metadata::from_headers(headers).unwrap();
        assert_eq!(md.len(), 2);
        assert_eq!(md.get("x-id"), Some(&Value::Ascii("7".into())));
        assert_eq!(md.get("trace-bin"), Some(&Value::Binary(vec![0, 255])));
        assert!(Metadata::from_headers([("x-bin", &b"!!"[..])]).is_err());
    }
}
