//! The gRPC services the agent serves to the portal. Each registers its methods on a router;
//! methods not registered are answered UNIMPLEMENTED by the server. HealthCheck (agent.rs),
//! ExecuteCommand (command.rs), UpdateConfig (config.rs), StreamLogs (logs.rs), NotifyConnect
//! and NotifyDisconnect (notify.rs), UpdateUserRoutes (routes.rs), GetActiveSessions and
//! DisconnectUser (vpn.rs).

pub mod agent;
pub mod command;
pub mod config;
pub mod logs;
pub mod notify;
pub mod routes;
pub mod vpn;
