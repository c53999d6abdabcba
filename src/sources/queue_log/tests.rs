use std::fs::File;

use super::*;
use crate::time::now_ms;

fn touch(path: &Path, age: Duration) {
    fs::write(path, b"").unwrap();
    let f = File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// A live interface's ADDMEMBER waits for the rest of its second, and
/// comes out once that second is over on the clock even if nothing
/// else is written.
#[test]
fn a_held_addmember_comes_out_when_its_second_is_over() {
    let dir = std::env::temp_dir().join(format!("callboard-held-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("queue_log");
    let now = now_ms();
    fs::write(
        &path,
        format!("{}|MANAGER|q1|SIP/1|ADDMEMBER|\n", now / 1000),
    )
    .unwrap();
    let src = QueueLogSource {
        path,
        tenant: "pbx".into(),
    };
    let mut f = Follower::new(&src, &Config::default());
    let looked = f.poll();
    assert!(looked.error.is_none());
    let events = looked.events;
    assert!(events.is_empty() && f.holding(), "{events:?}");
    let mut events = Vec::new();
    f.lines.release_due(now / 1000 * 1000 + 1000, &mut events);
    assert!(events.is_empty(), "still within its second and the margin");
    f.lines.release_due(now / 1000 * 1000 + 2000, &mut events);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(!f.holding());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotated_predecessors_come_oldest_first_and_old_ones_are_skipped() {
    let dir = std::env::temp_dir().join(format!("callboard-pred-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let h = Duration::from_secs(3600);
    touch(&dir.join("queue_log"), Duration::ZERO);
    touch(&dir.join("queue_log.1"), h);
    touch(&dir.join("queue_log.2.gz"), 20 * h);
    touch(&dir.join("queue_log-20261101.gz"), 400 * h);
    touch(&dir.join("queue_log.bak~"), h);
    touch(&dir.join("other_log.1"), h);
    let found = predecessors(&dir.join("queue_log"), SystemTime::now() - KEPT).unwrap();
    let names: Vec<_> = found
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["queue_log.2.gz", "queue_log.1"]);
    fs::remove_dir_all(&dir).unwrap();
}
