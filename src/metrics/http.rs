//! A tiny HTTP/1.1 responder for Prometheus: `GET /metrics` (and HEAD), one request per
//! connection, then close. Requests are bounded (8 KiB of head, 5 s to send it) and so are the
//! connections served at once; anything else gets a plain status line, never a panic.

use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use std::cell::Cell;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request, and to take the reply.
const IO_TIME: Duration = Duration::from_secs(5);
/// Scrapes served at once; more are closed on arrival.
const MAX_CONNECTIONS: u32 = 8;

/// The listening metrics endpoint.
pub struct Endpoint {
    listener: Async<TcpListener>,
}

impl Endpoint {
    pub fn bind(addr: SocketAddr) -> std::io::Result<Endpoint> {
        Ok(Endpoint {
            listener: Async::<TcpListener>::bind(addr)?,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.get_ref().local_addr().ok()
    }

    /// Serves until dropped; `render` produces the metrics text for each scrape.
    pub async fn serve(
        &self,
        executor: &'static LocalExecutor<'static>,
        render: Rc<dyn Fn() -> String>,
    ) {
        let active = Rc::new(Cell::new(0u32));
        loop {
            let (stream, _) = match self.listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("metrics accept: {e}");
                    // EMFILE and friends: do not spin.
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if active.get() >= MAX_CONNECTIONS {
                continue;
            }
            active.set(active.get() + 1);
            let (active, render) = (active.clone(), render.clone());
            executor
                .spawn(async move {
                    let _ = future::or(respond(stream, &*render), async {
                        Timer::after(2 * IO_TIME).await;
                        Ok(())
                    })
                    .await;
                    active.set(active.get() - 1);
                })
                .detach();
        }
    }
}

async fn respond(mut stream: Async<TcpStream>, render: &dyn Fn() -> String) -> std::io::Result<()> {
    let head = future::or(read_head(&mut stream), async {
        Timer::after(IO_TIME).await;
        Err(std::io::ErrorKind::TimedOut.into())
    })
    .await;
    let reply = match head {
        Ok(Some(head)) => answer(&head, render),
        Ok(None) => plain(
            431,
            "Request Header Fields Too Large",
            "request too large\n",
        ),
        Err(_) => return Ok(()),
    };
    stream.write_all(&reply).await?;
    stream.flush().await
}

/// Reads up to the blank line that ends the head; `None` if it does not fit [`MAX_HEAD`].
async fn read_head(stream: &mut Async<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// The reply to a request head.
pub(crate) fn answer(head: &[u8], render: &dyn Fn() -> String) -> Vec<u8> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return plain(400, "Bad Request", "malformed request line\n");
    };
    if !version.starts_with("HTTP/1.") {
        return plain(505, "HTTP Version Not Supported", "HTTP/1.x only\n");
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = render();
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            if method == "GET" {
                reply.extend_from_slice(body.as_bytes());
            }
            reply
        }
        ("GET" | "HEAD", _) => plain(404, "Not Found", "metrics are at /metrics\n"),
        _ => {
            let mut r = plain(405, "Method Not Allowed", "GET or HEAD only\n");
            // Insert the Allow header the status requires after the status line.
            let at = r.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            r.splice(at..at, b"Allow: GET, HEAD\r\n".iter().copied());
            r
        }
    }
}

fn plain(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(head: &str) -> String {
        String::from_utf8(answer(head.as_bytes(), &|| "m 1\n".to_string())).unwrap()
    }

    #[test]
    fn get_metrics_is_served_and_the_rest_refused() {
        let r = ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("Content-Length: 4\r\n") && r.ends_with("\r\n\r\nm 1\n"),
            "{r}"
        );
        let r = ask("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 200") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        assert!(ask("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        let r = ask("POST /metrics HTTP/1.1\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"),
            "{r}"
        );
        assert!(ask("GET /metrics\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(ask("GET /metrics SPDY/3\r\n\r\n").starts_with("HTTP/1.1 505"));
        assert!(ask("\u{0}\u{1}\r\n\r\n").starts_with("HTTP/1.1 400"));
    }

    #[test]
    fn a_real_scrape_over_tcp_and_an_oversized_head() {
        use std::io::{Read, Write};
        // The server runs on a thread of its own, as it would in the daemon; it is left running.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let executor: &'static LocalExecutor<'static> =
                Box::leak(Box::new(LocalExecutor::new()));
            let endpoint = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(endpoint.local_addr().unwrap()).unwrap();
            let render = Rc::new(|| "ocserv_agent_x 1\n".to_string());
            async_io::block_on(executor.run(endpoint.serve(executor, render)));
        });
        let addr = rx.recv().unwrap();
        let get = |request: &[u8]| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(request).unwrap();
            let mut out = Vec::new();
            // The server may close with our excess bytes unread (a reset after its reply).
            let _ = s.read_to_end(&mut out);
            String::from_utf8(out).unwrap()
        };
        let ok = get(b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.ends_with("\r\n\r\nocserv_agent_x 1\n"), "{ok}");
        let big = get(&[b'a'; 9000]);
        assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    }
}
