#![no_main]
//! The strict JSON check against serde_json: see `ocserv_agent::fuzzing::json`.

use ocserv_agent::fuzzing::{json, Reference};
use serde_json::Value;

/// How far below the top the deepest value sits.
fn depth(v: &Value) -> usize {
    let deepest = |children: &mut dyn Iterator<Item = &Value>| children.map(depth).max();
    match v {
        Value::Array(a) => deepest(&mut a.iter()).map_or(0, |d| d + 1),
        Value::Object(o) => deepest(&mut o.values()).map_or(0, |d| d + 1),
        _ => 0,
    }
}

fn reference(text: &str) -> Reference {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Reference::Valid { depth: depth(&v) },
        Err(e) => {
            let why = e.to_string();
            // serde_json refuses a lone surrogate as "lone leading surrogate" or "unexpected
            // end of hex escape" (a leading one not followed by a \u escape).
            Reference::Invalid {
                out_of_range: why.contains("number out of range")
                    || why.contains("surrogate")
                    || why.contains("hex escape")
                    || why.contains("recursion limit"),
            }
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| json(data, Some(&reference)));
