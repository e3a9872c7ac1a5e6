//! occtl's verbs that the agent runs natively. `grpc.allowed_command` names them (config checks
//! a list against this one) and ExecuteCommand runs them ([`crate::ocserv::occtl_cmd`]); the
//! list sits below both so that neither depends on the other.

/// Every verb, in `USAGE` order.
pub const VERBS: &[&str] = &[
    "show users",
    "show status",
    "show user",
    "show id",
    "show ip bans",
    "disconnect user",
    "disconnect id",
    "unban ip",
    "reload",
];
