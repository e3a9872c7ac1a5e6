//! The gRPC services the agent serves to the portal. Each registers its methods on a router;
//! methods not registered are answered UNIMPLEMENTED by the server.

pub mod agent;
pub mod command;
pub mod config;
pub mod logs;
pub mod notify;
pub mod routes;
pub mod vpn;
