//! `callboard history backup` and `restore`: a copy taken while the service
//! writes is sound, and a store restored from it, once the service has read
//! its event log again, reports what the original did.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use callboard::cmd::serve::settings::{HistorySettings, ServeSettings};
use callboard::config::{Config, Fsync};
use callboard::history::backup;
use callboard::sources::event_log::EventLogSettings;

use crate::support::http;
use crate::support::server::{Server, engine, now_ms};

fn settings(dir: &Path) -> ServeSettings {
    ServeSettings {
        engine: engine(1, 20),
        history: Some(HistorySettings {
            location: callboard::history::Location::Sqlite(dir.join("h.sqlite")),
            retention_days: 30,
        }),
        event_log: Some(EventLogSettings {
            dir: dir.join("events"),
            fsync: Fsync::Never,
            retention_days: 2,
        }),
        ..ServeSettings::default()
    }
}

/// A batch of calls queued and abandoned a few seconds later, in two
/// queues (no agents: nothing runs on between two reads).
fn batch(i: usize) -> String {
    let now = now_ms() - 30_000;
    (0..10)
        .flat_map(|k| {
            let call = format!("b{i}-{k}");
            let q = format!("q{}", k % 2);
            [
                format!(r#"{{"v":1,"id":"{call}-q","ts":{now},"tenant":"acme","type":"call.queued","call":"{call}","queue":"{q}"}}"#),
                format!(r#"{{"v":1,"id":"{call}-a","ts":{},"tenant":"acme","type":"call.abandoned","call":"{call}","queue":"{q}"}}"#, now + 1000 + k as i64 * 500),
            ]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn stored(dir: &Path) -> crate::store::Queues {
    let store = callboard::history::Store::open(&callboard::history::Location::Sqlite(
        dir.join("h.sqlite"),
    ))
    .await
    .unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let (from, to) = (today.yesterday().unwrap().to_string(), today.to_string());
    let (queues, _) = crate::store::stored(&store, "acme", &from, &to).await;
    store.close().await;
    queues
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writing_restores_to_the_same_reports() {
    let dir = std::env::temp_dir().join(format!("callboard-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let srv = Server::start(Config::default(), settings(&dir)).await;

    // Events keep coming while copies are taken, over more than one of the
    // writer's rounds (every 5 s).
    let posting = Arc::new(AtomicBool::new(true));
    let poster = {
        let (addr, posting) = (srv.addr, posting.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while posting.load(Ordering::Relaxed) {
                let (status, _, body) = http(addr, "POST", "/api/v1/events", &[], &batch(i)).await;
                assert_eq!(status, 200, "{body}");
                i += 1;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            i
        })
    };
    let store = dir.join("h.sqlite");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut copies = Vec::new();
    for n in 0..12 {
        let out = dir.join(format!("copy-{n}.sqlite"));
        let copied = backup::backup(&store, &out).await.unwrap();
        assert!(
            copied
                .rows
                .iter()
                .any(|(t, n)| t == "queue_intervals" && *n > 0),
            "{copied:?}"
        );
        copies.push(out);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    posting.store(false, Ordering::Relaxed);
    let batches = poster.await.unwrap();
    assert!(
        batches > 50,
        "events were written throughout: {batches} batches"
    );
    // A copy is never overwritten, and leaves nothing half-made behind.
    let again = backup::backup(&store, &copies[0]).await.unwrap_err();
    assert!(
        format!("{again:#}").contains("never overwrites"),
        "{again:#}"
    );
    assert!(!dir.join("copy-0.sqlite.partial").exists());

    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
    let original = stored(&dir).await;
    let calls: i64 = original.values().map(|v| v[0]).sum();
    assert_eq!(
        calls,
        batches as i64 * 10,
        "every call is in the original's report"
    );

    // The store lost; the last copy (taken while writing) put back; the
    // service reads its event log again and rewrites what came after.
    let refused = backup::restore(copies.last().unwrap(), &store, false)
        .await
        .unwrap_err();
    assert!(format!("{refused:#}").contains("--force"), "{refused:#}");
    let restored = backup::restore(copies.last().unwrap(), &store, true)
        .await
        .unwrap();
    assert!(restored.schema >= 8);
    assert!(
        stored(&dir).await != original,
        "the copy predates the last events"
    );
    let srv = Server::start(Config::default(), settings(&dir)).await;
    for _ in 0..200 {
        if http(srv.addr, "GET", "/readyz", &[], "").await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
    assert_eq!(
        stored(&dir).await,
        original,
        "the reports of the restored store"
    );

    // Not a store: refused, nothing replaced.
    let junk = dir.join("junk.sqlite");
    std::fs::write(&junk, "not a database").unwrap();
    let e = backup::restore(&junk, &store, true).await.unwrap_err();
    assert!(format!("{e:#}").contains("not an SQLite database"), "{e:#}");
    assert_eq!(stored(&dir).await, original);
    let _ = std::fs::remove_dir_all(&dir);
}
