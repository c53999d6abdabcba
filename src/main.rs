//! The `callboard` command: parses the arguments and calls the command's
//! module in `callboard::cmd`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use callboard::cmd::{self, backup, forward, probe, rebuild, replay, serve, simulate, token};

/// Realtime statistics engine for contact centers.
///
/// With no subcommand, `callboard` serves (see `callboard serve --help`).
#[derive(Parser, Debug)]
#[command(
    name = "callboard",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    serve: serve::ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the engine as a service (the default): events in, snapshots out
    /// over REST, websocket and Prometheus on one HTTP listener.
    ///
    /// With no event source configured, a built-in simulated contact center
    /// (tenant `demo`) feeds it, so a board is live out of the box. Settings
    /// come from flags, then `CALLBOARD_*` environment variables, then the
    /// config file's `[serve]` section, then the defaults.
    Serve(Box<serve::ServeArgs>),
    /// Run the engine over a file of events and print each tenant's final
    /// snapshot, one JSON object per line, sorted by tenant.
    ///
    /// Rejected lines are counted and summarised on stderr; they do not fail
    /// the run. Exit codes: 0 done; 1 every line was rejected, or
    /// `--tenant` names a tenant with no event in the input; 2 a usage
    /// error or an input that cannot be read.
    Replay(replay::ReplayArgs),
    /// Write a simulated contact center's events as NDJSON to standard
    /// output: the demo tenant (three services, five queues), deterministic
    /// for a seed.
    Simulate(simulate::SimulateArgs),
    /// Follow an Asterisk queue_log and produce its events to Kafka (key =
    /// tenant), for a central callboard. Remembers how far it got in a state
    /// file; after a restart or a broker outage each line counts once.
    Forward(forward::ForwardArgs),
    /// Make and hash access tokens for the config file.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The history store: days recomputed from a log, backups.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Exit 0 if an HTTP GET of URL answers 2xx within 3 s (a container
    /// healthcheck that needs no curl).
    Probe(probe::ProbeArgs),
}

#[derive(Subcommand, Debug)]
enum HistoryCommand {
    /// Recompute stored days from a log, through the same engine as
    /// `replay`: the rows of the days from --from to --to replace, each day
    /// in one transaction, what the store holds of them (days the source
    /// holds events of but no rows are emptied); other days and tenants are
    /// untouched. The source should begin a day before --from, so that the
    /// first day's calls and agents that began the evening before are read.
    #[command(
        after_help = "Example: a year of an Asterisk site's queue_log into the reports\n  \
        callboard history rebuild --from 2025-12-01 --to 2026-11-30 \\\n    \
        --input /var/log/asterisk/queue_log --format queue_log --tenant pbx"
    )]
    Rebuild(rebuild::RebuildArgs),
    /// Copy an SQLite history store as of one moment, while the service
    /// writes to it (PostgreSQL: use pg_dump). The copy is checked before
    /// it is given its name; an existing file is never overwritten.
    #[command(after_help = "Example: a nightly copy beside the store
          callboard history backup --history /var/lib/callboard/callboard-history.sqlite \
            /var/backups/callboard/history-$(date +%F).sqlite")]
    Backup(backup::BackupArgs),
    /// Put a backup in place of an SQLite history store. Stop the service
    /// first; an existing store is replaced only with --force.
    Restore(backup::RestoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::exit_code(match cli.command {
        None => serve::execute(cli.serve),
        Some(Command::Serve(args)) => serve::execute(*args),
        Some(Command::Replay(args)) => replay::execute(args),
        Some(Command::Simulate(args)) => simulate::execute(args),
        Some(Command::Forward(args)) => forward::execute(args),
        Some(Command::Token(cmd)) => token::execute(cmd),
        Some(Command::History(HistoryCommand::Rebuild(args))) => rebuild::execute(args),
        Some(Command::History(HistoryCommand::Backup(args))) => backup::backup(args),
        Some(Command::History(HistoryCommand::Restore(args))) => backup::restore(args),
        Some(Command::Probe(args)) => probe::execute(args),
    })
}
