//! The gRPC server's connections: TLS (mutual) over TCP, HTTP/2 by h2, one task per stream.
//!
//! One task per connection drives h2 and accepts streams; each stream runs as its own task
//! ([`crate::grpc::server::dispatch`]). The connection sends keepalive pings, and on shutdown a GOAWAY that
//! lets calls in flight finish.

use super::settings::{InForce, Shutdown};
use crate::grpc::server::dispatch::{handle_stream, Peer};
use crate::grpc::server::router::Router;
use crate::grpc::transport::io::TokioIo;
use crate::grpc::transport::keepalive::{self};
use crate::grpc::transport::socket::Socket;
use crate::grpc::transport::x509;
use crate::grpc::wire::body;
use crate::grpc::wire::budget::Share;
use crate::log_limit;
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use futures_lite::future;
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use rustls::ServerConfig;
use std::cell::Cell;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Failed handshakes are logged once every 10 s with a count: anyone who can reach the port can
/// fail one, hundreds a second, and each line would otherwise go to logd on the daemon's thread.
static FAILED_HANDSHAKES: log_limit::Limit = log_limit::Limit::every(10);

/// What a connection's accept loop woke up for.
enum Woke<T> {
    Stream(T),
    Shutdown,
    Reloaded,
}

/// Serves one accepted TCP connection until it closes: [`accept_tls`], then [`serve_tls`].
/// Streams run as tasks on `executor`, which must live as long as the process (the daemon
/// leaks its one executor for this). When `shutdown` is requested the connection sends GOAWAY,
/// lets the calls in flight finish, then closes.
pub async fn serve_connection(
    tcp: Async<TcpStream>,
    tls: Arc<ServerConfig>,
    router: Rc<Router>,
    in_force: Rc<InForce>,
    budget: Rc<Share>,
    executor: &'static LocalExecutor<'static>,
    shutdown: Rc<Shutdown>,
) {
    let timeout = in_force.settings().handshake_timeout;
    if let Some(stream) = accept_tls(tcp, tls, timeout, &Shutdown::new()).await {
        serve_tls(stream, router, in_force, budget, executor, shutdown).await;
    }
}

/// A connection whose TLS handshake is done (the client's certificate verified).
pub struct TlsConnection {
    stream: TlsStream<Socket>,
    remote: String,
}

/// The TLS handshake of an accepted connection, bounded by `timeout` and given up when
/// `dropped` is requested (the pool of connections still in their handshakes made room for a
/// newer one). Failures are logged at most once per 10 s.
pub async fn accept_tls(
    tcp: Async<TcpStream>,
    tls: Arc<ServerConfig>,
    timeout: Duration,
    dropped: &Shutdown,
) -> Option<TlsConnection> {
    let _ = tcp.get_ref().set_nodelay(true);
    let remote = tcp
        .get_ref()
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let handshake = async { Ok(TlsAcceptor::from(tls).accept(Socket::new(tcp)).await) };
    let timeout = async {
        Timer::after(timeout).await;
        Err("timed out")
    };
    let dropped = async {
        dropped.requested().await;
        Err("was dropped for a newer connection (too many handshakes in progress)")
    };
    match future::or(handshake, future::or(timeout, dropped)).await {
        Ok(Ok(stream)) => Some(TlsConnection { stream, remote }),
        Ok(Err(e)) => {
            log_limit::info(
                &FAILED_HANDSHAKES,
                format_args!("gRPC TLS handshake with {remote} failed: {e}"),
            );
            None
        }
        Err(why) => {
            log_limit::info(
                &FAILED_HANDSHAKES,
                format_args!("gRPC TLS handshake with {remote} {why}"),
            );
            None
        }
    }
}

/// Serves a connection whose TLS handshake is done, until it closes.
pub async fn serve_tls(
    connection: TlsConnection,
    router: Rc<Router>,
    in_force: Rc<InForce>,
    budget: Rc<Share>,
    executor: &'static LocalExecutor<'static>,
    shutdown: Rc<Shutdown>,
) {
    let TlsConnection { stream, remote } = connection;
    let settings = in_force.settings();
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| x509::identities(cert));
    let peer = match peer {
        Some(Ok(ids)) => Rc::new(ids),
        // The verifier requires a certificate, so neither case should happen; refuse anyway.
        Some(Err(e)) => {
            log::warn!("gRPC client {remote}: {e}");
            return;
        }
        None => {
            log::warn!("gRPC client {remote} presented no certificate");
            return;
        }
    };
    let allowed = peer.allowed_by(&settings.allowed_clients);
    if !allowed {
        log::info!("gRPC client {remote} ({peer}) is not on grpc.allowed_client");
    }
    let peer = Rc::new(Peer {
        allowed: Cell::new(allowed),
        identities: peer,
    });
    let link = Link {
        router,
        in_force,
        budget,
        executor,
        shutdown,
    };
    serve_http2(stream, peer, &remote, link).await;
}

/// What a connection's streams are served with, past TLS.
pub(crate) struct Link {
    pub router: Rc<Router>,
    pub in_force: Rc<InForce>,
    pub budget: Rc<Share>,
    pub executor: &'static LocalExecutor<'static>,
    pub shutdown: Rc<Shutdown>,
}

/// HTTP/2 and the calls on it, over any byte stream (TLS in the daemon, memory in the fuzz
/// target), for a peer already named by its certificate.
pub(crate) async fn serve_http2<S>(stream: S, peer: Rc<Peer>, remote: &str, link: Link)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + 'static,
{
    let Link {
        router,
        in_force,
        budget,
        executor,
        shutdown,
    } = link;
    let mut current = in_force.current();
    let settings = current.settings.clone();
    // The HTTP/2 preface is bounded too: a client that finishes TLS and then says nothing must
    // not hold its place forever.
    let h2_handshake = async {
        Some(
            h2::server::Builder::new()
                .max_concurrent_streams(settings.max_concurrent_streams)
                .max_header_list_size(settings.max_header_list_size)
                .max_send_buffer_size(64 * 1024)
                .data_frame_budget(body::DATA_FRAME_BUDGET)
                .handshake(TokioIo(stream))
                .await,
        )
    };
    let h2_timeout = async {
        Timer::after(settings.handshake_timeout).await;
        None
    };
    let mut connection = match future::or(h2_handshake, h2_timeout).await {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            log_limit::info(
                &FAILED_HANDSHAKES,
                format_args!("gRPC HTTP/2 handshake with {remote} failed: {e}"),
            );
            return;
        }
        None => {
            log_limit::info(
                &FAILED_HANDSHAKES,
                format_args!("gRPC client {remote} sent no HTTP/2 preface in time"),
            );
            return;
        }
    };
    let pings = connection.ping_pong();
    let accept = async {
        let mut going_away = false;
        loop {
            let next = if going_away {
                connection.accept().await
            } else {
                let next = async { Woke::Stream(connection.accept().await) };
                let stop = async {
                    shutdown.requested().await;
                    Woke::Shutdown
                };
                let reloaded = async {
                    current.ended.requested().await;
                    Woke::Reloaded
                };
                // In a statement of its own, so that the futures (and their borrows of
                // `current`) are gone before the arms below replace it.
                let woke = future::or(next, future::or(stop, reloaded)).await;
                match woke {
                    Woke::Stream(next) => next,
                    Woke::Shutdown => {
                        log::debug!(
                            "gRPC connection from {remote}: GOAWAY, finishing calls in flight"
                        );
                        connection.graceful_shutdown();
                        going_away = true;
                        continue;
                    }
                    Woke::Reloaded => {
                        let new = in_force.current();
                        let allowed = peer.identities.allowed_by(&new.settings.allowed_clients);
                        let why = if new.tls_files != current.tls_files {
                            Some("the certificates changed")
                        } else if peer.allowed.get() && !allowed {
                            Some("its client is no longer on grpc.allowed_client")
                        } else {
                            None
                        };
                        peer.allowed.set(allowed);
                        current = new;
                        if let Some(why) = why {
                            log::info!("gRPC connection from {remote}: GOAWAY, {why}");
                            connection.graceful_shutdown();
                            going_away = true;
                        }
                        continue;
                    }
                }
            };
            let Some(next) = next else { break };
            match next {
                Ok((request, respond)) => {
                    let (router, settings) = (router.clone(), current.settings.clone());
                    let (shutdown, peer) = (shutdown.clone(), peer.clone());
                    let budget = budget.clone();
                    executor
                        .spawn(async move {
                            let call = (&*router, &*settings, &budget, &*shutdown, &*peer);
                            handle_stream(request, respond, call).await
                        })
                        .detach();
                }
                Err(e) => {
                    log::debug!("gRPC connection from {remote} ended: {e}");
                    break;
                }
            }
        }
    };
    let keepalive = async {
        keepalive::run(pings, settings.keepalive, || true, None).await;
        log::info!("gRPC client {remote} did not answer a keepalive ping; closing");
    };
    future::or(accept, keepalive).await;
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
