//! The commands of the `callboard` binary, one module each: its arguments
//! (clap) and what it does with them. `main.rs` only parses and calls
//! [`exit_code`] on what a command returns.

pub mod backup;
pub mod forward;
pub mod probe;
pub mod rebuild;
pub mod replay;
pub mod serve;
pub mod simulate;
pub mod token;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::time::{self, Millis};

/// What a long-running command reads first: its config file, the default
/// time zone, and how much it logs.
#[derive(clap::Args, Debug, Clone)]
pub struct Base {
    /// Configuration file (TOML): tenants, time zones, queues, members,
    /// `[serve]` and `[limits]`.
    #[arg(long, short = 'c', value_name = "FILE", env = "CALLBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Time zone of tenants the config file does not name (IANA name).
    #[arg(long, value_name = "ZONE", env = "CALLBOARD_TZ")]
    pub tz: Option<String>,
    /// Log filter (`info`, `debug`, `callboard=debug,warn`...).
    #[arg(
        long,
        value_name = "FILTER",
        env = "CALLBOARD_LOG",
        default_value = "info"
    )]
    pub log: String,
}

impl Base {
    /// Starts the logs and reads the config.
    pub fn start(&self) -> anyhow::Result<Config> {
        init_logs(&self.log)?;
        match &self.config {
            Some(path) => Config::load(path, self.tz.as_deref(), None),
            None => Config::from_file(Default::default(), self.tz.as_deref(), None),
        }
    }
}

fn init_logs(filter: &str) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .with_context(|| format!("--log `{filter}` is not a log filter"))?,
        )
        .with_writer(io::stderr)
        // A log line that cannot be written (stderr closed: a journal
        // restarted, a pipe's reader gone) is dropped. Reporting it would
        // print to stderr too, which panics on that error and would take
        // the logging task down with it (a SIGTERM then stopped nothing).
        .log_internal_errors(false)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    Ok(())
}

/// A command's result as the process's exit: its own code, 0 when the
/// reader of its output went away (`| head`: nothing left to say to it), 2
/// with the error on stderr otherwise.
pub fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<io::Error>().map(io::Error::kind)
                    == Some(io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>()
                        .and_then(serde_json::Error::io_error_kind)
                        == Some(io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Not `eprintln!`: it panics when stderr is closed.
            let _ = writeln!(io::stderr(), "callboard: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// An instant given on the command line (RFC 3339 with an offset).
pub fn parse_at(s: &str) -> Result<Millis, String> {
    time::parse_rfc3339(s).ok_or_else(|| {
        format!("`{s}` is not RFC 3339 with an offset (e.g. 2026-11-21T18:00:00+09:00)")
    })
}
