//! Strict JSON checking in front of nanoserde.
//!
//! nanoserde's decoder panics on some malformed input (skipping an unknown field whose value
//! is not a value reaches a macro that panics), and under `panic = "abort"` that would end the
//! daemon. Everything that
//! decodes JSON from outside (the hook socket, the outbox journal on disk, config content sent by
//! the portal) goes through [`decode`], which first checks the text against RFC 8259 with a
//! nesting limit; given valid JSON, nanoserde only returns errors. nanoserde also skips unknown
//! fields silently: [`object_keys`] lets a caller refuse them by name instead.

use nanoserde::DeJson;
use std::fmt;

/// Why JSON from outside was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not RFC 8259 JSON, or nested deeper than we read: what, and at which byte.
    Syntax { why: &'static str, at: usize },
    /// Valid JSON of another shape than expected (nanoserde's words).
    Shape(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax { why, at } => write!(f, "{why} at byte {at}"),
            JsonError::Shape(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for JsonError {}

/// JSON nesting allowed (the top level is depth 0); nothing we read goes deeper than 3.
const MAX_DEPTH: usize = 8;

/// Checks `text`, then decodes it. Errors say what was wrong.
pub fn decode<T: DeJson>(text: &str) -> Result<T, JsonError> {
    check(text)?;
    T::deserialize_json(text).map_err(|e| JsonError::Shape(e.to_string()))
}

/// Checks `text` and returns the keys of its top-level object (empty for other values), as
/// written: a key with escapes in it is returned undecoded, and so matches no plain name.
pub fn object_keys(text: &str) -> Result<Vec<&str>, JsonError> {
    let mut c = JsonCheck {
        bytes: text.as_bytes(),
        pos: 0,
        keys: Vec::new(),
    };
    c.document()
        .map_err(|why| JsonError::Syntax { why, at: c.pos })?;
    Ok(c.keys)
}

/// Checks that `text` is one valid JSON value of bounded depth.
pub fn check(text: &str) -> Result<(), JsonError> {
    object_keys(text).map(|_| ())
}

/// A strict JSON syntax check (RFC 8259) with a nesting limit; it builds nothing.
struct JsonCheck<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The keys of the top-level object, as written (escapes not decoded).
    keys: Vec<&'a str>,
}

impl<'a> JsonCheck<'a> {
    fn document(&mut self) -> Result<(), &'static str> {
        self.value(0)?;
        self.space();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err("trailing data after JSON value")
        }
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn value(&mut self, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.space();
        match self.peek() {
            Some(b'{') => self.container(depth, b'}', true),
            Some(b'[') => self.container(depth, b']', false),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            _ => Err("expected a JSON value"),
        }
    }

    fn container(&mut self, depth: usize, close: u8, object: bool) -> Result<(), &'static str> {
        self.pos += 1;
        self.space();
        if self.eat(close) {
            return Ok(());
        }
        loop {
            if object {
                self.space();
                if self.peek() != Some(b'"') {
                    return Err("expected a string key");
                }
                let start = self.pos + 1;
                self.string()?;
                if depth == 0 {
                    // Between two quotes of valid UTF-8 input: still valid UTF-8.
                    let key = std::str::from_utf8(&self.bytes[start..self.pos - 1]).unwrap_or("");
                    self.keys.push(key);
                }
                self.space();
                if !self.eat(b':') {
                    return Err("expected ':'");
                }
            }
            self.value(depth + 1)?;
            self.space();
            if self.eat(close) {
                return Ok(());
            }
            if !self.eat(b',') {
                return Err("expected ',' or a closing bracket");
            }
        }
    }

    fn string(&mut self) -> Result<(), &'static str> {
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err("bad \\u escape");
                            }
                            self.pos += 5;
                        }
                        _ => return Err("bad escape"),
                    }
                }
                Some(0..=0x1f) => return Err("control character in string"),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn number(&mut self) -> Result<(), &'static str> {
        self.eat(b'-');
        let digits = |c: &mut Self| {
            let start = c.pos;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.pos += 1;
            }
            c.pos - start
        };
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err("bad number"),
        }
        if self.eat(b'.') && digits(self) == 0 {
            return Err("bad number");
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if digits(self) == 0 {
                return Err("bad number");
            }
        }
        Ok(())
    }

    fn word(&mut self, word: &[u8]) -> Result<(), &'static str> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err("expected a JSON value")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_check_accepts_valid_json() {
        for good in [
            "{}",
            "[]",
            " {\"a\" : [1, -2.5e+3, 0, true, false, null, \"x\\\"\\u00e9\"], \"b\":{}} ",
            "\"s\"",
            "0.5",
            "-0",
            "1E9",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn json_check_refuses_invalid_json() {
        for bad in [
            "",
            "{",
            "}",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a\nb\"",
            "{} {}",
            "[1 2]",
            "{\"a\":1,}",
            "{:1}",
        ] {
            assert!(check(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        assert_eq!(
            check(&format!("{}{}", "[".repeat(9), "]".repeat(9))),
            Ok(())
        );
        assert!(check(&format!("{}{}", "[".repeat(10), "]".repeat(10))).is_err());
        assert!(check(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn top_level_keys_are_listed_and_errors_say_where() {
        let keys = object_keys(r#"{"routes": ["a"], "x\u0041": {"inner": 1}, "dns": []}"#);
        assert_eq!(keys.unwrap(), ["routes", "x\\u0041", "dns"]);
        assert_eq!(object_keys("[1]").unwrap(), Vec::<&str>::new());
        assert_eq!(
            object_keys(r#"{"a": ]"#).unwrap_err().to_string(),
            "expected a JSON value at byte 6"
        );
    }

    /// The input that makes nanoserde panic is refused before it gets there.
    #[test]
    fn an_unknown_key_with_a_malformed_value_is_an_error_not_a_panic() {
        #[derive(DeJson, Debug)]
        struct Known {
            #[nserde(default)]
            a: u32,
        }
        let err = decode::<Known>(r#"{"unknown": }"#).unwrap_err().to_string();
        assert!(err.contains("expected a JSON value"), "{err}");
        assert_eq!(
            decode::<Known>(r#"{"unknown": [1, {}], "a": 7}"#)
                .unwrap()
                .a,
            7
        );
    }
}
