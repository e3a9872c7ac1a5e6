//! Message types of the gRPC packages, generated at build time from `proto/` (see build.rs).
//! The `.proto` files are the contract with the portal; these modules only mirror them.

/// `agent.v1`: served by the agent (AgentService, VPNAgentService).
pub mod agent {
    pub mod v1 {
        // Generated code: its style is prost's, not ours.
        #![allow(clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/agent.v1.rs"));
    }
}

/// `vpn.v1`: served by the portal (AuthService, EventService).
pub mod vpn {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/vpn.v1.rs"));
    }
}

/// `ocserv.ctl`: ocserv's control-socket messages (proto2, every field optional).
pub mod ocserv {
    pub mod ctl {
        #![allow(clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/ocserv.ctl.rs"));
    }
}

/// A protobuf `Timestamp` for a system time (times before 1970 become 1970).
/// A Timestamp for Unix seconds that came from outside (ocserv's `conn_time`, the journal):
/// never `UNIX_EPOCH + Duration`, which panics on overflow (and `panic = "abort"` would end
/// the daemon); values past the protobuf range (year 9999) are clamped to its end.
pub fn timestamp_secs(secs: u64) -> prost_types::Timestamp {
    const MAX: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    prost_types::Timestamp {
        seconds: secs.min(MAX) as i64,
        nanos: 0,
    }
}

pub fn timestamp(t: std::time::SystemTime) -> prost_types::Timestamp {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Field numbers are the wire contract: encode a message and check the tags by hand.
    #[test]
    fn check_policy_request_uses_the_portal_field_numbers() {
        let req = vpn::v1::CheckPolicyRequest {
            username: "alice".into(),
            groupname: "eng".into(),
            client_ip: "192.0.2.1".into(),
            vpn_ip: "10.0.0.2".into(),
            session_id: "15202".into(),
            device: "vpns0".into(),
            request_time: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
        };
        let bytes = req.encode_to_vec();
        // (field << 3) | wire type 2 (length-delimited) for fields 1..=7.
        for tag in [0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x32, 0x3a] {
            assert!(bytes.contains(&tag), "tag {tag:#x} missing in {bytes:02x?}");
        }
        assert_eq!(&bytes[..7], b"\x0a\x05alice");
        assert_eq!(
            vpn::v1::CheckPolicyRequest::decode(&bytes[..]).unwrap(),
            req
        );
    }

    #[test]
    fn oneof_payloads_keep_their_numbers() {
        let msg = agent::v1::ServerMessage {
            request_id: "r1".into(),
            payload: Some(agent::v1::server_message::Payload::Command(
                agent::v1::CommandInstruction {
                    command_type: "occtl".into(),
                    args: vec!["show".into(), "users".into()],
                    timeout_seconds: 5,
                },
            )),
        };
        let bytes = msg.encode_to_vec();
        // request_id = 1, then command = 10 (0x52: 10 << 3 | 2).
        assert_eq!(&bytes[..4], b"\x0a\x02r1");
        assert_eq!(bytes[4], 0x52);
        let hb = agent::v1::AgentMessage {
            agent_id: String::new(),
            timestamp: None,
            payload: Some(agent::v1::agent_message::Payload::Heartbeat(
                agent::v1::Heartbeat::default(),
            )),
        };
        assert_eq!(hb.encode_to_vec(), b"\x52\x00", "heartbeat = 10");
    }

    #[test]
    fn enums_have_the_portal_values() {
        assert_eq!(agent::v1::ConfigType::PerGroup as i32, 3);
        assert_eq!(vpn::v1::DisconnectReason::ConnectionError as i32, 8);
        assert_eq!(vpn::v1::SessionStatus::Degraded as i32, 3);
        assert_eq!(agent::v1::AgentStatus::Unhealthy as i32, 3);
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        let mut state = 0x1234_5678u32;
        for _ in 0..5000 {
            let bytes: Vec<u8> = (0..(state % 64))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = agent::v1::ServerMessage::decode(&bytes[..]);
            let _ = vpn::v1::CheckPolicyResponse::decode(&bytes[..]);
        }
    }
}
