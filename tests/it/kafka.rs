//! The Kafka path against librdkafka's in-process mock cluster (it speaks
//! the real protocol): a trace produced to the topic, served, read over REST
//! and compared with `callboard replay` of the same events.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::serve::settings::ServeSettings;
use callboard::config::Config;
use callboard::decode::Format;
use callboard::kafka::KafkaOptions;
use callboard::kafka::produce;
use callboard::sim::{SimConfig, Simulator};
use callboard::wire::{Snapshot, encode_event};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::metric;
use crate::support::server::{Server, engine, now_ms};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = crate::support::http(addr, "GET", path, &[], "").await;
    (status, body)
}

/// The events topic `callboard.events` read by `group`, without a state or
/// a snapshot topic.
fn options(brokers: &str, group: &str) -> KafkaOptions {
    KafkaOptions {
        brokers: brokers.to_string(),
        topic: "callboard.events".into(),
        group: group.into(),
        dlq_topic: "callboard.events.dlq".into(),
        max_event_bytes: 65536,
        max_clock_skew_ms: 300_000,
        state_topic: None,
        snapshot_topic: None,
        rebuild_margin_ms: 0,
    }
}

async fn serve(brokers: &str, config: Arc<Config>) -> Server {
    let settings = ServeSettings {
        engine: engine(2, 50),
        kafka: Some(options(brokers, "callboard-test")),
        ..ServeSettings::default()
    };
    Server::start(Config::clone(&config), settings).await
}

/// Waits for readiness and for the snapshot to show `inbound` calls.
async fn served(addr: std::net::SocketAddr, inbound: u64) -> Snapshot {
    let mut last = String::new();
    for _ in 0..1200 {
        if get(addr, "/readyz").await.0 == 200 {
            let (status, body) = get(addr, "/api/v1/tenants/demo/snapshot").await;
            last = format!("{status} {}", &body[..body.len().min(300)]);
            if status == 200 {
                let s: Snapshot = serde_json::from_str(&body).unwrap();
                if s.totals.calls.inbound == inbound && s.status == callboard::wire::Status::Live {
                    return s;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the service never showed {inbound} inbound calls; last: {last}; ready: {:?}",
        get(addr, "/readyz").await
    );
}

/// Produces messages `(key, payload, time)`, each stamped with its time
/// (as if sent then), and waits for them to be delivered.
/// `acme`'s call `c1` queued a second ago, on `callboard.events`.
async fn queue_a_call(brokers: &str, id: &str) {
    let line = format!(
        r#"{{"v":1,"id":"{id}","ts":{},"tenant":"acme","type":"call.queued","call":"c1","queue":"q"}}"#,
        now_ms() - 1_000
    );
    produce_stamped(
        brokers,
        "callboard.events",
        &[("acme".into(), line, now_ms())],
    )
    .await;
}

async fn produce_stamped(brokers: &str, topic: &str, messages: &[(String, String, i64)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut sends = Vec::new();
    for (key, payload, ts) in messages {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .timestamp(*ts);
        match producer.send_result(record) {
            Ok(delivery) => sends.push(delivery),
            Err((e, _)) => panic!("{e}"),
        }
    }
    for s in sends {
        s.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
}

fn replay_at(ndjson: &str, config: Arc<Config>, at: i64) -> Snapshot {
    crate::support::replayed(ndjson, config, Format::Ndjson, "demo", Some(at))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_trace_is_served_as_replay_computes_it_and_restarts_count_nothing_twice() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 2, 1).unwrap();
    // The mock has no admin API: the dead-letter topic exists up front.
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();

    // Two hours of the demo tenant, ending a minute ago.
    let start = now_ms() - 2 * 3_600_000;
    let end = now_ms() - 60_000;
    let mut sim = SimConfig::demo(start, 11);
    sim.tz = "UTC".into();
    let events: Vec<_> = Simulator::new(sim).take_while(|e| e.ts < end).collect();
    let ndjson: String = events.iter().map(|e| encode_event(e) + "\n").collect();
    let n = produce(&brokers, "callboard.events", events.into_iter(), 0, false)
        .await
        .unwrap();
    assert!(n > 100);

    // One message that is not an event: it must reach the dead-letter topic.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let send = |payload: &'static str| {
        let producer = producer.clone();
        async move {
            producer
                .send(
                    FutureRecord::to("callboard.events")
                        .key("demo")
                        .payload(payload),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
    };
    send("not json {").await;
    // A producer whose clock runs years ahead: rejected, dead-lettered, and
    // the tenant's day does not move (served still equals replay).
    send(r#"{"v":1,"id":"ahead","ts":"9999-12-31T00:00:00Z","tenant":"demo","type":"call.queued","call":"x","queue":"q"}"#).await;
    // Keyed by one tenant, about another: its owner is not this partition's.
    send(r#"{"v":1,"id":"stray","ts":0,"tenant":"elsewhere","type":"call.ivr","call":"x"}"#).await;
    // A call of three days ago, after today's: the engine refuses it (its
    // day is closed), and it is dead-lettered as well.
    let old = format!(
        r#"{{"v":1,"id":"old","ts":{},"tenant":"demo","type":"call.queued","call":"old","queue":"q"}}"#,
        now_ms() - 3 * 86_400_000
    );
    send(Box::leak(old.into_boxed_str())).await;

    let config = Arc::new(Config::parse("", Some("UTC"), None).unwrap());
    let expected_inbound = replay_at(&ndjson, config.clone(), end).totals.calls.inbound;
    let first = serve(&brokers, config.clone()).await;
    let s = served(first.addr, expected_inbound).await;
    assert_eq!(
        s,
        replay_at(&ndjson, config.clone(), s.at.0),
        "served = replayed"
    );

    // Restart with the same group: the state is rebuilt, nothing doubles.
    first.stop.cancel();
    first.task.await.unwrap().unwrap();
    let second = serve(&brokers, config.clone()).await;
    let s = served(second.addr, expected_inbound).await;
    assert_eq!(
        s,
        replay_at(&ndjson, config.clone(), s.at.0),
        "after restart"
    );

    // The bad message was copied with its error.
    let dlq: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dlq.subscribe(&["callboard.events.dlq"]).unwrap();
    // Each bad message once: the restart's rebuild re-read them below the
    // committed offset and copied none of them again.
    let mut reasons = Vec::new();
    // Up to 15 s for the reader to join and read the first; then 2 s of
    // silence means there are no more.
    let mut quiet = -130;
    while quiet < 20 {
        match dlq.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                quiet = quiet.max(0);
                let reason = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "callboard-error-reason"))
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()));
                reasons.push(reason.unwrap_or_default());
            }
            _ => quiet += 1,
        }
    }
    reasons.sort();
    assert_eq!(
        reasons,
        ["future_ts", "invalid_field", "invalid_json", "too_old"],
        "dead-letter messages"
    );
    let (status, _) = get(second.addr, "/api/v1/tenants/elsewhere/snapshot").await;
    assert_eq!(
        status, 404,
        "an event keyed by another tenant counts nowhere"
    );
    let (_, metrics) = get(second.addr, "/metrics").await;
    assert!(
        metrics
            .contains(r#"callboard_events_rejected_total{source="kafka",reason="invalid_json"}"#),
        "rejections counted"
    );
    // The restart's rebuild says what it read and how long it took.
    let gauge = |series: &str| metric(&metrics, series);
    assert!(gauge(r#"callboard_kafka_rebuild_events{topic="callboard.events"}"#) > 0.0);
    assert!(gauge(r#"callboard_kafka_rebuild_duration_seconds{topic="callboard.events"}"#) > 0.0);
    second.stop.cancel();
    second.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_down_snapshots_are_served_stale_then_live_again() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 1, 1).unwrap();
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();
    let start = now_ms() - 600_000;
    let mut sim = SimConfig::demo(start, 2);
    sim.tz = "UTC".into();
    let events: Vec<_> = Simulator::new(sim)
        .take_while(|e| e.ts < now_ms() - 1000)
        .collect();
    produce(&brokers, "callboard.events", events.into_iter(), 0, false)
        .await
        .unwrap();
    let config = Arc::new(Config::parse("", Some("UTC"), None).unwrap());
    let srv = serve(&brokers, config).await;

    let status_is = |want: &'static str| {
        let addr = srv.addr;
        async move {
            for _ in 0..600 {
                let (code, body) = get(addr, "/api/v1/tenants/demo/snapshot").await;
                if code == 200 && body.contains(&format!("\"status\":\"{want}\"")) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(status_is("live").await, "never live");
    mock.broker_down(1).unwrap();
    assert!(
        status_is("stale").await,
        "not marked stale with the broker down"
    );
    let (code, _) = get(srv.addr, "/api/v1/tenants/demo/snapshot").await;
    assert_eq!(code, 200, "the last snapshot is still served");
    mock.broker_up(1).unwrap();
    assert!(
        status_is("live").await,
        "not live again after the broker came back"
    );
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// A mock cluster with the events topic, and `callboard forward`'s settings
/// for a queue_log of tenant `pbx` in a folder of its own.
struct Forwarding {
    mock: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    brokers: String,
    dir: std::path::PathBuf,
    log: std::path::PathBuf,
    settings: callboard::cmd::forward::ForwardSettings,
}

fn forwarding(name: &str) -> Forwarding {
    use callboard::cmd::forward::ForwardSettings;
    use callboard::sources::queue_log::QueueLogSource;
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 1, 1).unwrap();
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();
    let dir = std::env::temp_dir().join(format!("callboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("queue_log");
    let settings = ForwardSettings {
        source: QueueLogSource {
            path: log.clone(),
            tenant: "pbx".into(),
        },
        brokers: brokers.clone(),
        topic: "callboard.events".into(),
        state: ForwardSettings::default_state(&log),
    };
    Forwarding {
        mock,
        brokers,
        dir,
        log,
        settings,
    }
}

/// `callboard forward`: a site's queue_log produced to the topic through a
/// broker outage, a restart of the forwarder (with lines written while it
/// was down) and a SIGKILL of it, then served by the engine: the snapshot
/// equals replay of the lines, and a clean restart sends nothing but the
/// lines of the resume second twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_queue_log_lines_count_once_through_an_outage_and_a_restart() {
    use crate::follow::append;
    use callboard::cmd::forward::run as forward;
    use tokio_util::sync::CancellationToken;

    let Forwarding {
        mock,
        brokers,
        dir,
        log,
        settings,
    } = forwarding("forward");
    let config = Arc::new(Config::parse("", Some("UTC"), None).unwrap());
    let lines = crate::support::sample_lines();
    let parts: Vec<&[String]> = lines.chunks(lines.len().div_ceil(4)).collect();
    let last_ts = |part: &[String]| -> i64 {
        part.last()
            .unwrap()
            .split('|')
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            * 1000
    };
    let delivered_to = |want: i64| {
        let state = settings.state.clone();
        async move {
            for _ in 0..400 {
                if let Ok(t) = std::fs::read_to_string(&state)
                    && serde_json::from_str::<serde_json::Value>(&t).unwrap()["delivered_to"]
                        .as_i64()
                        .unwrap()
                        >= want
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("never delivered up to {want}");
        }
    };

    for l in parts[0] {
        append(&log, l);
    }
    let stop = CancellationToken::new();
    let first = tokio::spawn(forward(settings.clone(), config.clone(), stop.clone()));
    delivered_to(last_ts(parts[0])).await;
    // The broker goes away while lines are written; they wait and go.
    mock.broker_down(1).unwrap();
    for l in parts[1] {
        append(&log, l);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    mock.broker_up(1).unwrap();
    delivered_to(last_ts(parts[1])).await;
    stop.cancel();
    first.await.unwrap().unwrap();

    // Lines written while the forwarder is stopped go when it is back.
    for l in parts[2] {
        append(&log, l);
    }
    let stop = CancellationToken::new();
    let second = tokio::spawn(forward(settings.clone(), config.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for l in parts[3] {
        append(&log, l);
    }
    delivered_to(last_ts(parts[3])).await;
    stop.cancel();
    second.await.unwrap().unwrap();

    // Every line's events once, plus at most the resume second's again.
    let mut decoder = callboard::decode::QueueLogDecoder::new("pbx", &config.tenant("pbx"));
    let events: usize = lines
        .iter()
        .map(|l| decoder.decode_line(l.trim_end()).map_or(0, |e| e.len()))
        .sum();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let (low, high) = consumer
        .fetch_watermarks("callboard.events", 0, Duration::from_secs(10))
        .unwrap();
    let messages = (high - low) as usize;
    assert!(
        messages >= events && messages <= events + 12,
        "{messages} messages for {events} events"
    );

    // Killed with SIGKILL as a process of its own, right after more lines:
    // whatever it had not recorded goes again, and counts once.
    let now_s = now_ms() / 1000;
    let extra = |from: i64, n: i64| -> Vec<String> {
        (from..from + n)
            .flat_map(|k| {
                [
                    format!(
                        "{}|x{k}|support|NONE|ENTERQUEUE||010555{k}|1\n",
                        now_s - 20 + k % 10
                    ),
                    format!("{}|x{k}|support|NONE|ABANDON|1|1|1\n", now_s - 19 + k % 10),
                ]
            })
            .collect()
    };
    let (more, last) = (extra(0, 5), extra(5, 5));
    for l in &more {
        append(&log, l);
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callboard"))
        .args([
            "forward",
            "--queue-log",
            log.to_str().unwrap(),
            "--tenant",
            "pbx",
        ])
        .args(["--kafka-brokers", &brokers, "--log", "warn"])
        .env_remove("CALLBOARD_CONFIG")
        .spawn()
        .unwrap();
    delivered_to(last_ts(&more)).await;
    for l in &last {
        append(&log, l);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stop = CancellationToken::new();
    let third = tokio::spawn(forward(settings.clone(), config.clone(), stop.clone()));
    delivered_to(last_ts(&last)).await;
    stop.cancel();
    third.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let srv = serve(&brokers, config.clone()).await;
    let all: String = lines.concat() + &more.concat() + &last.concat();
    let expected = crate::support::replayed(
        &all,
        config.clone(),
        Format::QueueLog,
        "pbx",
        Some(now_ms()),
    );
    let mut got = None;
    for _ in 0..600 {
        let (code, body) = get(srv.addr, "/api/v1/tenants/pbx/snapshot").await;
        if code == 200 {
            let s: Snapshot = serde_json::from_str(&body).unwrap();
            if s.totals.calls.inbound == expected.totals.calls.inbound
                && s.status == callboard::wire::Status::Live
            {
                got = Some(s);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = got.expect("the forwarded lines were never served");
    let (g, e) = (&got.totals, &expected.totals);
    assert_eq!(
        (
            g.calls.inbound,
            g.calls.answered,
            g.calls.abandoned,
            g.calls.exited,
            g.waiting
        ),
        (
            e.calls.inbound,
            e.calls.answered,
            e.calls.abandoned,
            e.calls.exited,
            e.waiting
        )
    );
    assert_eq!(got.agents, expected.agents);
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
}

/// Positioning a partition by time finds the first message sent at or
/// after that time, on a partition holding four days of messages, whatever
/// the broker answers to offsets-for-times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_is_positioned_at_the_first_message_of_a_time() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("callboard=debug")
        .try_init();
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("timed", 1, 1).unwrap();
    // Four days, a message every 5 minutes, two of them at each time.
    let step = 300_000;
    let start = now_ms() - 4 * 86_400_000;
    let times: Vec<i64> = (0..4 * 288)
        .flat_map(|k| [start + k * step, start + k * step])
        .collect();
    let messages: Vec<(String, String, i64)> = times
        .iter()
        .map(|&ts| ("t".into(), "{}".into(), ts))
        .collect();
    produce_stamped(&brokers, "timed", &messages).await;
    let high = times.len() as i64;
    let find = |t: i64| {
        let brokers = brokers.clone();
        tokio::task::spawn_blocking(move || {
            callboard::kafka::offset_at_time(
                &brokers,
                "timed",
                0,
                t,
                (0, high),
                Duration::from_secs(10),
            )
            .unwrap()
        })
    };
    for t in [
        start - 1,
        start,
        start + 1,
        start + 2 * 86_400_000,
        start + 2 * 86_400_000 + 1,
        times[times.len() - 1],
        times[times.len() - 1] + 1,
    ] {
        let want = times.iter().position(|&ts| ts >= t).unwrap_or(times.len()) as i64;
        assert_eq!(find(t).await.unwrap(), want, "t = start + {} ms", t - start);
    }
    // A part of the log only (the retained part, say).
    let got = tokio::task::spawn_blocking({
        let brokers = brokers.clone();
        move || {
            callboard::kafka::offset_at_time(
                &brokers,
                "timed",
                0,
                start,
                (100, high),
                Duration::from_secs(10),
            )
            .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(got, 100);
}

/// With a state topic, a restart reads the last two days of a partition
/// that holds four, and still serves what `replay` computes from all four:
/// the agent logged in four days ago and its open callback are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_two_of_four_days_and_keeps_what_is_older() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info")
        .try_init();
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    let topic = "standing.events";
    mock.create_topic(topic, 1, 1).unwrap();
    mock.create_topic("standing.events.dlq", 1, 1).unwrap();
    mock.create_topic("standing.events.state", 1, 1).unwrap();

    // Four days as they were sent: each message stamped with its sending time.
    let now = now_ms();
    let log = crate::standing::four_days(now);
    let messages: Vec<(String, String, i64)> = log
        .iter()
        .map(|(sent, ev)| (ev.tenant.to_string(), encode_event(ev), *sent))
        .collect();
    produce_stamped(&brokers, topic, &messages).await;
    let ndjson: String = log.iter().map(|(_, e)| encode_event(e) + "\n").collect();
    let config = Arc::new(Config::parse("", Some("Asia/Seoul"), None).unwrap());
    let start = |group: &'static str| {
        let settings = ServeSettings {
            engine: engine(2, 50),
            kafka: Some(KafkaOptions {
                topic: topic.into(),
                dlq_topic: "standing.events.dlq".into(),
                state_topic: Some("standing.events.state".into()),
                rebuild_margin_ms: config.longest_max_wait_ms() + 300_000,
                ..options(&brokers, group)
            }),
            ..ServeSettings::default()
        };
        Server::start(Config::clone(&config), settings)
    };
    let rebuilt = |metrics: &str| {
        metric(
            metrics,
            &format!("callboard_kafka_rebuild_events{{topic=\"{topic}\"}}"),
        )
    };
    let expected_inbound = replay_at(&ndjson, config.clone(), now).totals.calls.inbound;

    // The first start finds no standing facts: it reads the whole log,
    // then writes them.
    let first = start("standing-test").await;
    let s = served(first.addr, expected_inbound).await;
    assert_eq!(s, replay_at(&ndjson, config.clone(), s.at.0), "first start");
    assert_eq!(
        rebuilt(&get(first.addr, "/metrics").await.1),
        log.len() as f64
    );
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let mut written = 0;
    for _ in 0..100 {
        written = probe
            .fetch_watermarks("standing.events.state", 0, Duration::from_secs(5))
            .unwrap()
            .1;
        if written > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(written > 0, "standing facts written once live");
    first.stop.cancel();
    first.task.await.unwrap().unwrap();

    // The restart reads about two days and serves the same as the whole log.
    let second = start("standing-test").await;
    let s = served(second.addr, expected_inbound).await;
    assert_eq!(
        s,
        replay_at(&ndjson, config.clone(), s.at.0),
        "after restart"
    );
    let marathon = s
        .agent_list
        .iter()
        .find(|a| &*a.agent == "marathon")
        .unwrap();
    assert_eq!(
        (marathon.callbacks_open, marathon.name.as_deref()),
        (1, Some("Marathon Kim"))
    );
    // Exactly the messages sent from the start of yesterday (Seoul), less
    // the margin, on: between a day and two of the four.
    let seoul = jiff::tz::TimeZone::get("Asia/Seoul").unwrap();
    let yesterday = jiff::Timestamp::from_millisecond(now)
        .unwrap()
        .to_zoned(seoul.clone())
        .date()
        .yesterday()
        .unwrap()
        .to_zoned(seoul)
        .unwrap()
        .timestamp()
        .as_millisecond();
    let from = yesterday - config.longest_max_wait_ms() - 300_000;
    let want = log.iter().filter(|(sent, _)| *sent >= from).count();
    let read = rebuilt(&get(second.addr, "/metrics").await.1);
    assert_eq!(read, want as f64, "messages read by the restart");
    assert!(
        want * 100 < log.len() * 65,
        "at most two of four days read: {want} of {}",
        log.len()
    );
    second.stop.cancel();
    second.task.await.unwrap().unwrap();
}

/// A starting instance reads the snapshot topic's last minute: what owners
/// published long ago, still kept by a broker that has not compacted it
/// (or never does), is skipped; what they publish every second is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_reads_only_the_last_minute_of_the_snapshot_topic() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 1, 1).unwrap();
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();
    mock.create_topic("callboard.snapshots", 2, 1).unwrap();
    let message = |tenant: &str, seq: u64, at: i64| {
        let line = format!(
            r#"{{"v":1,"id":"{tenant}-1","ts":{at},"tenant":"{tenant}","type":"call.queued","call":"c1","queue":"q"}}"#
        );
        let snapshot = crate::support::replayed(
            &line,
            Arc::new(Config::default()),
            Format::Ndjson,
            tenant,
            Some(at),
        );
        let json = serde_json::to_vec(&snapshot).unwrap();
        let message = callboard::service::hub::envelope(seq, &json);
        (
            tenant.to_string(),
            String::from_utf8(message.to_vec()).unwrap(),
            at,
        )
    };
    // Ten minutes ago an owner published `gone` for a while, then stopped;
    // `here` was published a second ago.
    let old = now_ms() - 600_000;
    let mut messages: Vec<_> = (0..2_000)
        .map(|i| message("gone", i + 1, old + i as i64 * 100))
        .collect();
    messages.push(message("here", 7, now_ms() - 1_000));
    produce_stamped(&brokers, "callboard.snapshots", &messages).await;

    let settings = ServeSettings {
        engine: engine(1, 50),
        kafka: Some(KafkaOptions {
            snapshot_topic: Some("callboard.snapshots".into()),
            ..options(&brokers, "callboard-read-back")
        }),
        ..ServeSettings::default()
    };
    let server = Server::start(Config::default(), settings).await;
    let mut listed = String::new();
    for _ in 0..600 {
        if get(server.addr, "/readyz").await.0 == 200 {
            listed = get(server.addr, "/api/v1/tenants").await.1;
            if listed.contains("\"here\"") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        listed.contains("\"here\""),
        "the recent snapshot is served: {listed}"
    );
    assert!(
        !listed.contains("\"gone\""),
        "snapshots older than the last minute are not read: {listed}"
    );
    let (status, body) = get(server.addr, "/api/v1/tenants/here/snapshot").await;
    assert_eq!(status, 200, "{body}");
    server.stop.cancel();
    server.task.await.unwrap().unwrap();
}

/// Messages of `topic` read from the start until 2 s of silence (after up
/// to 15 s for the reader to join), each as the source partition and offset
/// its dead-letter headers name.
fn read_all(brokers: &str, topic: &str, group: &str) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let (mut read, mut quiet) = (Vec::new(), -130);
    while quiet < 20 {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let header = |name: &str| {
                    m.headers()
                        .and_then(|h| h.iter().find(|h| h.key == name))
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                read.push(format!(
                    "{}@{}",
                    header("callboard-source-partition"),
                    header("callboard-source-offset")
                ));
                quiet = quiet.max(0);
            }
            _ => quiet += 1,
        }
    }
    read
}

/// A partition that moves to another member (one joins the group) takes
/// its bad messages with it copied once: the member giving it up commits
/// how far it read, and the new owner's rebuild copies nothing below that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_partition_s_dead_letters_are_copied_once() {
    // A failing run shows the members' warnings (a commit refused when a
    // partition was given up, committed offsets not read).
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("callboard=info")
        .try_init();
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 4, 1).unwrap();
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();
    let config = Arc::new(Config::parse("", Some("UTC"), None).unwrap());
    let first = serve(&brokers, config.clone()).await;
    for _ in 0..600 {
        if get(first.addr, "/readyz").await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Twenty bad messages over every partition (keys spread them).
    let bad: Vec<_> = (0..20)
        .map(|i| (format!("tenant-{i}"), format!("not json {i} {{"), now_ms()))
        .collect();
    produce_stamped(&brokers, "callboard.events", &bad).await;
    let mut copied = 0;
    for _ in 0..200 {
        let (_, metrics) = get(first.addr, "/metrics").await;
        copied = metrics
            .lines()
            .find(|l| {
                l.starts_with(
                    r#"callboard_events_rejected_total{source="kafka",reason="invalid_json"}"#,
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        if copied == 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(copied, 20, "the first member read and copied them");
    // A second member joins at once: partitions move to it, and its rebuild
    // reads them from the start.
    let second = serve(&brokers, config.clone()).await;
    let mut moved = false;
    for _ in 0..1200 {
        let (_, metrics) = get(second.addr, "/metrics").await;
        if get(second.addr, "/readyz").await.0 == 200
            && metrics.contains(r#"callboard_kafka_rebuild_events{topic="callboard.events"}"#)
        {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        moved,
        "the second member was given partitions and rebuilt them"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let letters = read_all(&brokers, "callboard.events.dlq", "dlq-count");
    let mut copies = std::collections::BTreeMap::new();
    for l in &letters {
        *copies.entry(l.as_str()).or_insert(0) += 1;
    }
    copies.retain(|_, n| *n > 1);
    let (_, second_metrics) = get(second.addr, "/metrics").await;
    assert_eq!(
        letters.len(),
        20,
        "each bad message copied once; copied again (partition@offset): {copies:?}; the second \
         member's rejection count: {:?}",
        second_metrics
            .lines()
            .find(|l| l.starts_with("callboard_events_rejected_total"))
    );
    second.stop.cancel();
    first.stop.cancel();
    let _ = second.task.await;
    let _ = first.task.await;
}

/// A restarted instance first reads back the last minute of the snapshot
/// topic. A board that reconnects meanwhile must never be shown one of
/// those older snapshots (a number lower than it had, a minute-old figure
/// marked live): the instance refuses it until it has read up to where the
/// topic ended, then gives the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_board_never_sees_the_read_back_minute() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 1, 1).unwrap();
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();
    mock.create_topic("callboard.snapshots", 1, 1).unwrap();
    // Another instance published `demo` 4,000 times over the last minute.
    let line = format!(
        r#"{{"v":1,"id":"d-1","ts":{},"tenant":"demo","type":"call.queued","call":"c1","queue":"q"}}"#,
        now_ms() - 59_000
    );
    let base = crate::support::replayed(
        &line,
        Arc::new(Config::default()),
        Format::Ndjson,
        "demo",
        None,
    );
    let n = 4_000u64;
    let start = now_ms() - 58_000;
    let messages: Vec<_> = (1..=n)
        .map(|seq| {
            let at = start + (seq as i64 - 1) * 57_000 / n as i64;
            let mut s = base.clone();
            s.at = callboard::wire::Instant(at);
            let json = serde_json::to_vec(&s).unwrap();
            let m = callboard::service::hub::envelope(seq, &json);
            (
                "demo".to_string(),
                String::from_utf8(m.to_vec()).unwrap(),
                at,
            )
        })
        .collect();
    produce_stamped(&brokers, "callboard.snapshots", &messages).await;

    let settings = ServeSettings {
        engine: engine(1, 50),
        kafka: Some(KafkaOptions {
            snapshot_topic: Some("callboard.snapshots".into()),
            ..options(&brokers, "callboard-reconnect")
        }),
        ..ServeSettings::default()
    };
    let server = Server::start(Config::default(), settings).await;
    let url = format!("ws://{}/api/v1/ws?tenant=demo", server.addr);
    let (mut refused, mut firsts) = (0, Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while firsts.len() < 5 && std::time::Instant::now() < deadline {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((mut ws, _)) => {
                use futures_util::StreamExt;
                // The first snapshot (a status may come before it while
                // the instance reads the topic).
                let v = loop {
                    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
                        .await
                        .unwrap()
                        .unwrap()
                        .unwrap();
                    let v: serde_json::Value =
                        serde_json::from_str(msg.to_text().unwrap()).unwrap();
                    if v["type"] == "snapshot" {
                        break v;
                    }
                };
                let at = jiff::Timestamp::from_str(v["snapshot"]["at"].as_str().unwrap())
                    .unwrap()
                    .as_millisecond();
                firsts.push((
                    v["seq"].as_u64().unwrap(),
                    v["snapshot"]["status"].as_str().unwrap().to_string(),
                    now_ms() - at,
                ));
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                // 503 while the topic is read (404 before a service that
                // serves early knows the tenant).
                assert!(matches!(r.status().as_u16(), 503 | 404), "{}", r.status());
                refused += 1;
            }
            Err(_) => refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        !firsts.is_empty(),
        "a board is served once the topic is read"
    );
    for (seq, status, age_ms) in &firsts {
        assert_eq!(
            *seq, n,
            "only the newest snapshot, never one of the read-back minute: {firsts:?}"
        );
        assert!(
            status != "live" || *age_ms <= 5_000,
            "an old snapshot is never shown live: {firsts:?}"
        );
    }
    let (status, _) = get(server.addr, "/api/v1/tenants/demo/snapshot").await;
    assert_eq!(status, 200);
    eprintln!("refused {refused} times while the topic was read; then {firsts:?}");
    server.stop.cancel();
    server.task.await.unwrap().unwrap();
}

/// The broker freezes for 14 s under a reader instance's board: the owner
/// keeps publishing into its producer's queue, the reader hears nothing.
/// The board must be shown the tenant `stale` once the owner has been
/// silent 5 s, and when the broker is back and the queued snapshots arrive
/// all at once, none older than 5 s may be shown live, nor a number lower
/// than one shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_through_a_broker_freeze_sees_stale_never_old_news_live() {
    use futures_util::StreamExt;
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    for topic in [
        "callboard.events",
        "callboard.events.dlq",
        "callboard.quiet",
        "callboard.snapshots",
    ] {
        mock.create_topic(topic, 1, 1).unwrap();
    }
    queue_a_call(&brokers, "f1").await;
    let shared = |topic: &str, group: &str| ServeSettings {
        engine: engine(1, 50),
        kafka: Some(KafkaOptions {
            topic: topic.into(),
            snapshot_topic: Some("callboard.snapshots".into()),
            ..options(&brokers, group)
        }),
        ..ServeSettings::default()
    };
    // The owner computes `acme`; the reader's own topic is empty, so it
    // serves `acme` from the owner's snapshots.
    let owner = Server::start(Config::default(), shared("callboard.events", "owner")).await;
    let reader = Server::start(Config::default(), shared("callboard.quiet", "reader")).await;
    let mut served = false;
    for _ in 0..600 {
        let (status, body) = get(reader.addr, "/api/v1/tenants/acme/snapshot").await;
        if status == 200 && body.contains(r#""status":"live""#) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the reader serves the owner's tenant");
    assert!(
        !get(owner.addr, "/api/v1/tenants/acme/snapshot")
            .await
            .1
            .is_empty()
    );

    let url = format!("ws://{}/api/v1/ws?tenant=acme", reader.addr);
    let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let shown = Arc::new(std::sync::Mutex::new(Vec::new()));
    let board = tokio::spawn({
        let shown = shown.clone();
        async move {
            let (_, mut rx) = ws.split();
            while let Some(Ok(msg)) = rx.next().await {
                let Ok(text) = msg.to_text() else { continue };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                if v["type"] != "snapshot" {
                    continue;
                }
                let at = jiff::Timestamp::from_str(v["snapshot"]["at"].as_str().unwrap())
                    .unwrap()
                    .as_millisecond();
                shown.lock().unwrap().push((
                    v["seq"].as_u64().unwrap(),
                    v["snapshot"]["status"].as_str().unwrap().to_string(),
                    now_ms() - at,
                ));
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_freeze = shown.lock().unwrap().len();
    // A freeze, not a broker gone: connections stay open and every answer
    // takes 14 s, so nothing tells the owner its broker is away.
    mock.broker_round_trip_time(1, Duration::from_secs(14))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(14)).await;
    let during = shown.lock().unwrap()[before_freeze..].to_vec();
    mock.broker_round_trip_time(1, Duration::ZERO).unwrap();
    // Back: the queued snapshots arrive, then fresh ones.
    let mut fresh = false;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let all = shown.lock().unwrap();
        if all.len() > before_freeze + during.len()
            && all
                .last()
                .is_some_and(|(_, status, age)| status == "live" && *age < 2_000)
        {
            fresh = true;
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    board.abort();
    let all = shown.lock().unwrap().clone();
    eprintln!("shown: {all:?}");
    assert!(before_freeze > 0, "the board was served before the freeze");
    assert!(
        during.iter().any(|(_, status, _)| status == "stale"),
        "the silent owner's tenant is shown stale during the freeze: {during:?}"
    );
    assert!(fresh, "live again after the freeze: {all:?}");
    for w in all.windows(2) {
        assert!(
            w[1].0 >= w[0].0,
            "a number never goes back: {:?} after {:?}",
            w[1],
            w[0]
        );
    }
    for (seq, status, age) in &all {
        assert!(
            status != "live" || *age <= 6_000,
            "number {seq}, {age} ms old, shown live"
        );
    }
    reader.stop.cancel();
    owner.stop.cancel();
    let _ = reader.task.await;
    let _ = owner.task.await;
}

/// Snapshots the broker does not take (it is away past the producer's
/// timeout) are counted, so an operator can tell why other instances show
/// a tenant stale; once the broker is back they are shared again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_the_broker_does_not_take_are_counted() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("callboard.events", 1, 1).unwrap();
    mock.create_topic("callboard.events.dlq", 1, 1).unwrap();
    mock.create_topic("callboard.shared", 1, 1).unwrap();
    queue_a_call(&brokers, "e1").await;
    let settings = ServeSettings {
        engine: engine(1, 50),
        kafka: Some(KafkaOptions {
            snapshot_topic: Some("callboard.shared".into()),
            ..options(&brokers, "callboard-not-shared")
        }),
        ..ServeSettings::default()
    };
    let server = Server::start(Config::default(), settings).await;
    let not_shared = || async {
        let (_, text) = get(server.addr, "/metrics").await;
        metric(&text, "callboard_snapshots_not_shared_total")
    };
    for _ in 0..600 {
        if get(server.addr, "/api/v1/tenants/acme/snapshot").await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = not_shared().await;
    mock.broker_down(1).unwrap();
    let mut after = before;
    for _ in 0..300 {
        after = not_shared().await;
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mock.broker_up(1).unwrap();
    assert!(
        after > before,
        "snapshots published while the broker was away are counted as not shared ({before} -> {after})"
    );
    server.stop.cancel();
    server.task.await.unwrap().unwrap();
}

/// A site's forwarder is down while six hours of its queue_log are written,
/// then comes back: the central engine, live all along, reads the burst of
/// old events in many batches with publications between them (a call
/// queued five hours ago and answered a few seconds later may sit in two),
/// and its snapshot and history equal replay of the lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_back_after_six_hours_of_log_gives_replays_figures() {
    use crate::follow::append;
    use callboard::cmd::forward::run as forward;
    use callboard::cmd::serve::settings::HistorySettings;
    use tokio_util::sync::CancellationToken;

    let Forwarding {
        mock: _mock,
        brokers,
        dir,
        log,
        settings,
    } = forwarding("six-hours");
    let config = Arc::new(Config::parse("", Some("UTC"), None).unwrap());
    // Seven hours of a small queue, a call every 20 s: answered after 5 to
    // 44 s and talked 2 minutes, or abandoned; one lost its end 5 h ago.
    let now = now_ms() / 1000;
    let start = now - 7 * 3600;
    let mut lines = vec![
        format!("{start}|MANAGER|sales|PJSIP/201|ADDMEMBER|\n"),
        format!("{start}|MANAGER|sales|PJSIP/202|ADDMEMBER|\n"),
    ];
    let mut k = 0;
    let mut t = start + 10;
    while t < now - 300 {
        let id = format!("c{k}");
        let wait = 5 + (k * 7) % 40;
        lines.push(format!("{t}|{id}|sales|NONE|ENTERQUEUE||0105550{k}|1\n"));
        if k % 9 == 4 {
            lines.push(format!("{}|{id}|sales|NONE|ABANDON|1|1|{wait}\n", t + wait));
        } else if t == start + 10 + 2 * 3600 {
            // Lost: no end ever comes.
        } else {
            let agent = if k % 2 == 0 { "PJSIP/201" } else { "PJSIP/202" };
            lines.push(format!(
                "{}|{id}|sales|{agent}|CONNECT|{wait}|b{k}|2\n",
                t + wait
            ));
            lines.push(format!(
                "{}|{id}|sales|{agent}|COMPLETECALLER|{wait}|120|1\n",
                t + wait + 120
            ));
        }
        k += 1;
        t += 20;
    }
    // Asterisk writes lines in time order.
    lines.sort_by_key(|l| l.split('|').next().unwrap().parse::<i64>().unwrap());
    let hour_one = lines
        .iter()
        .position(|l| l.split('|').next().unwrap().parse::<i64>().unwrap() > start + 3600)
        .unwrap();

    let srv = Server::start(
        Config::clone(&config),
        ServeSettings {
            engine: engine(2, 50),
            kafka: Some(options(&brokers, "six-hours")),
            history: Some(HistorySettings {
                location: callboard::history::Location::Sqlite(dir.join("h.sqlite")),
                retention_days: 400,
            }),
            ..ServeSettings::default()
        },
    )
    .await;
    // The first hour goes as it is written.
    for l in &lines[..hour_one] {
        append(&log, l);
    }
    let stop = CancellationToken::new();
    let first = tokio::spawn(forward(settings.clone(), config.clone(), stop.clone()));
    let hour = crate::support::replayed(
        &lines[..hour_one].concat(),
        config.clone(),
        Format::QueueLog,
        "pbx",
        None,
    );
    let _ = served_as_of(srv.addr, "pbx", hour.as_of).await;
    stop.cancel();
    first.await.unwrap().unwrap();
    // Down for six hours of log, then back.
    for l in &lines[hour_one..] {
        append(&log, l);
    }
    let stop = CancellationToken::new();
    let second = tokio::spawn(forward(settings.clone(), config.clone(), stop.clone()));

    let all = lines.concat();
    let as_of = crate::support::replayed(&all, config.clone(), Format::QueueLog, "pbx", None).as_of;
    let s = served_as_of(srv.addr, "pbx", as_of).await;
    let expected =
        crate::support::replayed(&all, config.clone(), Format::QueueLog, "pbx", Some(s.at.0));
    assert_eq!(s, expected, "served = replay");
    let opts = callboard::cmd::replay::ReplayOptions {
        format: Format::QueueLog,
        tenant: Some("pbx".into()),
        at: Some(now_ms()),
    };
    let rows =
        callboard::cmd::replay::replay_engine(all.as_bytes(), config.clone(), &opts, |_, _| {})
            .unwrap()
            .intervals(&opts);
    let exited = crate::support::exited(&rows);
    assert_eq!(exited, 1, "the lost call, and only it");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let range = format!("from={}&to={today}", today.yesterday().unwrap());
    crate::store::history_of_becomes(
        srv.addr,
        "pbx",
        &range,
        &crate::store::expected(&rows),
        true,
    )
    .await
    .unwrap_or_else(|e| panic!("the central history after the burst: {e}"));
    stop.cancel();
    second.await.unwrap().unwrap();
    srv.stop.cancel();
    srv.task.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits for `tenant`'s snapshot to be live with `as_of` (its newest event
/// applied) at `as_of`.
async fn served_as_of(
    addr: std::net::SocketAddr,
    tenant: &str,
    as_of: Option<callboard::wire::Instant>,
) -> Snapshot {
    let path = format!("/api/v1/tenants/{tenant}/snapshot");
    for _ in 0..1200 {
        let (status, body) = get(addr, &path).await;
        if status == 200 {
            let s: Snapshot = serde_json::from_str(&body).unwrap();
            if s.as_of == as_of && s.status == callboard::wire::Status::Live {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{tenant} never showed its events up to {as_of:?}");
}
