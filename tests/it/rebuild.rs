//! `callboard history rebuild`: days recomputed from a log equal what
//! `callboard replay --intervals` gives of them, whatever the source (NDJSON,
//! a queue_log and its rotated `.gz` predecessors, HTTP ingest's event log,
//! a Kafka topic); other days and other tenants keep what they had.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use callboard::cmd::rebuild::{RebuildOptions, RebuildSource, rebuild};
use callboard::cmd::replay::{ReplayOptions, replay_engine};
use callboard::config::Config;
use callboard::decode::Format;
use callboard::history::{Location, Store};
use callboard::sim::{SimConfig, Simulator};
use callboard::wire::{IntervalRow, encode_event};
use jiff::civil::Date;

use crate::store::{assert_same, expected, stored};

const CONFIG: &str = "[tenants.demo]\ntz = \"Asia/Seoul\"\n[tenants.other]\ntz = \"Asia/Seoul\"\n";

fn config() -> Arc<Config> {
    Arc::new(Config::parse(CONFIG, None, None).unwrap())
}

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callboard-rebuild-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// Five days of the demo tenant from 2026-11-01, Seoul time, as NDJSON.
fn five_days(tenant: &str, seed: u64) -> String {
    let start = callboard::time::parse_rfc3339("2026-11-01T00:00:00+09:00").unwrap();
    let mut sim = SimConfig::demo(start, seed);
    sim.tenant = tenant.into();
    let end = start + 5 * 86_400_000;
    Simulator::new(sim)
        .take_while(|e| e.ts < end)
        .map(|e| encode_event(&e) + "\n")
        .collect()
}

/// The rows `replay --intervals` gives of `text`'s days `from..=to`.
fn replayed_days(
    text: &str,
    format: Format,
    tenant: Option<&str>,
    from: &str,
    to: &str,
) -> Vec<IntervalRow> {
    let opts = ReplayOptions {
        format,
        tenant: tenant.map(String::from),
        at: None,
    };
    replay_engine(text.as_bytes(), config(), &opts, |_, _| {})
        .unwrap()
        .intervals(&opts)
        .into_iter()
        .filter(|r| {
            let day = match r {
                IntervalRow::Queue(q) => &q.start[..10],
                IntervalRow::Agent(a) => &a.start[..10],
                IntervalRow::Callback(c) => &c.day,
            };
            day >= from && day <= to
        })
        .collect()
}

/// `callboard history rebuild` of the days `from..=to` from one file.
async fn rebuild_files(
    store: &Store,
    (from, to): (&str, &str),
    path: PathBuf,
    format: Format,
    tenant: Option<String>,
) -> callboard::cmd::rebuild::Rebuilt {
    let source = RebuildSource::Files {
        paths: vec![path],
        format,
        tenant,
    };
    let opts = RebuildOptions {
        from: date(from),
        to: date(to),
        source,
    };
    rebuild(store, config(), opts).await.unwrap()
}

async fn sqlite(dir: &Path) -> Store {
    Store::open(&Location::Sqlite(dir.join("h.sqlite")))
        .await
        .unwrap()
}

/// Rebuilt days equal replay of them; a day outside the range and another
/// tenant keep what the store held, and a day in the range loses rows the
/// rebuild does not give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_days_equal_replay_and_nothing_else_moves() {
    let dir = workdir("ndjson");
    let store = sqlite(&dir).await;
    let text = five_days("demo", 1);
    std::fs::write(dir.join("five.ndjson"), &text).unwrap();
    // What the store held: another simulation's rows (other seed) for the
    // demo's 3rd and 5th, and another tenant's 3rd.
    let wrong = five_days("demo", 99);
    let other = five_days("other", 5);
    let held: Vec<IntervalRow> =
        replayed_days(&wrong, Format::Ndjson, None, "2026-11-03", "2026-11-05")
            .into_iter()
            .chain(replayed_days(
                &other,
                Format::Ndjson,
                None,
                "2026-11-03",
                "2026-11-03",
            ))
            .collect();
    store.write(&[], &held).await.unwrap();
    let fifth_before = stored(&store, "demo", "2026-11-05", "2026-11-05").await;
    let other_before = stored(&store, "other", "2026-11-03", "2026-11-03").await;

    let done = rebuild_files(
        &store,
        ("2026-11-02", "2026-11-04"),
        dir.join("five.ndjson"),
        Format::Ndjson,
        None,
    )
    .await;
    assert_eq!(done.days["demo"].len(), 3, "{done:?}");
    assert!(
        done.starts_within.is_empty(),
        "the source begins a day before"
    );
    let want = expected(&replayed_days(
        &text,
        Format::Ndjson,
        None,
        "2026-11-02",
        "2026-11-04",
    ));
    assert!(want.0.len() > 200 && want.1.len() > 200);
    assert_same(
        stored(&store, "demo", "2026-11-02", "2026-11-04").await,
        want.clone(),
    );
    assert_eq!(
        stored(&store, "demo", "2026-11-05", "2026-11-05").await,
        fifth_before
    );
    assert_eq!(
        stored(&store, "other", "2026-11-03", "2026-11-03").await,
        other_before
    );

    // Rebuilt again: the same rows (a rebuild is repeatable).
    rebuild_files(
        &store,
        ("2026-11-02", "2026-11-04"),
        dir.join("five.ndjson"),
        Format::Ndjson,
        Some("demo".into()),
    )
    .await;
    assert_same(
        stored(&store, "demo", "2026-11-02", "2026-11-04").await,
        want.clone(),
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The sample queue_log spread over three days and three files, the oldest
/// rotated and gzipped: read oldest first, it gives replay's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_log_is_read_after_its_rotated_predecessors() {
    let dir = workdir("queue-log");
    let store = sqlite(&dir).await;
    let sample = include_str!("../../samples/demo.queue_log");
    let ts = |l: &str| l.split('|').next().unwrap().parse::<i64>().unwrap();
    let first = ts(sample.lines().next().unwrap());
    // 2026-11-10T01:00:00Z, then a day later twice.
    let base = 1_794_272_400 - first;
    let day = |k: i64| -> String {
        sample
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split('|').map(String::from).collect();
                let shift = base + k * 86_400;
                f[0] = (ts(l) + shift).to_string();
                if let Some((int, frac)) = f[1].split_once('.')
                    && let Ok(int) = int.parse::<i64>()
                {
                    f[1] = format!("{}.{frac}", int + shift);
                }
                f.join("|") + "\n"
            })
            .collect()
    };
    let (a, b, c) = (day(0), day(1), day(2));
    let now = SystemTime::now();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("queue_log.2.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(a.as_bytes()).unwrap();
    gz.finish()
        .unwrap()
        .set_modified(now - Duration::from_secs(7200))
        .unwrap();
    let f = std::fs::File::create(dir.join("queue_log.1")).unwrap();
    (&f).write_all(b.as_bytes()).unwrap();
    f.set_modified(now - Duration::from_secs(3600)).unwrap();
    std::fs::write(dir.join("queue_log"), &c).unwrap();

    rebuild_files(
        &store,
        ("2026-11-10", "2026-11-12"),
        dir.join("queue_log"),
        Format::QueueLog,
        Some("pbx".into()),
    )
    .await;
    let all = format!("{a}{b}{c}");
    let want = expected(&replayed_days(
        &all,
        Format::QueueLog,
        Some("pbx"),
        "2026-11-10",
        "2026-11-12",
    ));
    assert!(want.0.len() >= 3, "three days of calls: {want:?}");
    assert_same(
        stored(&store, "pbx", "2026-11-10", "2026-11-12").await,
        want.clone(),
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// From HTTP ingest's event log, through the real binary: the service is
/// sent three days of events, stopped, and the days rebuilt into a store of
/// their own equal replay. Bad arguments get a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_rebuilds_the_days_it_holds() {
    let dir = workdir("event-log");
    std::fs::write(dir.join("c.toml"), CONFIG).unwrap();
    let text = five_days("demo", 3);
    let args: Vec<String> = [
        "--config",
        dir.join("c.toml").to_str().unwrap(),
        "--simulate-tenants",
        "0",
        "--history",
        "none",
        "--event-log",
        dir.join("events").to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let (mut serve, addr) = crate::support::spawn_serve(&args);
    for _ in 0..200 {
        if let Ok((200, _, _)) = crate::support::try_http(addr, "GET", "/readyz", &[], "").await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for chunk in text.lines().collect::<Vec<_>>().chunks(5000) {
        let (status, _, body) =
            crate::support::http(addr, "POST", "/api/v1/events", &[], &chunk.join("\n")).await;
        assert_eq!(status, 200, "{body}");
    }
    serve.kill().unwrap();
    serve.wait().unwrap();

    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_callboard"))
            .args(["history", "rebuild"])
            .args(args)
            .args(["--config", dir.join("c.toml").to_str().unwrap()])
            .args(["--history", dir.join("rebuilt.sqlite").to_str().unwrap()])
            .env_remove("CALLBOARD_CONFIG")
            .output()
            .unwrap()
    };
    let log = dir.join("events");
    let o = cli(&[
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-04",
        "--event-log",
        log.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("3 days of 1 tenant"), "{err}");
    let store = Store::open(&Location::Sqlite(dir.join("rebuilt.sqlite")))
        .await
        .unwrap();
    let want = expected(&replayed_days(
        &text,
        Format::Ndjson,
        None,
        "2026-11-02",
        "2026-11-04",
    ));
    assert_same(
        stored(&store, "demo", "2026-11-02", "2026-11-04").await,
        want.clone(),
    );
    store.close().await;

    for (args, says) in [
        (
            vec![
                "--from",
                "2026-11-04",
                "--to",
                "2026-11-02",
                "--event-log",
                log.to_str().unwrap(),
            ],
            "is after --to",
        ),
        (vec!["--from", "2026-11-02"], "required"),
        (
            vec!["--from", "2026-13-01", "--event-log", log.to_str().unwrap()],
            "--from",
        ),
        (
            vec![
                "--from",
                "2026-11-02",
                "--input",
                "x",
                "--format",
                "queue_log",
            ],
            "--tenant",
        ),
        (
            vec!["--from", "2026-11-02", "--event-log", "/nonexistent"],
            "no event log",
        ),
    ] {
        let o = cli(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// From a Kafka topic, by time: the messages from two days before the
/// first day asked for, on librdkafka's mock cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_topic_rebuilds_the_days_it_holds() {
    let mock = rdkafka::mocking::MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("rebuild.events", 2, 1).unwrap();
    let start = callboard::time::parse_rfc3339("2026-11-01T00:00:00+09:00").unwrap();
    let mut sim = SimConfig::demo(start, 4);
    sim.tenant = "demo".into();
    // A small center: the mock cluster keeps about 32,000 messages a
    // partition.
    sim.agents = 6;
    sim.peak_calls_per_hour = 40.0;
    let events: Vec<_> = Simulator::new(sim)
        .take_while(|e| e.ts < start + 3 * 86_400_000)
        .collect();
    assert!(events.len() < 30_000, "{} events", events.len());
    let text: String = events.iter().map(|e| encode_event(e) + "\n").collect();
    // Sent now: every message is after the time the rebuild looks from, so
    // it reads them all (a topic of months would be read from its day).
    callboard::kafka::produce(&brokers, "rebuild.events", events.into_iter(), 0, false)
        .await
        .unwrap();
    let dir = workdir("kafka");
    let store = sqlite(&dir).await;
    rebuild(
        &store,
        config(),
        RebuildOptions {
            from: date("2026-11-02"),
            to: date("2026-11-03"),
            source: RebuildSource::Kafka {
                brokers,
                topic: "rebuild.events".into(),
            },
        },
    )
    .await
    .unwrap();
    let want = expected(&replayed_days(
        &text,
        Format::Ndjson,
        None,
        "2026-11-02",
        "2026-11-03",
    ));
    assert!(want.0.len() > 50, "{} queue rows", want.0.len());
    assert_same(
        stored(&store, "demo", "2026-11-02", "2026-11-03").await,
        want.clone(),
    );
    store.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
