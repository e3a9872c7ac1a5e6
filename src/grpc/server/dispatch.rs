//! One server stream from request headers to final status: validate the request (method,
//! content type, encoding, path, deadline, metadata), run the handler against the deadline, the
//! client's reset and (for streams) server shutdown, and close the call.
//!
//! Whatever ends the call first wins; the handler's future is then dropped, which is how a
//! reset or an expired deadline cancels it.

use super::settings::{Settings, Shutdown};
use crate::grpc::server::reply::ReplyMetadata;
use crate::grpc::server::reply::{send_http_error, send_status, Reply, Requests, Responses};
use crate::grpc::server::router::{Access, Call, Method, Router};
use crate::grpc::transport::x509::Identities;
use crate::grpc::wire::body::Incoming;
use crate::grpc::wire::budget::Share;
use crate::grpc::wire::metadata::Metadata;
use crate::grpc::wire::status::{Code, Status};
use async_io::Timer;
use bytes::Bytes;
use futures_lite::future;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, Request, StatusCode};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

/// Who is calling, on which connection.
pub(crate) struct Peer {
    pub identities: Rc<Identities>,
    /// On `grpc.allowed_client` as it is in force now (a reload updates it).
    pub allowed: Cell<bool>,
}

/// How a call ended, when not by its handler.
enum End {
    Handler,
    Status(Status),
    /// The client reset the stream: nothing more to send.
    Reset,
}

/// What a stream is served with: its connection's router, settings in force, share of the
/// request budget, shutdown signal and peer.
pub(crate) type Context<'a> = (
    &'a Router,
    &'a Settings,
    &'a Rc<Share>,
    &'a Shutdown,
    &'a Peer,
);

/// The largest request message a caller not on `grpc.allowed_client` may send: the methods open
/// to it (health checks) take tiny requests, and it must not hold much of the request budget.
pub const UNLISTED_MAX_MESSAGE: usize = 4096;

pub(crate) async fn handle_stream(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    (router, settings, budget, shutdown, peer): Context<'_>,
) {
    let (parts, body) = request.into_parts();
    if parts.method != http::Method::POST {
        send_http_error(&mut respond, StatusCode::METHOD_NOT_ALLOWED);
        return;
    }
    match content_type(&parts.headers) {
        ContentType::Grpc => {}
        ContentType::OtherGrpc(ct) => {
            let msg = format!("content-type {ct} is not supported (use application/grpc)");
            send_status(&mut respond, &Status::new(Code::Unimplemented, msg));
            return;
        }
        ContentType::NotGrpc => {
            send_http_error(&mut respond, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            return;
        }
    }
    let path = parts.uri.path();
    let (method, call) = match prepare(&parts.headers, path, router, settings, peer) {
        Ok(prepared) => prepared,
        Err(status) => {
            send_status(&mut respond, &status);
            return;
        }
    };
    let deadline = call.deadline;
    let path = call.path.clone();
    let streaming = matches!(method, Method::Streaming(_));
    let reply = Rc::new(Reply::new(respond, call.reply.clone()));
    let max_message = if peer.allowed.get() {
        settings.max_message
    } else {
        settings.max_message.min(UNLISTED_MAX_MESSAGE)
    };
    let requests = Requests::new(Incoming::new(body, max_message).with_budget(budget.clone()));
    let work = async {
        match method {
            Method::Unary(handler) => match requests.single().await {
                Ok(message) => match handler(call, message).await {
                    Ok(response) => {
                        reply.reply(&response).await;
                        End::Handler
                    }
                    Err(status) => End::Status(status),
                },
                Err(status) => End::Status(status),
            },
            Method::Streaming(handler) => {
                match handler(call, requests, Responses::new(reply.clone())).await {
                    Ok(()) => End::Status(Status::ok()),
                    Err(status) => End::Status(status),
                }
            }
        }
    };
    let expired = async {
        match deadline {
            Some(at) => {
                Timer::at(at).await;
                log::debug!("gRPC {path}: deadline exceeded, handler cancelled");
                End::Status(Status::new(Code::DeadlineExceeded, "deadline exceeded"))
            }
            None => future::pending().await,
        }
    };
    let reset = async {
        future::poll_fn(|cx| reply.poll_reset(cx)).await;
        End::Reset
    };
    // Unary calls are short and finish during a graceful shutdown; a stream (logs that follow,
    // a control stream) could last forever, so it is ended, and the client reconnects elsewhere
    // or later.
    let stopping = async {
        if !streaming {
            future::pending::<()>().await;
        }
        shutdown.requested().await;
        End::Status(Status::new(
            Code::Unavailable,
            "the server is shutting down",
        ))
    };
    let end = future::or(future::or(work, expired), future::or(reset, stopping)).await;
    // The handler may have met the reset first (a send that failed): a reset all the same.
    let reset = match end {
        End::Reset => true,
        End::Handler => false,
        End::Status(_) => future::poll_once(future::poll_fn(|cx| reply.poll_reset(cx)))
            .await
            .is_some(),
    };
    match end {
        _ if reset => log::debug!("gRPC {path}: cancelled by the client"),
        End::Status(status) => reply.finish(&status),
        End::Handler | End::Reset => {}
    }
}

/// Checks encoding, route, deadline and metadata; returns the method and the call.
fn prepare(
    headers: &HeaderMap,
    path: &str,
    router: &Router,
    settings: &Settings,
    peer: &Peer,
) -> Result<(Method, Call), Status> {
    if let Some(encoding) = headers.get("grpc-encoding") {
        if encoding.as_bytes() != b"identity" {
            return Err(Status::new(
                Code::Unimplemented,
                format!(
                    "grpc-encoding {} is not supported (identity only)",
                    String::from_utf8_lossy(encoding.as_bytes())
                ),
            ));
        }
    }
    let (method, access) = router
        .get(path)
        .ok_or_else(|| Status::new(Code::Unimplemented, format!("unknown method {path}")))?;
    // Before the body: a caller who may not make this call gets nothing buffered for it.
    if access == Access::AllowedClients && !peer.allowed.get() {
        return Err(Status::new(
            Code::PermissionDenied,
            format!(
                "{} is not on grpc.allowed_client, which {path} requires",
                peer.identities
            ),
        ));
    }
    let deadline = match headers.get("grpc-timeout") {
        // At most 99,999,999 hours; a deadline past what the clock can hold means none.
        Some(v) => Instant::now().checked_add(crate::grpc::wire::timeout::parse(v.as_bytes())?),
        // A unary call without a deadline still gets one: a handler stuck on a dead ocserv
        // socket must not hold a stream slot forever.
        None => match method {
            Method::Unary(_) => Some(Instant::now() + settings.unary_time_limit),
            Method::Streaming(_) => None,
        },
    };
    let metadata = Metadata::from_header_map(headers)
        .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
    let call = Call {
        path: path.to_string(),
        metadata,
        peer: peer.identities.clone(),
        peer_allowed: peer.allowed.get(),
        deadline,
        reply: Rc::new(ReplyMetadata::default()),
    };
    Ok((method, call))
}

enum ContentType {
    Grpc,
    OtherGrpc(String),
    NotGrpc,
}

fn content_type(headers: &HeaderMap) -> ContentType {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return ContentType::NotGrpc;
    };
    let text = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
    let base = text.split(';').next().unwrap_or("").trim().to_string();
    match base.as_str() {
        "application/grpc" | "application/grpc+proto" => ContentType::Grpc,
        other if other.starts_with("application/grpc+") => {
            ContentType::OtherGrpc(other.to_string())
        }
        _ => ContentType::NotGrpc,
    }
}
