//! What the portal orders over the control stream, run through the same code as the unary
//! RPCs, each answered with an EventNotification that carries its `request_id`.
//!
//! A `request_id` runs at most once: after a reconnect the portal may send an order again
//! because it never saw the answer, so a repeat gets the first run's answer again instead of a
//! second run (a second `disconnect` or config write would not be harmless).

use crate::authz::Revoke;
use crate::config::Ocserv;
use crate::grpc::Status;
use crate::ocserv::ctl::{Client, DEFAULT_TIMEOUT};
use crate::proto::agent::v1::{
    server_message::Payload, CommandRequest, ConfigUpdate, ConfigUpdateRequest, ControlAction,
    DisconnectUserRequest, DisconnectUserResponse, EventNotification, ServerMessage,
};
use crate::services::command::Setup;
use prost::Message;
use std::collections::{HashMap, VecDeque};

/// Answers remembered for repeats; a portal repeats recent orders, not old ones.
const REMEMBERED: usize = 64;

/// The longest output sent back in one answer; occtl's output for a busy server fits.
const MAX_OUTPUT: usize = 64 * 1024;

/// What running an order needs from the configuration in force.
pub struct Handlers {
    pub command: Setup,
    pub ocserv: Ocserv,
    /// Drops cached decisions (`disconnect_user`, `invalidate_cache`).
    pub revoke: Revoke,
}

/// The answers of recent orders, by `request_id`, oldest first.
#[derive(Default)]
pub struct Seen {
    order: VecDeque<String>,
    answers: HashMap<String, EventNotification>,
}

impl Seen {
    fn get(&self, id: &str) -> Option<&EventNotification> {
        self.answers.get(id)
    }

    fn remember(&mut self, id: &str, answer: &EventNotification) {
        if id.is_empty() {
            return; // nothing to recognise a repeat by
        }
        if self.order.len() == REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
        self.order.push_back(id.to_string());
        self.answers.insert(id.to_string(), answer.clone());
    }
}

/// Runs `message` (or recalls its answer) and returns the answer to send.
pub async fn answer(
    message: ServerMessage,
    seen: &mut Seen,
    handlers: &Handlers,
) -> EventNotification {
    let id = message.request_id.clone();
    if let Some(earlier) = seen.get(&id) {
        log::info!("control: request {id} already ran; sending its answer again");
        return earlier.clone();
    }
    let answer = run(message, handlers).await;
    seen.remember(&id, &answer);
    answer
}

async fn run(message: ServerMessage, handlers: &Handlers) -> EventNotification {
    let id = message.request_id;
    match message.payload {
        Some(Payload::Command(c)) => {
            let req = CommandRequest {
                request_id: id.clone(),
                command_type: c.command_type,
                args: c.args,
                timeout_seconds: c.timeout_seconds,
            };
            match crate::services::command::run(&handlers.command, req, None).await {
                Ok(r) => result(
                    "command_result",
                    &id,
                    r.success,
                    r.stdout,
                    &[
                        ("exit_code", r.exit_code.to_string()),
                        ("error", r.error_message),
                    ],
                ),
                Err(status) => refused("command_result", &id, &status),
            }
        }
        Some(Payload::ConfigUpdate(c)) => config(&id, c, handlers).await,
        Some(Payload::Action(a)) => action(&id, a, handlers).await,
        None => result(
            "error",
            &id,
            false,
            String::new(),
            &[("error", "a ServerMessage without an order".into())],
        ),
    }
}

async fn config(id: &str, c: ConfigUpdate, handlers: &Handlers) -> EventNotification {
    let req = ConfigUpdateRequest {
        request_id: id.to_string(),
        config_type: c.config_type,
        config_name: c.config_name,
        config_content: c.config_content,
        validate_only: c.validate_only,
        create_backup: c.create_backup,
    };
    match crate::services::config::update_config(&handlers.ocserv, req, None).await {
        Ok(r) => result(
            "config_result",
            id,
            r.success,
            r.validation_result,
            &[("backup_path", r.backup_path), ("error", r.error_message)],
        ),
        Err(status) => refused("config_result", id, &status),
    }
}

/// Actions: `reload` (ocserv rereads its configuration), `disconnect_user` (parameters
/// `username`, optional `all` = `true`/`false`, default all sessions; the user's cached
/// decisions are dropped too) and `invalidate_cache` (optional `username`; without it every
/// cached decision is dropped), so that the next connect is put to the portal.
async fn action(id: &str, a: ControlAction, handlers: &Handlers) -> EventNotification {
    let client = Client::new(
        crate::ocserv::conf::ctl_socket(&handlers.ocserv),
        DEFAULT_TIMEOUT,
    );
    let done = |ok: bool, text: String| result("action_result", id, ok, text, &[]);
    match a.action_type.as_str() {
        "reload" => match client.reload().await {
            Ok(true) => done(true, "ocserv is reloading its configuration".into()),
            Ok(false) => done(false, "ocserv refused to reload".into()),
            Err(e) => done(false, format!("cannot reload ocserv: {e}")),
        },
        "disconnect_user" => {
            let all = match a.parameters.get("all").map(String::as_str) {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => {
                    return done(
                        false,
                        format!("all = '{}': not true or false", other.escape_default()),
                    )
                }
            };
            let req = DisconnectUserRequest {
                username: a.parameters.get("username").cloned().unwrap_or_default(),
                reason: a.parameters.get("reason").cloned().unwrap_or_default(),
                disconnect_all_sessions: all,
            };
            match crate::services::vpn::disconnect_user(
                &client,
                &req.encode_to_vec(),
                &handlers.revoke,
                None,
            )
            .await
            {
                Ok(bytes) => match DisconnectUserResponse::decode(bytes) {
                    Ok(r) => result(
                        "action_result",
                        id,
                        r.success,
                        format!("{} session(s) disconnected", r.sessions_disconnected),
                        &[("error", r.error_message)],
                    ),
                    Err(e) => done(false, format!("internal: {e}")),
                },
                Err(status) => refused("action_result", id, &status),
            }
        }
        "invalidate_cache" => match a.parameters.get("username").map(String::as_str) {
            None | Some("") => {
                let n = (handlers.revoke)(None);
                done(true, format!("dropped all {n} cached decision(s)"))
            }
            Some(user) => {
                if let Err(status) = crate::services::vpn::check_username(user) {
                    return refused("action_result", id, &status);
                }
                let n = (handlers.revoke)(Some(user));
                done(true, format!("dropped {n} cached decision(s) of '{user}'"))
            }
        },
        other => done(
            false,
            format!(
                "unknown action '{}' (known: reload, disconnect_user, invalidate_cache)",
                other.escape_default()
            ),
        ),
    }
}

/// An order that could not run: the status the unary RPC would have returned.
fn refused(kind: &str, id: &str, status: &Status) -> EventNotification {
    result(
        kind,
        id,
        false,
        String::new(),
        &[
            ("error", status.message.clone()),
            ("code", status.code.as_str().to_string()),
        ],
    )
}

fn result(
    kind: &str,
    id: &str,
    success: bool,
    mut output: String,
    extra: &[(&str, String)],
) -> EventNotification {
    if output.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
        output.push_str("\n[output truncated]\n");
    }
    let mut metadata = HashMap::new();
    metadata.insert("request_id".to_string(), id.to_string());
    metadata.insert("success".to_string(), success.to_string());
    for (k, v) in extra {
        if !v.is_empty() {
            metadata.insert(k.to_string(), v.clone());
        }
    }
    EventNotification {
        event_type: kind.to_string(),
        message: output,
        metadata,
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
