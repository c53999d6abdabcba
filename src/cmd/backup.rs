//! `callboard history backup` and `history restore`: a running SQLite
//! store copied as of one moment, and a copy put back.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cmd::serve::settings::DEFAULT_HISTORY;
use crate::history::Location;
use crate::history::backup::{self, Copied};

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The file to write the copy to; it must not exist.
    #[arg(value_name = "OUT")]
    out: PathBuf,
    /// The history store: the SQLite file the service writes.
    /// [default: callboard-history.sqlite]
    #[arg(long, value_name = "PATH", env = "CALLBOARD_HISTORY")]
    history: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup to restore (a file `history backup` wrote).
    #[arg(value_name = "BACKUP")]
    backup: PathBuf,
    /// The history store to replace: the SQLite file the service writes.
    /// [default: callboard-history.sqlite]
    #[arg(long, value_name = "PATH", env = "CALLBOARD_HISTORY")]
    history: Option<String>,
    /// Replace an existing store (stop the service first: the store's
    /// write-ahead log is removed with it).
    #[arg(long)]
    force: bool,
}

/// The SQLite file a `--history` names; PostgreSQL is pointed at its tools.
fn sqlite_file(history: Option<&str>) -> anyhow::Result<PathBuf> {
    match Location::parse(history.unwrap_or(DEFAULT_HISTORY)).map_err(anyhow::Error::msg)? {
        Some(Location::Sqlite(path)) => Ok(path),
        Some(Location::Postgres(_)) => bail!(
            "a PostgreSQL history store is backed up with PostgreSQL's tools: pg_dump (or pg_basebackup) and pg_restore"
        ),
        None => bail!("--history none: there is no store"),
    }
}

fn summary(c: &Copied) -> String {
    let rows: i64 = c.rows.iter().map(|(_, n)| n).sum();
    format!(
        "schema version {}, {rows} rows in {} tables, {:.1} MiB",
        c.schema,
        c.rows.len(),
        c.bytes as f64 / (1 << 20) as f64
    )
}

pub fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let store = sqlite_file(args.history.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let copied = runtime
        .block_on(backup::backup(&store, &args.out))
        .with_context(|| format!("history backup of {}", store.display()))?;
    eprintln!(
        "callboard history backup: {} copied to {} ({})",
        store.display(),
        args.out.display(),
        summary(&copied)
    );
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let store = sqlite_file(args.history.as_deref())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let copied = runtime
        .block_on(backup::restore(&args.backup, &store, args.force))
        .with_context(|| format!("history restore into {}", store.display()))?;
    eprintln!(
        "callboard history restore: {} restored to {} ({}); start the service",
        args.backup.display(),
        store.display(),
        summary(&copied)
    );
    Ok(ExitCode::SUCCESS)
}
