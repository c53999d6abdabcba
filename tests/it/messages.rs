//! Messages to the floor: an admin posts, every board of the tenant reads
//! them until they expire or are deleted; bad bodies change nothing; a
//! store keeps them across a restart.

use callboard::cmd::serve::settings::{HistorySettings, ServeSettings};
use callboard::config::Config;
use serde_json::Value;

use crate::support::http;
use crate::support::server::{Server, engine};

fn config() -> Config {
    let entry = crate::support::token_entry;
    let text = [
        entry("acme-board", "acme-secret", "tenant", "tenant = \"acme\""),
        entry("ops", "admin-secret", "admin", ""),
        entry("prom", "metrics-secret", "metrics", ""),
    ]
    .concat();
    Config::parse(&text, None, None).unwrap()
}

async fn call(srv: &Server, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, text) = http(srv.addr, method, path, &[("Authorization", &auth)], body).await;
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    (status, v)
}

async fn texts(srv: &Server, token: &str) -> Vec<String> {
    let (status, v) = call(srv, "GET", "/api/v1/tenants/acme/messages", token, "").await;
    assert_eq!(status, 200, "{v}");
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

const PATH: &str = "/api/v1/tenants/acme/messages";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_posts_to_the_floor_and_every_board_of_the_tenant_reads_it() {
    let srv = Server::start(
        config(),
        ServeSettings {
            engine: engine(1, 20),
            ..ServeSettings::default()
        },
    )
    .await;
    assert!(texts(&srv, "acme-secret").await.is_empty());

    // Only an admin posts; the tenant's board, another tenant's token or a
    // metrics token may not.
    let body = r#"{"text": "점심 교대 12:30 시작합니다", "expires_in_s": 600}"#;
    assert_eq!(call(&srv, "POST", PATH, "acme-secret", body).await.0, 403);
    assert_eq!(
        call(&srv, "POST", PATH, "metrics-secret", body).await.0,
        403
    );
    let (status, posted) = call(&srv, "POST", PATH, "admin-secret", body).await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["text"], "점심 교대 12:30 시작합니다");
    let instant = |k: &str| {
        posted[k]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    };
    let now = jiff::Timestamp::now().as_millisecond();
    assert!((now - instant("created_at")).abs() < 60_000, "{posted}");
    let span = instant("expires_at") - instant("created_at");
    assert_eq!(span, 600_000);

    // Bad bodies get a 400 that says why, and change nothing.
    for (bad, why) in [
        (r#"{"text": "   "}"#, "empty"),
        (
            &*format!(r#"{{"text": "{}"}}"#, "가".repeat(501)),
            "at most 500",
        ),
        (r#"{"text": "two\nlines"}"#, "control character"),
        (
            r#"{"text": "hi", "expires_in_s": 10}"#,
            "a minute to a week",
        ),
        (
            r#"{"text": "hi", "expires_in_s": 999999999}"#,
            "a minute to a week",
        ),
        (r#"{"text": "hi", "colour": "red"}"#, "unknown field"),
        ("", "not a message"),
        ("not json", "not a message"),
    ] {
        let (status, v) = call(&srv, "POST", PATH, "admin-secret", bad).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{bad}: {v}");
    }
    // A body past any message's size is a 413 that names the limit.
    let huge = format!(r#"{{"text": "{}"}}"#, "x".repeat(20_000));
    let (status, v) = call(&srv, "POST", PATH, "admin-secret", &huge).await;
    assert_eq!(status, 413, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("at most 16384 bytes"),
        "{v}"
    );
    assert_eq!(
        texts(&srv, "acme-secret").await,
        ["점심 교대 12:30 시작합니다"]
    );

    // The newest first; a tenant shows at most 20 at once.
    for i in 1..20 {
        let b = format!(r#"{{"text": "message {i}"}}"#);
        assert_eq!(call(&srv, "POST", PATH, "admin-secret", &b).await.0, 201);
    }
    let (status, v) = call(
        &srv,
        "POST",
        PATH,
        "admin-secret",
        r#"{"text": "one too many"}"#,
    )
    .await;
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("delete one first"),
        "{v}"
    );
    let shown = texts(&srv, "acme-secret").await;
    assert_eq!(shown.len(), 20);
    assert_eq!(shown[0], "message 19");
    assert_eq!(shown[19], "점심 교대 12:30 시작합니다");

    // Deleted by its id: gone from every board; deleting again is a 404.
    let id = posted["id"].as_str().unwrap();
    let one = format!("{PATH}/{id}");
    assert_eq!(call(&srv, "DELETE", &one, "acme-secret", "").await.0, 403);
    assert_eq!(call(&srv, "DELETE", &one, "admin-secret", "").await.0, 204);
    assert_eq!(call(&srv, "DELETE", &one, "admin-secret", "").await.0, 404);
    assert!(
        !texts(&srv, "admin-secret")
            .await
            .iter()
            .any(|t| t.starts_with("점심"))
    );
    // Another tenant's token reads none of them.
    let (status, _) = call(
        &srv,
        "GET",
        "/api/v1/tenants/globex/messages",
        "acme-secret",
        "",
    )
    .await;
    assert_eq!(status, 403);
    // A tenant there is not (no figures, not in the config): 404 on every
    // verb, and nothing kept for it.
    for method in ["GET", "POST"] {
        let (status, v) = call(
            &srv,
            method,
            "/api/v1/tenants/nope/messages",
            "admin-secret",
            r#"{"text": "hello"}"#,
        )
        .await;
        assert_eq!(status, 404, "{method}: {v}");
        assert_eq!(v["error"], "no tenant `nope`", "{method}");
    }
    srv.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_in_the_history_store_outlive_a_restart() {
    let dir = std::env::temp_dir().join(format!("callboard-messages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let settings = || ServeSettings {
        engine: engine(1, 20),
        history: Some(HistorySettings {
            location: callboard::history::Location::Sqlite(dir.join("h.sqlite")),
            retention_days: 30,
        }),
        ..ServeSettings::default()
    };
    let first = Server::start(config(), settings()).await;
    let body = r#"{"text": "system maintenance at 18:00", "expires_in_s": 3600}"#;
    assert_eq!(
        call(&first, "POST", PATH, "admin-secret", body).await.0,
        201
    );
    let (status, _) = call(
        &first,
        "POST",
        PATH,
        "admin-secret",
        r#"{"text": "a minute only", "expires_in_s": 60}"#,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        texts(&first, "acme-secret").await,
        ["a minute only", "system maintenance at 18:00"]
    );
    first.stop.cancel();
    let _ = first.task.await;
    let second = Server::start(config(), settings()).await;
    assert_eq!(
        texts(&second, "acme-secret").await,
        ["a minute only", "system maintenance at 18:00"]
    );
    second.stop.cancel();
    let _ = std::fs::remove_dir_all(&dir);
}
