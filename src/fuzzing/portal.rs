//! The portal's replies and the trace context it sends.

use crate::proto::vpn::v1::{CheckPolicyResponse, ValidateSessionResponse};
use crate::trace::TraceParent;
use prost::Message;

/// A CheckPolicy or ValidateSession reply: only an explicit allow admits (a reply that decodes,
/// `allowed`, and not `should_disconnect`), and only an explicit `valid` without
/// `force_disconnect` keeps a session up.
pub fn portal_reply(data: &[u8]) {
    let decoded = CheckPolicyResponse::decode(data).ok();
    match crate::portal::auth::answer(data) {
        Ok(answer) if answer.allowed => {
            let reply = decoded.expect("an allow from a reply that does not decode");
            assert!(reply.allowed && !reply.should_disconnect);
            assert!(!answer.revoke);
        }
        Ok(answer) => {
            let reply = decoded.expect("an answer from a reply that does not decode");
            assert!(!reply.allowed || reply.should_disconnect);
            assert_eq!(answer.revoke, reply.allowed && reply.should_disconnect);
        }
        Err(_) => assert!(decoded.is_none()),
    }
    let decoded = ValidateSessionResponse::decode(data).ok();
    match crate::portal::validate::judge(data) {
        Ok(None) => {
            let reply = decoded.expect("a verdict from a reply that does not decode");
            assert!(reply.valid && !reply.force_disconnect);
        }
        Ok(Some(reason)) => assert!(!reason.is_empty()),
        Err(_) => assert!(decoded.is_none()),
    }
}

/// A `traceparent` header: one that is taken is written back (lowercase, version 00) and read
/// again the same; its ids are never zero.
pub fn traceparent(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parent) = TraceParent::parse(text) else {
        return;
    };
    let header = parent.header();
    assert_eq!(header.len(), 55, "{header}");
    assert!(header.starts_with("00-"), "{header}");
    assert!(!header.bytes().any(|b| b.is_ascii_uppercase()), "{header}");
    assert_eq!(TraceParent::parse(&header), Ok(parent));
    assert!(!header.contains("-00000000000000000000000000000000-"));
    assert!(!header.contains("-0000000000000000-"));
}
