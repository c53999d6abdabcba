//! Access tokens on every endpoint: a tenant token never reads another
//! tenant; only admin ingests; metrics need their token or their listener.

use std::time::Duration;

use callboard::cmd::serve::settings::ServeSettings;
use callboard::config::Config;

use crate::support::http;
use crate::support::server::{Server, engine};

fn config() -> Config {
    let entry = crate::support::token_entry;
    let text = [
        entry("acme-board", "acme-secret", "tenant", "tenant = \"acme\""),
        entry(
            "globex-board",
            "globex-secret",
            "tenant",
            "tenant = \"globex\"",
        ),
        entry("ops", "admin-secret", "admin", ""),
        entry("prom", "metrics-secret", "metrics", ""),
        entry("far", "far-secret", "admin", "allow = [\"10.0.0.0/8\"]"),
    ]
    .concat();
    Config::parse(&text, None, None).unwrap()
}

type Srv = Server;

async fn start() -> Srv {
    let settings = ServeSettings {
        engine: engine(1, 20),
        ..ServeSettings::default()
    };
    Server::start_with_metrics(config(), settings).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn get(srv: &Srv, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, body) = http(srv.addr, "GET", path, &headers, "").await;
    (status, body)
}

async fn ingest(srv: &Srv, token: Option<&str>) -> u16 {
    let now = jiff::Timestamp::now().as_millisecond() - 1000;
    let body: String = ["acme", "globex"]
        .iter()
        .map(|t| format!("{{\"v\":1,\"id\":\"{t}-1\",\"ts\":{now},\"tenant\":\"{t}\",\"type\":\"call.queued\",\"call\":\"c\",\"queue\":\"q\"}}\n"))
        .collect();
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http(srv.addr, "POST", "/api/v1/events", &headers, &body)
        .await
        .0
}

async fn ws_status(srv: &Srv, query: &str, origin: Option<&str>) -> Result<(), u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/api/v1/ws?{query}", srv.addr)
        .into_client_request()
        .unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_decide_who_reads_what() {
    let srv = start().await;
    // Without a token only health, readiness and the board's own files
    // (which hold no data) answer.
    assert_eq!(get(&srv, "/healthz", None).await.0, 200);
    assert_eq!(get(&srv, "/readyz", None).await.0, 200);
    for path in [
        "/",
        "/assets/app.js",
        "/assets/views/overview.js",
        "/assets/app.css",
    ] {
        assert_eq!(get(&srv, path, None).await.0, 200, "{path}");
    }
    // The API's description and the schemas it refers to hold no data:
    // tools resolve them without a token.
    for path in [
        "/api/v1/openapi.json",
        "/api/v1/snapshot.schema.json",
        "/api/v1/event.schema.json",
        "/api/v1/report.schema.json",
        "/api/v1/interval.schema.json",
    ] {
        assert_eq!(get(&srv, path, None).await.0, 200, "{path}");
    }
    // The scheme of the Authorization header is case-insensitive.
    let (status, _, _) = http(
        srv.addr,
        "GET",
        "/api/v1/tenants",
        &[("Authorization", "bearer admin-secret")],
        "",
    )
    .await;
    assert_eq!(status, 200, "lower-case bearer");
    for path in [
        "/api/v1/tenants",
        "/api/v1/tenants/acme/snapshot",
        "/metrics",
    ] {
        assert_eq!(get(&srv, path, None).await.0, 401, "{path}");
        assert_eq!(get(&srv, path, Some("wrong")).await.0, 401, "{path}");
    }
    assert_eq!(ingest(&srv, None).await, 401);
    assert_eq!(ws_status(&srv, "tenant=acme", None).await, Err(401));

    // Only admin ingests.
    assert_eq!(ingest(&srv, Some("acme-secret")).await, 403);
    assert_eq!(ingest(&srv, Some("metrics-secret")).await, 403);
    assert_eq!(ingest(&srv, Some("admin-secret")).await, 200);
    for _ in 0..100 {
        if get(
            &srv,
            "/api/v1/tenants/globex/snapshot",
            Some("admin-secret"),
        )
        .await
        .0 == 200
            && get(&srv, "/api/v1/tenants/acme/snapshot", Some("admin-secret"))
                .await
                .0
                == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A tenant token reads its tenant, and nothing of another, on every endpoint.
    let (status, list) = get(&srv, "/api/v1/tenants", Some("acme-secret")).await;
    assert_eq!(status, 200);
    assert!(
        list.contains("\"acme\"") && !list.contains("globex"),
        "{list}"
    );
    assert_eq!(
        get(&srv, "/api/v1/tenants/acme/snapshot", Some("acme-secret"))
            .await
            .0,
        200
    );
    let (status, body) = get(&srv, "/api/v1/tenants/globex/snapshot", Some("acme-secret")).await;
    assert_eq!(status, 403);
    assert!(!body.contains("waiting"), "no data leaks: {body}");
    assert_eq!(
        get(&srv, "/api/v1/tenants/nobody/snapshot", Some("acme-secret"))
            .await
            .0,
        403
    );
    assert_eq!(get(&srv, "/metrics", Some("acme-secret")).await.0, 403);
    // History too: another tenant's is refused before anything is read.
    let (status, body) = get(
        &srv,
        "/api/v1/tenants/globex/history?by=queue",
        Some("acme-secret"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get(&srv, "/api/v1/tenants/acme/history", Some("acme-secret")).await;
    assert_eq!(status, 404, "this server keeps no history: {body}");
    assert!(body.contains("--history none"), "{body}");
    assert_eq!(
        ws_status(&srv, "tenant=acme&token=acme-secret", None).await,
        Ok(())
    );
    assert_eq!(
        ws_status(&srv, "tenant=globex&token=acme-secret", None).await,
        Err(403)
    );
    assert_eq!(
        ws_status(&srv, "tenant=globex&service=q&token=acme-secret", None).await,
        Err(403)
    );
    let (status, _) = get(
        &srv,
        "/api/v1/tenants/acme/snapshot?token=acme-secret",
        None,
    )
    .await;
    assert_eq!(status, 200, "a kiosk URL carries its token");

    // Admin reads everything; the metrics token reads metrics only.
    let (_, list) = get(&srv, "/api/v1/tenants", Some("admin-secret")).await;
    assert!(list.contains("acme") && list.contains("globex"), "{list}");
    assert_eq!(get(&srv, "/metrics", Some("admin-secret")).await.0, 200);
    assert_eq!(get(&srv, "/metrics", Some("metrics-secret")).await.0, 200);
    assert_eq!(
        get(
            &srv,
            "/api/v1/tenants/acme/snapshot",
            Some("metrics-secret")
        )
        .await
        .0,
        403
    );
    let (status, body) = get(&srv, "/api/v1/tenants", Some("metrics-secret")).await;
    assert_eq!(status, 403, "a metrics token lists no tenant: {body}");
    // The API's documents are open, as the OpenAPI document says: each
    // path it marks with no security answers without a token.
    let doc: serde_json::Value =
        serde_json::from_str(&get(&srv, "/api/v1/openapi.json", None).await.1).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item["get"]["security"] == serde_json::json!([]) {
            assert_eq!(get(&srv, path, None).await.0, 200, "{path} is open");
        }
    }

    // A token restricted to other addresses is refused from here.
    assert_eq!(
        get(&srv, "/api/v1/tenants", Some("far-secret")).await.0,
        403
    );

    // Browsers may open websockets from the service's own origin only.
    assert_eq!(
        ws_status(
            &srv,
            "tenant=acme&token=acme-secret",
            Some("https://evil.example")
        )
        .await,
        Err(403)
    );
    let own = format!("http://{}", srv.addr);
    assert_eq!(
        ws_status(&srv, "tenant=acme&token=acme-secret", Some(&own)).await,
        Ok(())
    );

    // The metrics listener is open, and serves nothing else.
    let (status, _, body) = http(srv.metrics.unwrap(), "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    assert!(body.contains("callboard_inbound_calls_total"), "{body}");
    // What it does not serve is a JSON error that says what it serves.
    let (status, _, body) = http(srv.metrics.unwrap(), "GET", "/api/v1/tenants", &[], "").await;
    assert_eq!(status, 404);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("/metrics, /healthz and /readyz"),
        "{body}"
    );
    let (status, _, body) = http(srv.metrics.unwrap(), "POST", "/metrics", &[], "").await;
    assert_eq!(status, 405);
    assert!(body.contains("\"error\""), "{body}");

    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_may_not_ingest_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start().await;
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    // Announces 10 MB and sends none of it.
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer acme-secret\r\nContent-Length: 10000000\r\n\r\n",
        srv.addr
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    // A refusal that waited for the body would never come.
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the refusal comes without the body")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
}

/// A tenant named only by a token is one the config names: before its
/// first event its snapshot is "no figures yet" (503), as for a tenant
/// with a section, not "no such tenant" (404); an unnamed one is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_named_by_a_token_has_no_figures_yet() {
    let srv = start().await;
    let (status, body) = get(
        &srv,
        "/api/v1/tenants/globex/snapshot",
        Some("globex-secret"),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no figures yet"), "{body}");
    let (status, body) = get(
        &srv,
        "/api/v1/tenants/nobody/snapshot",
        Some("admin-secret"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}
