//! TLS on the main listener: `https://` and `wss://` with a self-signed
//! certificate through a TLS client that trusts only it; a renewed
//! certificate served without a restart; plain HTTP to the TLS port
//! refused without harm.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::serve::settings::{HttpSettings, ServeSettings};
use callboard::config::Config;
use futures_util::StreamExt;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::support::http;
use crate::support::server::{Server, engine};

/// A self-signed certificate for localhost, written as PEM files; its DER.
fn certificate(dir: &Path) -> CertificateDer<'static> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    made.cert.der().clone()
}

fn client(trusted: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// GET `path` over TLS: the status line and the body.
async fn https_get(
    srv: &Server,
    trusted: &CertificateDer<'static>,
    path: &str,
) -> std::io::Result<String> {
    https(srv, trusted, "GET", path, "").await
}

async fn https(
    srv: &Server,
    trusted: &CertificateDer<'static>,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<String> {
    let tcp = tokio::net::TcpStream::connect(srv.addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = client(trusted).connect(name, tcp).await?;
    tls.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_wss_with_a_certificate_that_is_renewed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let first = certificate(dir.path());
    let settings = ServeSettings {
        engine: engine(1, 20),
        http: HttpSettings {
            tls: Some((dir.path().join("cert.pem"), dir.path().join("key.pem"))),
            ..HttpSettings::default()
        },
        ..ServeSettings::default()
    };
    let config = Config::default();
    let srv = Server::start(config, settings).await;
    let mut body = String::new();
    for _ in 0..100 {
        match https_get(&srv, &first, "/readyz").await {
            Ok(b) if b.starts_with("HTTP/1.1 200") => {
                body = b;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(body.contains("\"ready\":true"), "{body}");

    // Plain HTTP to the TLS port gets no answer, and the port still serves.
    let plain = tokio::time::timeout(
        Duration::from_secs(5),
        crate::support::try_http(srv.addr, "GET", "/healthz", &[], ""),
    )
    .await;
    assert!(!matches!(plain, Ok(Ok((200, _, _)))), "plain HTTP answered");
    // A client that trusts another certificate refuses this one.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    assert!(
        https_get(&srv, &other.cert.der().clone(), "/healthz")
            .await
            .is_err()
    );

    // An event in over HTTPS; its tenant's snapshots out over wss://.
    let now = callboard::time::now_ms() - 1000;
    let event = format!(
        r#"{{"v":1,"id":"t1","ts":{now},"tenant":"acme","type":"call.queued","call":"c1","queue":"q1"}}"#
    );
    let answer = https(&srv, &first, "POST", "/api/v1/events", &event)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for _ in 0..100 {
        if https_get(&srv, &first, "/api/v1/tenants/acme/snapshot")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let tls = client(&first)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/api/v1/ws?tenant=acme", tls)
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(v["snapshot"]["tenant"], "acme");
    assert_eq!(v["snapshot"]["totals"]["waiting"], 1);

    // A renewed certificate (new key too) is served to new connections
    // within the reload period, without a restart; the open websocket
    // keeps going.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a later mtime
    let second = certificate(dir.path());
    let mut renewed = false;
    for _ in 0..((callboard::http::tls::RELOAD_EVERY.as_millis() / 100) * 2 + 20) {
        if https_get(&srv, &second, "/healthz").await.is_ok() {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "the renewed certificate is served");
    assert!(
        https_get(&srv, &first, "/healthz").await.is_err(),
        "the old one no longer"
    );
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    assert!(
        matches!(msg, Ok(Some(Ok(_)))),
        "the open websocket carries on"
    );

    // A broken renewal keeps the last good certificate.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(callboard::http::tls::RELOAD_EVERY + Duration::from_secs(1)).await;
    assert!(
        https_get(&srv, &second, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    let _ = http;
    srv.stop.cancel();
    let _ = srv.task.await;
}

#[test]
fn tls_needs_both_files_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "junk").unwrap();
    std::fs::write(dir.path().join("key.pem"), "junk").unwrap();
    let e =
        callboard::http::tls::Tls::load(&dir.path().join("cert.pem"), &dir.path().join("key.pem"))
            .err()
            .unwrap();
    assert!(format!("{e:#}").contains("tls_cert"), "{e:#}");
    certificate(dir.path());
    std::fs::write(dir.path().join("key.pem"), "junk").unwrap();
    let e =
        callboard::http::tls::Tls::load(&dir.path().join("cert.pem"), &dir.path().join("key.pem"))
            .err()
            .unwrap();
    assert!(format!("{e:#}").contains("tls_key"), "{e:#}");
}
