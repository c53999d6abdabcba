//! `callboard serve --queue-log`: the service follows a queue_log as
//! Asterisk writes it (a file that appears, appends, a rename rotation, a
//! copytruncate rotation, NUL runs), is killed and restarted in the middle,
//! and ends with the snapshot `callboard replay` computes from every line.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use callboard::config::Config;
use callboard::decode::Format;
use callboard::wire::Snapshot;

use crate::support::http;
use crate::support::sample_lines as lines;
use crate::support::server::now_ms;

pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// `callboard serve` following `path` as tenant `pbx`, with `extra`
/// arguments (`--history none` when they name no store).
pub fn start(path: &Path, port: u16, extra: &[&str]) -> Child {
    let history: &[&str] = if extra.contains(&"--history") {
        &[]
    } else {
        &["--history", "none"]
    };
    Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--event-log", "none"])
        .args(["--queue-log", path.to_str().unwrap(), "--tenant", "pbx"])
        .args(["--publish-interval-ms", "50", "--log", "warn"])
        .args(history)
        .args(extra)
        .env_remove("CALLBOARD_CONFIG")
        .env_remove("CALLBOARD_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start callboard serve")
}

/// The served snapshot once it counts `inbound` calls.
pub async fn served(port: u16, inbound: u64) -> Snapshot {
    let addr = ([127, 0, 0, 1], port).into();
    let mut last = String::new();
    for _ in 0..300 {
        let got = tokio::time::timeout(
            Duration::from_secs(2),
            try_get(addr, "/api/v1/tenants/pbx/snapshot"),
        )
        .await;
        if let Ok(Ok((200, _, body))) = got {
            let s: Snapshot = serde_json::from_str(&body).unwrap();
            if s.totals.inbound == inbound {
                return s;
            }
            last = format!("inbound {}", s.totals.inbound);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the followed log never showed {inbound} inbound calls; last: {last}");
}

/// A GET that tolerates a server not up yet.
pub async fn try_get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String, String), ()> {
    if tokio::net::TcpStream::connect(addr).await.is_err() {
        return Err(());
    }
    Ok(http(addr, "GET", path, &[], "").await)
}

fn replayed(text: &str) -> Snapshot {
    crate::support::replayed(
        text,
        Arc::new(Config::default()),
        Format::QueueLog,
        "pbx",
        Some(now_ms()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_queue_log_ends_as_replay_of_its_lines_through_rotations_and_a_kill() {
    let dir = std::env::temp_dir().join(format!("callboard-follow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("queue_log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lines = lines();
    let (a, rest) = lines.split_at(lines.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let all: String = lines.concat();

    // The file does not exist yet when the service starts.
    let mut serve = start(&log, port, &[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for l in a {
        append(&log, l);
    }
    let inbound_a = replayed(&a.concat()).totals.inbound;
    served(port, inbound_a).await;

    // Rotation by rename, then a new file that starts with a NUL run (an
    // Asterisk that stopped uncleanly).
    std::fs::rename(&log, dir.join("queue_log.1")).unwrap();
    append(&log, &"\0".repeat(5000));
    for l in b {
        append(&log, l);
    }
    let ab = format!("{}{}", a.concat(), b.concat());
    served(port, replayed(&ab).totals.inbound).await;

    // Killed, restarted: it rebuilds from queue_log.1 and queue_log.
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut serve = start(&log, port, &[]);
    served(port, replayed(&ab).totals.inbound).await;

    // copytruncate: the file copied away and emptied in place.
    std::fs::copy(&log, dir.join("queue_log-20261122")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    for l in c {
        append(&log, l);
    }
    let expected = replayed(&all);
    let got = served(port, expected.totals.inbound).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let t = (&got.totals, &expected.totals);
    assert_eq!(
        (
            t.0.inbound,
            t.0.answered,
            t.0.abandoned,
            t.0.exited,
            t.0.callbacks
        ),
        (
            t.1.inbound,
            t.1.answered,
            t.1.abandoned,
            t.1.exited,
            t.1.callbacks
        )
    );
    assert_eq!(got.totals.waiting, expected.totals.waiting);
    assert_eq!(got.agents, expected.agents);
    assert_eq!(got.queues.len(), expected.queues.len());
    for (g, e) in got.queues.iter().zip(&expected.queues) {
        assert_eq!(
            (&g.queue, g.stats.inbound, g.stats.answered),
            (&e.queue, e.stats.inbound, e.stats.answered)
        );
    }
}
