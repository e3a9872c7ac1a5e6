//! TLS configuration tests: real handshakes over a socket pair, and every loading error.

use super::*;
use crate::grpc::transport::x509;
use async_io::Async;
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::pki_types::ServerName;
use std::os::unix::net::UnixStream;

fn files<'a>(
    dir: &'a Path,
    ca: &'a str,
    cert: &'a str,
    key: &'a str,
) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join(ca), dir.join(cert), dir.join(key))
}

fn server(allow_tls12: bool) -> Arc<ServerConfig> {
    let d = test_certs();
    let (ca, cert, key) = files(&d, "ca.pem", "server.pem", "server.key");
    server_config(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        allow_tls12,
    )
    .unwrap()
}

fn client(cert: &str, key: &str) -> Arc<ClientConfig> {
    let d = test_certs();
    let (ca, cert, key) = files(&d, "ca.pem", cert, key);
    client_config(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        false,
    )
    .unwrap()
}

/// What the server learned in a handshake: the ALPN protocol and the client's names.
type ServerSaw = (Option<Vec<u8>>, Option<x509::Identities>);

/// Runs both ends of a handshake; returns the client's result and what the server saw.
fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> (std::io::Result<()>, std::io::Result<ServerSaw>) {
    let (a, b) = UnixStream::pair().unwrap();
    async_io::block_on(futures_lite::future::zip(
        async move {
            let stream = Async::new(a).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = TlsConnector::from(client).connect(name, stream).await?;
            // A round trip proves the server accepted us (TLS 1.3 checks the client late).
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            tls.write_all(b"ping").await?;
            tls.flush().await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            Ok(())
        },
        async move {
            let stream = Async::new(b).unwrap();
            let mut tls = TlsAcceptor::from(server).accept(stream).await?;
            let (_, conn) = tls.get_ref();
            let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
            let ids = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| x509::identities(c).unwrap());
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            tls.write_all(b"pong").await?;
            tls.flush().await?;
            Ok((alpn, ids))
        },
    ))
}

#[test]
fn mutual_tls_handshake_with_alpn_h2() {
    let (client_result, server_result) =
        handshake(server(false), client("client.pem", "client.key"));
    client_result.unwrap();
    let (alpn, ids) = server_result.unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let ids = ids.expect("the server sees the client certificate");
    assert_eq!(ids.dns, ["portal.example"]);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let (client_result, server_result) = handshake(
        server(false),
        client("other-client.pem", "other-client.key"),
    );
    assert!(
        server_result.is_err(),
        "server accepted an untrusted client"
    );
    assert!(client_result.is_err());
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let d = test_certs();
    let mut roots = RootCertStore::empty();
    for c in load_certs(&d.join("ca.pem")).unwrap() {
        roots.add(c).unwrap();
    }
    let mut anonymous = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(false))
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    anonymous.alpn_protocols = vec![b"h2".to_vec()];
    let (client_result, server_result) = handshake(server(false), Arc::new(anonymous));
    assert!(server_result.is_err());
    assert!(client_result.is_err());
}

#[test]
fn tls12_only_when_allowed() {
    let d = test_certs();
    let (ca, cert, key) = files(&d, "ca.pem", "client.pem", "client.key");
    let roots = load_roots(&ca).unwrap();
    let (chain, key) = load_identity(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        &provider(),
    )
    .unwrap();
    let mut tls12_client = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    tls12_client.alpn_protocols = vec![b"h2".to_vec()];
    let tls12_client = Arc::new(tls12_client);
    let (c, s) = handshake(server(false), tls12_client.clone());
    assert!(
        c.is_err() && s.is_err(),
        "TLS 1.2 must be refused by default"
    );
    let (c, s) = handshake(server(true), tls12_client);
    c.unwrap();
    s.unwrap();
}

fn server_error(ca: &str, cert: &str, key: &str) -> String {
    let d = test_certs();
    let (ca, cert, key) = files(&d, ca, cert, key);
    server_config(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        false,
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn loading_errors_name_the_file() {
    let e = server_error("ca.pem", "server.pem", "missing.key");
    assert!(e.contains("missing.key: No such file"), "{e}");
    let e = server_error("ca.pem", "server.key", "server.key");
    assert!(e.contains("server.key: no PEM certificate"), "{e}");
    let e = server_error("ca.pem", "server.pem", "server.pem");
    assert!(e.contains("server.pem: no PEM private key"), "{e}");
    let e = server_error("ca.pem", "server.pem", "client.key");
    assert!(
        e.contains("client.key does not belong to the certificate in"),
        "{e}"
    );
    let e = server_error("ca.key", "server.pem", "server.key");
    assert!(e.contains("ca.key: no PEM certificate"), "{e}");
    let e = server_error("server.pem", "server.pem", "server.key");
    assert!(e.contains("server.pem: not a usable CA certificate: certificate DNS:localhost, CN=localhost is not a CA"), "{e}");
}
