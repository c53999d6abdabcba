use super::*;
use crate::service::feed::SourceId;
use crate::service::hub::Published;
use crate::wire::Snapshot;

fn queued(tenant: &str, call: &str) -> Event<'static> {
    let line = format!(
        r#"{{"v":1,"id":"{call}","ts":{},"tenant":"{tenant}","type":"call.queued","call":"{call}","queue":"q"}}"#,
        now_ms()
    );
    crate::decode::decode_json(line.as_bytes(), 1 << 16)
        .unwrap()
        .into_owned()
}

/// Waits until `tenant`'s latest snapshot passes `ok`.
async fn until(hub: &Hub, tenant: &str, ok: impl Fn(&Snapshot) -> bool) -> Arc<Published> {
    for _ in 0..200 {
        if let Some(p) = hub.latest(tenant).filter(|p| ok(&p.snapshot)) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{tenant} never got there: {:?}",
        hub.latest(tenant).map(|p| p.seq)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_holds_only_the_tenants_it_brings() {
    let hub = Hub::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let shutdown = CancellationToken::new();
    let router = start(
        1,
        Arc::new(Config::default()),
        hub.clone(),
        Duration::from_millis(20),
        None,
        &tracker,
        shutdown.clone(),
    )
    .unwrap();
    router
        .status(&SourceId::Kafka, Status::Recovering)
        .await
        .unwrap();
    router
        .send(Source::Kafka, vec![queued("a", "a1")])
        .await
        .unwrap();
    router.status(&SourceId::Kafka, Status::Live).await.unwrap();
    until(&hub, "a", |s| {
        s.totals.waiting == 1 && s.status == Status::Live
    })
    .await;

    // A partition is assigned: its tenant `b` is rebuilt while `a`,
    // whose partition stays, goes on counting and being published live.
    router
        .status(&SourceId::Kafka, Status::Recovering)
        .await
        .unwrap();
    router
        .send(Source::Kafka, vec![queued("b", "b1"), queued("a", "a2")])
        .await
        .unwrap();
    let a = until(&hub, "a", |s| s.totals.waiting == 2).await;
    assert_eq!(a.snapshot.status, Status::Live);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        hub.latest("b").is_none(),
        "b is held until its rebuild ends"
    );

    router.status(&SourceId::Kafka, Status::Live).await.unwrap();
    until(&hub, "b", |s| {
        s.totals.waiting == 1 && s.status == Status::Live
    })
    .await;

    // A tenant forgotten during a rebuild is held like a new one.
    router
        .status(&SourceId::Kafka, Status::Recovering)
        .await
        .unwrap();
    router.forget(vec![Arc::from("a")]).await.unwrap();
    router
        .send(Source::Kafka, vec![queued("a", "a3")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        hub.latest("a").is_none(),
        "a is not published while rebuilt"
    );
    router.status(&SourceId::Kafka, Status::Live).await.unwrap();
    until(&hub, "a", |s| {
        s.totals.waiting == 1 && s.status == Status::Live
    })
    .await;

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}
