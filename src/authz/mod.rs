//! Authorization of VPN sessions: the decision input and, as it grows, the decision itself.

pub mod request;
