//! The history store: interval rows kept in a real database, an embedded
//! SQLite file by default or PostgreSQL by URL, through one access layer
//! (sqlx's `Any` driver, the same SQL for both).
//!
//! Rows are upserts keyed by tenant, kind, key and interval start, so a
//! restart or a rebuild rewrites the same rows and duplicates nothing. The
//! shards give their changed rows to a [`writer`] task through a bounded
//! channel; reports ([`report`]) sum them on demand.

pub mod backfill;
pub mod backup;
mod batch;
pub mod export;
pub mod messages;
pub mod report;
pub mod schema;
pub mod writer;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::time::Millis;
use crate::wire::IntervalRow;

/// Where history is kept, as given on the command line or in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file, created if missing.
    Sqlite(std::path::PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Postgres(String),
}

impl Location {
    /// `none` is no store; a `postgres://` URL is PostgreSQL; anything else
    /// is a file path (a `sqlite://` prefix is allowed).
    pub fn parse(s: &str) -> Result<Option<Location>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err(
                "history: an empty location (give a file path, a postgres:// URL or `none`)".into(),
            );
        }
        if s.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Some(Location::Postgres(s.to_string())));
        }
        if let Some((scheme, _)) = s.split_once("://")
            && scheme != "sqlite"
        {
            return Err(format!(
                "history: `{scheme}://` is not a store callboard knows (a file path, sqlite://PATH, postgres://... or none)"
            ));
        }
        let path = s.strip_prefix("sqlite://").unwrap_or(s);
        Ok(Some(Location::Sqlite(path.into())))
    }

    /// The location for logs: a PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("SQLite file {}", p.display()),
            Location::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    format!("PostgreSQL {u}")
                }
                Err(_) => "PostgreSQL (URL not shown)".to_string(),
            },
        }
    }
}

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

/// Every table of the store, each with `tenant` and `day` columns.
const TABLES: [&str; 9] = [
    "queue_intervals",
    "queue_within_intervals",
    "queue_within_days",
    "agent_intervals",
    "agent_away_intervals",
    "callback_days",
    "queue_days",
    "agent_days",
    "agent_away_days",
];

/// An open store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    location: std::sync::Arc<Location>,
}

/// What one write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub upserted: usize,
    pub deleted: usize,
}

impl Store {
    /// Opens (creating an SQLite file if missing) and migrates the schema.
    pub async fn open(location: &Location) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = match location {
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                    && !dir.exists()
                {
                    return Err(StoreError::Other(format!(
                        "the directory of the history file {} does not exist",
                        path.display()
                    )));
                }
                let encoded: String =
                    url::form_urlencoded::byte_serialize(path.to_string_lossy().as_bytes())
                        .collect();
                // The path as one URL segment; `mode=rwc` creates it.
                format!("sqlite://{}?mode=rwc", encoded.replace("%2F", "/"))
            }
            Location::Postgres(url) => url.clone(),
        };
        let options: AnyConnectOptions = url
            .parse::<AnyConnectOptions>()
            .map_err(|e| StoreError::Other(format!("history: {e}")))?
            // A streamed report's statement lasts as long as its client
            // reads: not a slow statement to log whole; the writer's own
            // metrics time the writes.
            .disable_statement_logging();
        let sqlite = matches!(location, Location::Sqlite(_));
        let pool = AnyPoolOptions::new()
            // SQLite has one writer at a time anyway; readers use the rest.
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Readers never wait for the writer (write-ahead log),
                        // a commit survives a crash of the process, and a
                        // busy database is waited for, not failed on.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        schema::migrate(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating the history schema: {e}")))?;
        Ok(Store {
            pool,
            location: std::sync::Arc::new(location.clone()),
        })
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Writes rows in one transaction: upserts, deletes of the rows that
    /// came back empty (an agent's interval a late state left without
    /// time), and the day rows of the days touched. `restates` (tenant,
    /// instant) first drop the tenant's agent rows from that instant on,
    /// which `rows` then restate whole.
    pub async fn write(
        &self,
        restates: &[(std::sync::Arc<str>, Millis)],
        rows: &[IntervalRow],
    ) -> Result<Written, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = batch::write(&mut tx, restates, rows).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Deletes rows that started before `cutoff` (callback days before its
    /// UTC date); returns how many.
    pub async fn prune(&self, cutoff: Millis) -> Result<u64, StoreError> {
        let day = crate::time::format_day(cutoff.div_euclid(86_400_000) as crate::time::DayNo);
        let mut n = 0;
        for table in [
            "queue_intervals",
            "queue_within_intervals",
            "agent_intervals",
            "agent_away_intervals",
        ] {
            n += sqlx::query(&format!("DELETE FROM {table} WHERE start_ms < $1"))
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        for table in [
            "queue_days",
            "queue_within_days",
            "agent_days",
            "agent_away_days",
            "callback_days",
        ] {
            n += sqlx::query(&format!("DELETE FROM {table} WHERE day < $1"))
                .bind(&day)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    /// Replaces a tenant's rows of the local days `first..=last`
    /// (`YYYY-MM-DD`) with `rows` (which should hold only rows of those
    /// days), in one transaction: every row of those days goes first, so a
    /// row the new ones lack does not stay.
    pub async fn replace_days(
        &self,
        tenant: &str,
        first: &str,
        last: &str,
        rows: &[IntervalRow],
    ) -> Result<Written, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for table in TABLES {
            deleted += sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant = $1 AND day >= $2 AND day <= $3"
            ))
            .bind(tenant)
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?
            .rows_affected() as usize;
        }
        let done = batch::write(&mut tx, &[], rows).await?;
        tx.commit().await?;
        Ok(Written {
            upserted: done.upserted,
            deleted: done.deleted + deleted,
        })
    }

    /// Deletes every row of a tenant; returns how many.
    pub async fn delete_tenant(&self, tenant: &str) -> Result<u64, StoreError> {
        let mut n = 0;
        for table in TABLES {
            n += sqlx::query(&format!("DELETE FROM {table} WHERE tenant = $1"))
                .bind(tenant)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        n += sqlx::query("DELETE FROM agent_names WHERE tenant = $1")
            .bind(tenant)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM floor_messages WHERE tenant = $1")
            .bind(tenant)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }

    /// A tenant's messages to the floor still shown at `now`.
    pub async fn messages(
        &self,
        tenant: &str,
        now: Millis,
    ) -> Result<Vec<crate::wire::Message>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT id, text, created_ms, expires_ms FROM floor_messages \
             WHERE tenant = $1 AND expires_ms > $2",
        )
        .bind(tenant)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::wire::Message {
                    id: r.try_get("id")?,
                    text: r.try_get("text")?,
                    created_at: crate::wire::Instant(r.try_get("created_ms")?),
                    expires_at: crate::wire::Instant(r.try_get("expires_ms")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Adds a message unless the tenant already shows `max` at `now`
    /// (those expired a day ago go first); whether it was added.
    pub async fn add_message(
        &self,
        tenant: &str,
        m: &crate::wire::Message,
        now: Millis,
        max: usize,
    ) -> Result<bool, StoreError> {
        use sqlx::Row;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM floor_messages WHERE expires_ms < $1")
            .bind(now - 86_400_000)
            .execute(&mut *tx)
            .await?;
        let shown: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM floor_messages WHERE tenant = $1 AND expires_ms > $2",
        )
        .bind(tenant)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if shown as usize >= max {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO floor_messages (tenant, id, text, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant)
        .bind(&m.id)
        .bind(&m.text)
        .bind(m.created_at.0)
        .bind(m.expires_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a message; whether there was one.
    pub async fn delete_message(&self, tenant: &str, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM floor_messages WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
