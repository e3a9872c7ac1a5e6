//! `VPNAgentService/UpdateUserRoutes`: writes the user's ocserv config file (`route`, `dns`
//! and allow-listed `config_params`) through `ocserv/conffile.rs`, keeping the file's other
//! lines, with a backup; with `reload_if_connected`, disconnects the user's live sessions so
//! that they reconnect (with their cookie) under the new routes. Allow-listed clients only.

use crate::config::Ocserv;
use crate::grpc::server::Router;
use crate::grpc::{Code, Status};
use crate::ocserv::conf::ctl_socket;
use crate::ocserv::conffile::{self, ConfError, Directive};
use crate::ocserv::ctl::{Client, DEFAULT_TIMEOUT};
use crate::proto::agent::v1::{UpdateUserRoutesRequest, UpdateUserRoutesResponse};
use crate::trace::{self, TraceParent};
use bytes::Bytes;
use prost::Message;
use std::rc::Rc;

pub const UPDATE_USER_ROUTES: &str = "/agent.v1.VPNAgentService/UpdateUserRoutes";

/// Registers the method; `ocserv` gives the `config ocserv` section in force.
pub fn register(router: &mut Router, ocserv: Rc<dyn Fn() -> Ocserv>) {
    router.unary(UPDATE_USER_ROUTES, move |call, message| {
        let settings = ocserv();
        async move {
            call.require_allowed()?;
            update_user_routes(&settings, &message, trace::incoming(&call.metadata)).await
        }
    });
}

fn invalid(e: ConfError) -> Status {
    Status::new(Code::InvalidArgument, e.to_string())
}

/// The file's new lines: its current ones minus what the request replaces, then the request's.
fn merged(
    current: Vec<Directive>,
    req: &UpdateUserRoutesRequest,
) -> Result<Vec<Directive>, Status> {
    let mut new = Vec::new();
    for r in &req.routes {
        new.push(conffile::directive("route", r).map_err(invalid)?);
    }
    for d in &req.dns_servers {
        new.push(conffile::directive("dns", d).map_err(invalid)?);
    }
    let mut params: Vec<(&String, &String)> = req.config_params.iter().collect();
    params.sort();
    for (k, v) in params {
        if k == "route" || k == "dns" {
            return Err(Status::new(
                Code::InvalidArgument,
                format!("'{k}' goes in the request's own list, not config_params"),
            ));
        }
        new.push(conffile::directive(k, v).map_err(invalid)?);
    }
    let replaced =
        |key: &str| key == "route" || key == "dns" || req.config_params.contains_key(key);
    let mut lines: Vec<Directive> = current.into_iter().filter(|d| !replaced(d.key)).collect();
    lines.extend(new);
    Ok(lines)
}

/// The RPC; `trace` is the caller's `traceparent`, continued in the log line.
pub async fn update_user_routes(
    settings: &Ocserv,
    message: &[u8],
    trace: Option<TraceParent>,
) -> Result<Bytes, Status> {
    let req = UpdateUserRoutesRequest::decode(message)
        .map_err(|e| Status::new(Code::Internal, format!("undecodable request: {e}")))?;
    conffile::check_name(&req.username).map_err(invalid)?;
    let path = settings.per_user_dir.join(&req.username);
    let current = match crate::fsutil::read_nofollow(&path).and_then(|b| {
        String::from_utf8(b)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
    }) {
        Ok(text) => conffile::parse(&text).map_err(|e| {
            Status::new(
                Code::FailedPrecondition,
                format!(
                    "{} has lines the agent may not keep ({e}); fix or remove it",
                    path.display()
                ),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(Status::new(
                Code::Unavailable,
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let lines = merged(current, &req)?;
    // Backup, temp file, fsync, rename: on the disk thread (flash can take a while).
    let (dir, name, text) = (
        settings.per_user_dir.clone(),
        req.username.clone(),
        conffile::render(&lines),
    );
    let (backup_dir, keep) = (settings.backup_dir.clone(), settings.backup_keep);
    let written = crate::offload::run(move || {
        let backup = conffile::Backup {
            dir: &backup_dir,
            keep,
        };
        conffile::replace(&dir, &name, &text, Some(backup))
    })
    .await
    .map_err(|busy| Status::new(Code::Unavailable, busy.to_string()))?
    .map_err(|e| Status::new(Code::Unavailable, e.to_string()))?;
    log::info!(
        "grpc: wrote {} ({} line(s){}){}",
        written.path.display(),
        lines.len(),
        written
            .backup
            .as_ref()
            .map_or_else(String::new, |b| format!(", backup {}", b.display())),
        trace::note(trace.map(|t| t.trace))
    );
    let mut reply = UpdateUserRoutesResponse {
        success: true,
        config_path: written.path.display().to_string(),
        user_reconnected: false,
        error_message: String::new(),
    };
    if req.reload_if_connected {
        // DISCONNECT, not TERMINATE: the client is meant to come back, under the new file.
        let client = Client::new(ctl_socket(settings), DEFAULT_TIMEOUT);
        match client.user_info(&req.username).await {
            Ok(list) if list.user.is_empty() => {}
            Ok(_) => match client.disconnect_user(&req.username).await {
                Ok(ok) => reply.user_reconnected = ok,
                Err(e) => reply.error_message = format!("written; could not disconnect: {e}"),
            },
            Err(e) => reply.error_message = format!("written; could not ask ocserv: {e}"),
        }
    }
    Ok(Bytes::from(reply.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(name: &str) -> Ocserv {
        crate::testutil::ocserv_under(&crate::testutil::fresh_dir(&format!("routes-{name}")))
    }

    fn request(user: &str, routes: &[&str], params: &[(&str, &str)]) -> Vec<u8> {
        UpdateUserRoutesRequest {
            username: user.into(),
            routes: routes.iter().map(|r| r.to_string()).collect(),
            dns_servers: vec!["10.50.0.53".into()],
            config_params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            reload_if_connected: false,
        }
        .encode_to_vec()
    }

    fn ask(s: &Ocserv, msg: &[u8]) -> Result<UpdateUserRoutesResponse, Status> {
        async_io::block_on(update_user_routes(s, msg, None))
            .map(|b| UpdateUserRoutesResponse::decode(b).unwrap())
    }

    #[test]
    fn routes_replace_routes_and_other_lines_stay() {
        let s = settings("merge");
        std::fs::write(
            s.per_user_dir.join("alice"),
            "route = 10.1.0.0/16\nidle-timeout = 600\ndns = 10.1.0.53\n",
        )
        .unwrap();
        let r = ask(&s, &request("alice", &["10.50.0.0/16"], &[("mtu", "1400")])).unwrap();
        assert!(r.success, "{}", r.error_message);
        let text = std::fs::read_to_string(s.per_user_dir.join("alice")).unwrap();
        assert!(text.contains("idle-timeout = 600\n"), "{text}");
        assert!(
            text.contains("route = 10.50.0.0/16\n") && !text.contains("10.1.0.0"),
            "{text}"
        );
        assert!(text.contains("dns = 10.50.0.53\nmtu = 1400\n"), "{text}");
        assert!(
            std::fs::read_dir(&s.backup_dir).unwrap().count() == 1,
            "one backup"
        );
    }

    #[test]
    fn bad_requests_write_nothing() {
        let s = settings("bad");
        for (user, routes, params, want) in [
            ("../etc", vec!["10.0.0.0/8"], vec![], "not a valid user"),
            ("alice", vec!["10.0.0.0/40"], vec![], "prefix length"),
            (
                "alice",
                vec![],
                vec![("connect-script", "/bin/sh")],
                "may not be set",
            ),
            ("alice", vec![], vec![("route", "10.0.0.0/8")], "own list"),
            (
                "alice",
                vec![],
                vec![("dpd", "90\nroute = 0.0.0.0/0")],
                "control characters",
            ),
        ] {
            let e = ask(&s, &request(user, &routes, &params)).unwrap_err();
            assert_eq!(
                e.code,
                Code::InvalidArgument,
                "{user} {routes:?} {params:?}"
            );
            assert!(e.message.contains(want), "{}", e.message);
        }
        assert_eq!(std::fs::read_dir(&s.per_user_dir).unwrap().count(), 0);
        // A hand-edited file with lines the agent may not write is not silently trimmed.
        std::fs::write(s.per_user_dir.join("bob"), "connect-script = /x\n").unwrap();
        let e = ask(&s, &request("bob", &["10.0.0.0/8"], &[])).unwrap_err();
        assert_eq!(e.code, Code::FailedPrecondition);
    }

    #[test]
    fn reload_if_connected_without_ocserv_writes_and_says_so() {
        let s = settings("reload");
        let mut req =
            UpdateUserRoutesRequest::decode(&request("carol", &["10.0.0.0/8"], &[])[..]).unwrap();
        req.reload_if_connected = true;
        let r = ask(&s, &req.encode_to_vec()).unwrap();
        assert!(r.success && !r.user_reconnected);
        assert!(
            r.error_message.starts_with("written; could not ask ocserv"),
            "{}",
            r.error_message
        );
    }
}
