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
            if s.totals.calls.inbound == inbound {
                return s;
            }
            last = format!("inbound {}", s.totals.calls.inbound);
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
    let inbound_a = replayed(&a.concat()).totals.calls.inbound;
    served(port, inbound_a).await;

    // Rotation by rename, then a new file that starts with a NUL run (an
    // Asterisk that stopped uncleanly).
    std::fs::rename(&log, dir.join("queue_log.1")).unwrap();
    append(&log, &"\0".repeat(5000));
    for l in b {
        append(&log, l);
    }
    let ab = format!("{}{}", a.concat(), b.concat());
    served(port, replayed(&ab).totals.calls.inbound).await;

    // Killed, restarted: it rebuilds from queue_log.1 and queue_log.
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut serve = start(&log, port, &[]);
    served(port, replayed(&ab).totals.calls.inbound).await;

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
    let got = served(port, expected.totals.calls.inbound).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let t = (&got.totals, &expected.totals);
    assert_eq!(
        (
            t.0.calls.inbound,
            t.0.calls.answered,
            t.0.calls.abandoned,
            t.0.calls.exited,
            t.0.calls.callbacks
        ),
        (
            t.1.calls.inbound,
            t.1.calls.answered,
            t.1.calls.abandoned,
            t.1.calls.exited,
            t.1.calls.callbacks
        )
    );
    assert_eq!(got.totals.waiting, expected.totals.waiting);
    assert_eq!(got.agents, expected.agents);
    assert_eq!(got.queues.len(), expected.queues.len());
    for (g, e) in got.queues.iter().zip(&expected.queues) {
        assert_eq!(
            (&g.queue, g.stats.calls.inbound, g.stats.calls.answered),
            (&e.queue, e.stats.calls.inbound, e.stats.calls.answered)
        );
    }
}

/// `callboard serve` following `path` as tenant `pbx`, on a port the system
/// picks: the child and its address.
fn spawn_following(path: &Path) -> (Child, std::net::SocketAddr) {
    let args: Vec<String> = [
        "--queue-log",
        path.to_str().unwrap(),
        "--tenant",
        "pbx",
        "--publish-interval-ms",
        "50",
        "--history",
        "none",
        "--event-log",
        "none",
        "--simulate-tenants",
        "0",
    ]
    .map(String::from)
    .to_vec();
    crate::support::spawn_serve(&args)
}

/// `/readyz`'s answer, once the service answers at all.
async fn readyz(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    for _ in 0..200 {
        if let Ok((status, _, body)) = try_get(addr, "/readyz").await {
            return (status, serde_json::from_str(&body).unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service never answered");
}

/// `pbx`'s snapshot once `ok` holds of it.
async fn pbx_when(addr: std::net::SocketAddr, ok: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let mut last = String::new();
    for _ in 0..400 {
        if let Ok((200, _, body)) = try_get(addr, "/api/v1/tenants/pbx/snapshot").await {
            let s: Snapshot = serde_json::from_str(&body).unwrap();
            if ok(&s) {
                return s;
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "pbx never got there; last: {}",
        &last[..last.len().min(300)]
    );
}

/// CPU seconds a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// SIGTERM, and the exit it leads to within `within`.
fn terminate(mut child: Child, within: Duration) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let due = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > due {
            let _ = child.kill();
            panic!("SIGTERM did not stop the service within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A followed path that is a directory: the service goes on serving
/// (ready, HTTP ingest answering), the site's tenant is shown stale and the
/// failure is in `/readyz` and `/metrics`; once the path is a file, the
/// tenant is live with replay's figures. The path replaced by a directory
/// and by a file again while followed: the new file is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_a_directory_is_its_tenants_failure_only() {
    let dir = std::env::temp_dir().join(format!("callboard-follow-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("queue_log")).unwrap();
    let log = dir.join("queue_log");
    let (child, addr) = spawn_following(&log);
    let (status, ready) = readyz(addr).await;
    assert_eq!(status, 200, "{ready}");
    let stale = pbx_when(addr, |s| s.status == callboard::wire::Status::Stale).await;
    assert_eq!(stale.totals.calls.inbound, 0);
    for _ in 0..100 {
        if readyz(addr).await.1["failing"]["queue_log:pbx"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, ready) = readyz(addr).await;
    assert!(
        ready["failing"]["queue_log:pbx"]
            .as_str()
            .unwrap()
            .contains("a directory"),
        "{ready}"
    );
    let (_, _, metrics) = http(addr, "GET", "/metrics", &[], "").await;
    assert_eq!(
        crate::support::metric(
            &metrics,
            r#"callboard_source_failing{source="queue_log:pbx"}"#
        ),
        1.0
    );
    let event = format!(
        r#"{{"v":1,"id":"x","ts":{},"tenant":"acme","type":"call.ivr","call":"c"}}"#,
        now_ms() - 1000
    );
    let (status, _, body) = http(addr, "POST", "/api/v1/events", &[], &event).await;
    assert_eq!(status, 200, "HTTP ingest goes on: {body}");

    // The directory goes, a file comes: read, live, failure cleared.
    std::fs::remove_dir(&log).unwrap();
    let lines = lines();
    let (a, b) = lines.split_at(lines.len() / 2);
    for l in a {
        append(&log, l);
    }
    let want = replayed(&a.concat());
    let s = pbx_when(addr, |s| {
        s.status == callboard::wire::Status::Live
            && s.totals.calls.inbound == want.totals.calls.inbound
    })
    .await;
    assert_eq!(s.totals.calls.answered, want.totals.calls.answered);
    let (_, ready) = readyz(addr).await;
    assert!(ready.get("failing").is_none(), "{ready}");

    // Followed, then replaced by a directory, then by a file again.
    std::fs::rename(&log, dir.join("queue_log.1")).unwrap();
    std::fs::create_dir(&log).unwrap();
    pbx_when(addr, |s| s.status == callboard::wire::Status::Stale).await;
    std::fs::remove_dir(&log).unwrap();
    for l in b {
        append(&log, l);
    }
    let want = replayed(&lines.concat());
    let s = pbx_when(addr, |s| {
        s.status == callboard::wire::Status::Live
            && s.totals.calls.inbound == want.totals.calls.inbound
    })
    .await;
    assert_eq!(
        (s.totals.calls.answered, s.totals.calls.abandoned),
        (want.totals.calls.answered, want.totals.calls.abandoned)
    );
    assert!(terminate(child, Duration::from_secs(10)).success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A followed path that is a link to `/dev/zero`, or a named pipe: never
/// opened (a device never ends, a pipe blocks its open), shown stale, no
/// core spent on it, and SIGTERM ends the service at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_or_a_pipe_is_never_read() {
    let dir = std::env::temp_dir().join(format!("callboard-follow-dev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zero = dir.join("zero_log");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.join("fifo_log");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, what) in [(&zero, "a device"), (&fifo, "a named pipe")] {
        let (child, addr) = spawn_following(path);
        let (status, _) = readyz(addr).await;
        assert_eq!(status, 200, "{what}");
        pbx_when(addr, |s| s.status == callboard::wire::Status::Stale).await;
        let (_, ready) = readyz(addr).await;
        assert!(
            ready["failing"]["queue_log:pbx"]
                .as_str()
                .unwrap_or("")
                .contains(what),
            "{what}: {ready}"
        );
        let before = cpu_seconds(child.id());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let spent = cpu_seconds(child.id()) - before;
        assert!(spent < 0.5, "{what}: {spent} s of CPU in 2 s");
        assert!(terminate(child, Duration::from_secs(8)).success(), "{what}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A rotated predecessor cut short (logrotate still compressing it): the
/// source fails and is tried again; once the file is whole, the tenant is
/// live with every line counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_file_cut_short_is_read_again_once_whole() {
    let dir = std::env::temp_dir().join(format!("callboard-follow-gz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("queue_log");
    let lines = lines();
    let (a, b) = lines.split_at(lines.len() / 2);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(a.concat().as_bytes()).unwrap();
    let whole = gz.finish().unwrap();
    let rotated = dir.join("queue_log.1.gz");
    std::fs::write(&rotated, &whole[..whole.len() / 2]).unwrap();
    for l in b {
        append(&log, l);
    }
    let (child, addr) = spawn_following(&log);
    pbx_when(addr, |s| s.status == callboard::wire::Status::Stale).await;
    let (_, ready) = readyz(addr).await;
    assert!(ready["failing"]["queue_log:pbx"].is_string(), "{ready}");
    std::fs::write(&rotated, &whole).unwrap();
    let want = replayed(&lines.concat());
    let s = pbx_when(addr, |s| {
        s.status == callboard::wire::Status::Live
            && s.totals.calls.inbound == want.totals.calls.inbound
    })
    .await;
    assert_eq!(s.totals.calls.answered, want.totals.calls.answered);
    assert!(terminate(child, Duration::from_secs(10)).success());
    std::fs::remove_dir_all(&dir).unwrap();
}
