//! Just enough JSON for occtl's shapes: ordered keys, strings, numbers, lists of strings.

use std::fmt::Write;

/// One JSON value in occtl's vocabulary.
pub(super) enum Value {
    Str(String),
    Num(i64),
    List(Vec<String>),
}

pub(super) fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

/// A JSON string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object at two levels of indentation, as occtl lays it out inside its array.
pub(super) fn object(entries: &[(&str, Value)]) -> String {
    let mut out = String::from("  {\n");
    for (i, (key, value)) in entries.iter().enumerate() {
        let _ = write!(out, "    {}: ", quote(key));
        match value {
            Value::Str(v) => out.push_str(&quote(v)),
            Value::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(|i| quote(i)).collect();
                let _ = write!(out, "[{}]", items.join(", "));
            }
        }
        out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
    }
    out.push_str("  }");
    out
}

/// A JSON array of objects, one per line group.
pub(super) fn array(objects: Vec<String>) -> String {
    if objects.is_empty() {
        return "[\n]\n".to_string();
    }
    format!("[\n{}\n]\n", objects.join(",\n"))
}
