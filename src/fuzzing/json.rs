//! The strict JSON check in front of nanoserde, against a reference parser.

use crate::ipc::frame::Kind;
use crate::ipc::messages::{Reply, Request};

/// What the reference parser (serde_json in the fuzz target) made of the text.
pub enum Reference {
    /// Valid JSON.
    Valid {
        /// How many levels below the top its deepest value sits (a scalar or an empty
        /// container alone is depth 0).
        depth: usize,
    },
    /// Not JSON by the reference's reading.
    Invalid {
        /// Only because a number does not fit an f64 or a `\u` escape is a lone surrogate,
        /// which RFC 8259's grammar allows (nanoserde is then handed them, and must only
        /// refuse them).
        out_of_range: bool,
    },
}

/// Nesting our check allows (the same as `crate::json`'s).
const MAX_DEPTH: usize = 8;

/// JSON text: the check agrees with the reference on what is JSON (but for nesting beyond
/// [`MAX_DEPTH`], which it refuses, and the out-of-range cases, which it passes on), and every
/// text it passes decodes into each type the agent reads JSON into without a panic.
pub fn json(data: &[u8], reference: Option<&dyn Fn(&str) -> Reference>) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = crate::json::check(text);
    match reference.map(|r| r(text)) {
        Some(Reference::Valid { depth }) => {
            assert_eq!(
                ours.is_ok(),
                depth <= MAX_DEPTH,
                "{text:?}: {ours:?}, depth {depth}"
            )
        }
        Some(Reference::Invalid { out_of_range }) => {
            assert!(ours.is_err() || out_of_range, "{text:?} passed the check")
        }
        None => {}
    }
    if ours.is_err() {
        return;
    }
    let _ = crate::json::decode::<crate::events::journal::Event>(text);
    let _ = crate::json::decode::<crate::ipc::messages::StatusReply>(text);
    let _ = crate::json::decode::<crate::ipc::messages::CacheClear>(text);
    let _ = Request::decode(Kind::EventRequest, data);
    let _ = Reply::decode(Kind::DecisionReply, data);
    let _ = Reply::decode(Kind::ErrorReply, data);
    let _ = crate::services::config::directives(text);
}
