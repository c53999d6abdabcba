//! Backups of an SQLite history store: `callboard history backup` takes a
//! consistent copy while the service writes (SQLite's `VACUUM INTO` reads
//! one snapshot of the database, whatever the writer does meanwhile), and
//! `callboard history restore` puts one back in place of a stopped
//! service's store. PostgreSQL stores are backed up with PostgreSQL's own
//! tools (`pg_dump`).
//!
//! Neither runs the schema's migrations on the store it reads: a backup
//! tool newer than the running service must not change its database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

/// What a backup or a restore found in the copy it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The schema's version (the latest migration applied).
    pub schema: i64,
    /// Rows per table, by name.
    pub rows: Vec<(String, i64)>,
    /// Size of the copy in bytes.
    pub bytes: u64,
}

async fn open(path: &Path, read_only: bool) -> anyhow::Result<SqliteConnection> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("cannot open {} as SQLite", path.display()))
}

/// Checks that `conn` holds a sound callboard history store; its schema
/// version (a newer one than this callboard's is read too: migrations only
/// add) and rows per table.
async fn check(
    conn: &mut SqliteConnection,
    what: &Path,
) -> anyhow::Result<(i64, Vec<(String, i64)>)> {
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("{} is not an SQLite database", what.display()))?;
    if ok != "ok" {
        bail!("{} is damaged: {ok}", what.display());
    }
    let schema: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(|_| anyhow::anyhow!("{} is not a callboard history store", what.display()))?;
    let schema = schema.context("a history store with no schema")?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::with_capacity(tables.len());
    for t in tables {
        // Table names come from the database's own catalogue.
        let n: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) FROM \"{}\"",
            t.replace('"', "\"\"")
        ))
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        rows.push((t, n));
    }
    Ok((schema, rows))
}

/// A path beside `path` for a copy being made: renamed into place only
/// once it is whole, so a half-made copy never looks like one.
fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Copies the SQLite store at `store` to `out` (which must not exist), as
/// of one moment, while the service may be writing to it.
pub async fn backup(store: &Path, out: &Path) -> anyhow::Result<Copied> {
    if out.exists() {
        bail!("{} exists: a backup never overwrites a file", out.display());
    }
    let tmp = partial(out);
    let _ = std::fs::remove_file(&tmp);
    let mut conn = open(store, true).await?;
    check(&mut conn, store).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(tmp.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .with_context(|| format!("copying into {}", tmp.display()))?;
    conn.close().await?;
    let copied = verify(&tmp).await;
    match copied {
        Ok(c) => {
            std::fs::rename(&tmp, out)
                .with_context(|| format!("moving the copy to {}", out.display()))?;
            Ok(c)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.context("the copy is not sound: no backup was written"))
        }
    }
}

async fn verify(path: &Path) -> anyhow::Result<Copied> {
    let mut conn = open(path, false).await?;
    let (schema, rows) = check(&mut conn, path).await?;
    conn.close().await?;
    Ok(Copied {
        schema,
        rows,
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// Puts the backup `from` in place of the store at `store`, which the
/// service must not be using (stopped). An existing store is replaced only
/// with `replace`; its write-ahead log goes with it.
pub async fn restore(from: &Path, store: &Path, replace: bool) -> anyhow::Result<Copied> {
    if store.exists() && !replace {
        bail!(
            "{} exists: stop the service, then give --force to replace it with the backup",
            store.display()
        );
    }
    {
        let mut conn = open(from, true).await?;
        check(&mut conn, from).await?;
        conn.close().await?;
    }
    let tmp = partial(store);
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    let copied = match verify(&tmp).await {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The old store's log and shared memory belong to the old file: left
    // beside the new one, SQLite would apply them to it.
    for suffix in ["-wal", "-shm"] {
        let mut name = store.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        let side = store.with_file_name(name);
        if side.exists() {
            std::fs::remove_file(&side).with_context(|| format!("removing {}", side.display()))?;
        }
    }
    std::fs::rename(&tmp, store)
        .with_context(|| format!("moving the copy to {}", store.display()))?;
    Ok(copied)
}
