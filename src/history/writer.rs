//! The history writer: one task that takes the shards' changed rows from a
//! bounded channel and writes them in transactions, coalescing rows of the
//! same key; prunes rows past the retention once an hour.
//!
//! It never holds a shard up: a shard reserves room in the channel before
//! it takes its rows, and keeps them marked for a later round when there is
//! none. When a write fails the writer keeps its rows, stops taking more
//! (the channel fills, the shards keep theirs) and tries again with a
//! growing pause, so a database that is down costs memory bounded by the
//! channel, and nothing is lost when it comes back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Store, StoreError};
use crate::engine::HistoryBatch;
use crate::telemetry::{HistoryRowRefused, HistoryWriteFailed, HistoryWritten, Signal, Told};
use crate::wire::IntervalRow;

/// The shards' rounds: per tenant, changed rows (and on a first look, the
/// instant its agent rows are restated from).
pub type Batches = mpsc::Receiver<Vec<HistoryBatch>>;

/// Rounds the channel holds: a shard's round waits for room in it.
pub const CHANNEL_ROUNDS: usize = 64;

/// Most rows written in one transaction.
const MAX_TRANSACTION: usize = 20_000;

const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs until every sender is gone (the shards have stopped), writing what
/// is left before it returns.
pub async fn run(store: Store, mut rx: Batches, retention_days: u32) {
    let mut pending = Pending::default();
    let mut failures = 0u32;
    let mut told = Told::default();
    let mut told_refused = Told::default();
    let mut next_prune = Instant::now();
    let mut open = true;
    loop {
        if next_prune <= Instant::now() {
            prune(&store, retention_days).await;
            next_prune = Instant::now() + PRUNE_EVERY;
        }
        // Wait for rows unless some are still to be written.
        if open && pending.is_empty() {
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(batches) => pending.add_batches(batches),
                    None => open = false,
                },
                _ = tokio::time::sleep_until(next_prune.into()) => continue,
            }
        }
        // Whatever else is there joins this transaction.
        while open && pending.len() < MAX_TRANSACTION {
            match rx.try_recv() {
                Ok(batches) => pending.add_batches(batches),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        if pending.is_empty() {
            if open {
                continue;
            }
            break;
        }
        let (restates, rows) = pending.take(MAX_TRANSACTION);
        let started = Instant::now();
        let mut written = store.write(&restates, &rows).await;
        // The database refused a row (one it cannot store): the rows are
        // written tenant by tenant, and a refused tenant's in halves, down
        // to the rows it refuses alone, which are set aside.
        if let Err(e) = &written
            && refused(e)
        {
            written = isolate(&store, &restates, &rows, &mut told_refused).await;
        }
        match written {
            Ok(done) => {
                HistoryWritten {
                    upserted: done.upserted,
                    deleted: done.deleted,
                    took: started.elapsed(),
                }
                .emit();
                if failures > 0 {
                    tracing::info!(after = failures, "history: writing again");
                }
                failures = 0;
            }
            Err(e) => {
                HistoryWriteFailed.emit();
                failures += 1;
                if told.due().is_some() {
                    tracing::warn!(
                        error = %e,
                        rows = rows.len(),
                        "history: write failed; the rows are kept and written again (told once a minute)"
                    );
                }
                pending.put_back(restates, rows);
                if !open && failures >= 3 {
                    tracing::error!(
                        rows = pending.len(),
                        "history: stopping with rows not written; a restart's rebuild writes them again"
                    );
                    break;
                }
                let pause = Duration::from_millis(250u64 << failures.min(7));
                tokio::time::sleep(pause.min(Duration::from_secs(30))).await;
            }
        }
    }
    store.close().await;
}

/// Whether a failed write failed on what it wrote (a value the database
/// cannot store, a constraint), which writing it again cannot mend; not on
/// the database being away, busy or out of space.
fn refused(e: &StoreError) -> bool {
    let StoreError::Db(sqlx::Error::Database(db)) = e else {
        return false;
    };
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    // PostgreSQL: data exceptions (a NUL in a text, a value out of range)
    // and integrity constraints. SQLite: a constraint, a value too big, a
    // type mismatch.
    code.starts_with("22") || code.starts_with("23") || matches!(code, "18" | "19" | "20")
}

/// Writes `rows` tenant by tenant, each with its restate; a tenant the
/// database refuses is written in halves, down to the single rows it
/// refuses, which are counted, told once a minute, and not written again.
/// Any other failure ends it with that error (everything is written again
/// later: rows are upserts and restates repeatable).
async fn isolate(
    store: &Store,
    restates: &[(std::sync::Arc<str>, i64)],
    rows: &[IntervalRow],
    told: &mut Told,
) -> Result<super::Written, StoreError> {
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<IntervalRow>> = Default::default();
    for r in rows {
        by_tenant.entry(r.tenant()).or_default().push(r.clone());
    }
    for (t, _) in restates {
        by_tenant.entry(t).or_default();
    }
    let mut done = super::Written::default();
    for (tenant, rows) in by_tenant {
        let restate: Vec<_> = restates
            .iter()
            .filter(|(t, _)| &**t == tenant)
            .cloned()
            .collect();
        let mut stack = vec![(restate, rows)];
        while let Some((restate, rows)) = stack.pop() {
            match store.write(&restate, &rows).await {
                Ok(w) => {
                    done.upserted += w.upserted;
                    done.deleted += w.deleted;
                }
                Err(e) if !refused(&e) => return Err(e),
                Err(e) if rows.len() <= 1 => {
                    if let Some(row) = rows.first() {
                        HistoryRowRefused.emit();
                        if let Some(more) = told.due() {
                            tracing::error!(
                                error = %e,
                                tenant,
                                row = %serde_json::to_string(row).unwrap_or_default(),
                                refused_since_last_told = more,
                                "history: the database refuses a row; it is set aside, the others are written (told once a minute)"
                            );
                        }
                    }
                    // The restate goes on without the row.
                    if !restate.is_empty() {
                        stack.push((restate, Vec::new()));
                    }
                }
                Err(_) => {
                    let mut first = rows;
                    let second = first.split_off(first.len() / 2);
                    stack.push((Vec::new(), second));
                    stack.push((restate, first));
                }
            }
        }
    }
    Ok(done)
}

async fn prune(store: &Store, retention_days: u32) {
    let cutoff = crate::time::now_ms() - retention_days as i64 * 86_400_000;
    match store.prune(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rows = n, retention_days, "history: old rows pruned"),
        Err(e) => tracing::warn!(error = %e, "history: pruning failed; tried again in an hour"),
    }
}

/// Rows waiting to be written, the latest of each key only, and the
/// tenants whose agent rows are to be restated (from an instant).
#[derive(Default)]
struct Pending {
    rows: Vec<IntervalRow>,
    at: HashMap<RowKey, usize>,
    restates: Vec<(std::sync::Arc<str>, i64)>,
}

/// What a row is upserted by.
#[derive(Hash, PartialEq, Eq)]
struct RowKey(u8, std::sync::Arc<str>, String, String);

fn key_of(row: &IntervalRow) -> RowKey {
    let name = |v: &Option<std::sync::Arc<str>>| v.as_deref().unwrap_or("").to_string();
    match row {
        IntervalRow::Queue(q) => match &q.queue {
            Some(queue) => RowKey(0, q.tenant.clone(), queue.to_string(), q.start.clone()),
            None => RowKey(1, q.tenant.clone(), name(&q.service), q.start.clone()),
        },
        IntervalRow::Agent(a) => RowKey(2, a.tenant.clone(), a.agent.to_string(), a.start.clone()),
        IntervalRow::Callback(c) => RowKey(3, c.tenant.clone(), name(&c.service), c.day.clone()),
    }
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds a round's batches.
    fn add_batches(&mut self, batches: Vec<HistoryBatch>) {
        for b in batches {
            if let Some(from) = b.restate_agents_from {
                self.restates.push((b.tenant, from));
            }
            self.add(b.rows);
        }
    }

    /// Adds rows; a row replaces an older one of its key.
    fn add(&mut self, rows: Vec<IntervalRow>) {
        for row in rows {
            match self.at.entry(key_of(&row)) {
                std::collections::hash_map::Entry::Occupied(e) => self.rows[*e.get()] = row,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(self.rows.len());
                    self.rows.push(row);
                }
            }
        }
    }

    /// Up to `n` rows, oldest first, with the restates; every row when
    /// there are restates (their rows go in the same transaction, so that
    /// no reader sees an agent's rows gone).
    fn take(&mut self, n: usize) -> (Vec<(std::sync::Arc<str>, i64)>, Vec<IntervalRow>) {
        let restates = std::mem::take(&mut self.restates);
        let n = if restates.is_empty() { n } else { usize::MAX };
        let rest = if self.rows.len() > n {
            self.rows.split_off(n)
        } else {
            Vec::new()
        };
        let taken = std::mem::take(&mut self.rows);
        self.at.clear();
        self.add(rest);
        (restates, taken)
    }

    /// Rows that failed to be written go back before any newer row of the
    /// same key (which then wins).
    fn put_back(&mut self, restates: Vec<(std::sync::Arc<str>, i64)>, rows: Vec<IntervalRow>) {
        let later = std::mem::replace(&mut self.restates, restates);
        self.restates.extend(later);
        let newer = std::mem::take(&mut self.rows);
        self.at.clear();
        self.add(rows);
        self.add(newer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::CallbackInterval;

    fn callback(day: &str, requested: u64) -> IntervalRow {
        IntervalRow::Callback(CallbackInterval {
            tenant: "t".into(),
            service: None,
            day: day.into(),
            requested,
            assigned: 0,
            completed: 0,
            failed: 0,
            deleted: 0,
            open: requested,
        })
    }

    fn requested(rows: &[IntervalRow]) -> Vec<(String, u64)> {
        rows.iter()
            .map(|r| match r {
                IntervalRow::Callback(c) => (c.day.clone(), c.requested),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn the_latest_row_of_a_key_wins_and_failed_rows_do_not_overwrite_newer_ones() {
        let mut p = Pending::default();
        p.add(vec![callback("2026-11-20", 1), callback("2026-11-21", 1)]);
        p.add(vec![callback("2026-11-21", 2)]);
        let (_, taken) = p.take(10);
        assert_eq!(
            requested(&taken),
            [("2026-11-20".into(), 1), ("2026-11-21".into(), 2)]
        );
        // While that write fails, a newer row of one key comes in.
        p.add(vec![callback("2026-11-21", 3)]);
        p.put_back(Vec::new(), taken);
        assert_eq!(
            requested(&p.take(10).1),
            [("2026-11-20".into(), 1), ("2026-11-21".into(), 3)]
        );
        assert!(p.is_empty());
    }

    #[test]
    fn take_leaves_the_rest_keyed() {
        let mut p = Pending::default();
        p.add(
            (0..5)
                .map(|i| callback(&format!("2026-11-0{i}"), 1))
                .collect(),
        );
        assert_eq!(p.take(2).1.len(), 2);
        p.add(vec![callback("2026-11-04", 9)]);
        assert_eq!(p.len(), 3);
        assert_eq!(requested(&p.take(10).1)[2], ("2026-11-04".into(), 9));
    }
}
