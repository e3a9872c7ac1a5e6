//! `AgentService/ExecuteCommand`: occtl's commands for the portal, run natively through the
//! same code as `ocserv-agent occtl` (so `stdout` is what occtl would print and `exit_code` is
//! occtl's). Only `command_type` `occtl`, only verbs on `grpc.allowed_command`, arguments
//! checked (no shell metacharacters, no leading `-`, bounded); nothing reaches a shell.
//! Allow-listed clients only: several verbs disconnect users.

use crate::grpc::server::Router;
use crate::grpc::{Code, Status};
use crate::ocserv::ctl::Client;
use crate::ocserv::occtl_cmd::{execute, parse, verb, FAILED};
use crate::proto::agent::v1::{CommandRequest, CommandResponse};
use crate::trace::{self, TraceParent};
use bytes::Bytes;
use prost::Message;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

pub const EXECUTE_COMMAND: &str = "/agent.v1.AgentService/ExecuteCommand";

/// Longest `timeout_seconds` honoured.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// When the request gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a command needs from the configuration in force.
pub struct Setup {
    pub ctl_socket: PathBuf,
    pub allowed: Vec<String>,
}

pub fn register(router: &mut Router, setup: Rc<dyn Fn() -> Setup>) {
    router.unary(EXECUTE_COMMAND, move |call, message| {
        let setup = setup();
        async move {
            call.require_allowed()?;
            execute_command(&setup, &message, trace::incoming(&call.metadata)).await
        }
    });
}

/// The unary RPC; `trace` is the caller's `traceparent`, continued in the log line.
pub async fn execute_command(
    setup: &Setup,
    message: &[u8],
    trace: Option<TraceParent>,
) -> Result<Bytes, Status> {
    let req = CommandRequest::decode(message)
        .map_err(|e| Status::new(Code::Internal, format!("undecodable CommandRequest: {e}")))?;
    Ok(Bytes::from(run(setup, req, trace).await?.encode_to_vec()))
}

/// Checks and runs one command (for the unary RPC and the control stream alike); a request
/// that may not run is an error status, a command that ran and failed is a reply.
pub async fn run(
    setup: &Setup,
    req: CommandRequest,
    trace: Option<TraceParent>,
) -> Result<CommandResponse, Status> {
    if req.command_type != "occtl" {
        return Err(Status::new(
            Code::InvalidArgument,
            format!(
                "command_type '{}' is not supported; use occtl",
                req.command_type.escape_default()
            ),
        ));
    }
    if req.args.len() > 4 || req.args.iter().any(|a| a.len() > 256) {
        return Err(Status::new(
            Code::InvalidArgument,
            "too many or too long arguments",
        ));
    }
    let request =
        parse(&req.args).map_err(|e| Status::new(Code::InvalidArgument, e.to_string()))?;
    if !setup.allowed.iter().any(|v| v == verb(&request)) {
        return Err(Status::new(
            Code::PermissionDenied,
            format!("'{}' is not on grpc.allowed_command", verb(&request)),
        ));
    }
    let timeout = match req.timeout_seconds {
        n if n > 0 => Duration::from_secs(n as u64).min(MAX_TIMEOUT),
        _ => DEFAULT_TIMEOUT,
    };
    let client = Client::new(&setup.ctl_socket, timeout);
    let (stdout, stderr, exit_code) = match execute(&client, &request, false).await {
        Ok((out, code)) => (out, String::new(), code),
        Err(e) => (String::new(), format!("{e}\n"), FAILED),
    };
    log::info!(
        "command: occtl {} -> exit {exit_code}{}",
        req.args.join(" "),
        trace::note(trace.map(|t| t.trace))
    );
    Ok(CommandResponse {
        request_id: req.request_id,
        success: exit_code == 0,
        stdout,
        error_message: stderr.trim_end().to_string(),
        stderr,
        exit_code: i32::from(exit_code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::occtl_verbs::VERBS;

    fn setup(allowed: &[&str]) -> Setup {
        Setup {
            ctl_socket: PathBuf::from("/nonexistent/occtl.socket"),
            allowed: allowed.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn run(s: &Setup, kind: &str, args: &[&str]) -> Result<CommandResponse, Status> {
        let msg = CommandRequest {
            request_id: "r1".into(),
            command_type: kind.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            timeout_seconds: 1,
        }
        .encode_to_vec();
        async_io::block_on(execute_command(s, &msg, None))
            .map(|b| CommandResponse::decode(b).unwrap())
    }

    #[test]
    fn injection_attempts_are_refused_before_anything_runs() {
        let all = setup(VERBS);
        for args in [
            &["show", "user", "alice;reboot"][..],
            &["show", "user", "$(reboot)"],
            &["disconnect", "user", "`id`"],
            &["show", "id", "1 || true"],
            &["unban", "ip", "10.0.0.1;rm"],
            &["show", "user", "--help"],
            &["show", "users", "extra"],
            &["sh", "-c", "reboot"],
        ] {
            let e = run(&all, "occtl", args).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{args:?}");
        }
        let e = run(&all, "shell", &["ls"]).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
    }

    #[test]
    fn only_allowed_verbs_run_and_failures_carry_occtls_exit_code() {
        let read_only = setup(&["show users", "show status"]);
        let e = run(&read_only, "occtl", &["disconnect", "user", "alice"]).unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied);
        assert!(e.message.contains("'disconnect user'"), "{}", e.message);
        // Allowed, but ocserv is not there: a real run that failed, as occtl would.
        let r = run(&read_only, "occtl", &["show", "users"]).unwrap();
        assert_eq!(
            (r.success, r.exit_code, r.request_id.as_str()),
            (false, 1, "r1")
        );
        assert!(
            r.stderr
                .contains("cannot connect to ocserv's control socket"),
            "{}",
            r.stderr
        );
    }
}
