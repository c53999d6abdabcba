//! `callboard simulate`: the simulated contact center's events as NDJSON on
//! standard output, or produced to Kafka.

use std::io;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;

use crate::cmd::serve::settings::{
    DEFAULT_PEAK_CALLS_PER_HOUR, DEFAULT_SIMULATED_AGENTS, DEFAULT_TOPIC,
};
use crate::sim::{self, Profile, SimConfig, Simulator};
use crate::time::{self, Millis};

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Start of the simulated traffic: RFC 3339, or `today` (the demo
    /// tenant's local midnight).
    #[arg(long, value_name = "RFC3339|today", value_parser = parse_start)]
    start: Millis,
    /// How many hours to simulate.
    #[arg(long, default_value_t = 12.0)]
    hours: f64,
    /// Number of agents, at least 1.
    #[arg(long, default_value_t = DEFAULT_SIMULATED_AGENTS, value_parser = clap::value_parser!(u64).range(1..).map(|n| n as usize))]
    agents: usize,
    /// Agents work shifts: with `all-day`, three nine-hour shifts from
    /// 07:00, 15:00 and 23:00 (37/35/28 % of the agents); with `business`,
    /// one from 08:30 to 18:30. They log in and out at their times (as the
    /// built-in demo's do). Without it every agent is logged in throughout.
    #[arg(long)]
    shifts: bool,
    /// Calls per hour at the busiest hour of the day.
    #[arg(long, default_value_t = DEFAULT_PEAK_CALLS_PER_HOUR)]
    peak_calls_per_hour: f64,
    /// How arrivals follow the local hour: `all-day` (a 24-hour center,
    /// busy at any hour) or `business` (office hours, quiet at night).
    #[arg(long, value_enum, default_value = "all-day")]
    profile: Profile,
    /// Seed of the random choices: the same seed gives the same events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated tenants: `demo`, `demo-2`, ..., each with the options
    /// above and its own seed (SEED, SEED+1, ...): each tenant's events
    /// as it alone would give them, the tenants interleaved by time.
    #[arg(long, value_name = "N", default_value_t = 1)]
    tenants: usize,
    /// Produce to Kafka (key = tenant) instead of writing to standard output.
    #[arg(long, value_name = "HOSTS", env = "CALLBOARD_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Topic to produce to (created if missing).
    #[arg(long, value_name = "TOPIC", default_value = DEFAULT_TOPIC)]
    topic: String,
    /// At most this many events per second (0: as fast as possible).
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate: u64,
    /// Release each event when the wall clock reaches its time (what is
    /// already past goes at once): live demo traffic.
    #[arg(long)]
    realtime: bool,
}

fn parse_start(s: &str) -> Result<Millis, String> {
    if s == "today" {
        let cfg = SimConfig::demo(0, 0);
        return Ok(crate::sources::simulated::start_of_today(
            &cfg.tz,
            time::now_ms(),
        ));
    }
    super::parse_at(s)
}

pub fn execute(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.hours.is_finite() && args.hours > 0.0,
        "--hours must be a positive number"
    );
    anyhow::ensure!(args.tenants >= 1, "--tenants must be at least 1");
    let sims = (0..args.tenants)
        .map(|i| {
            let mut cfg = SimConfig::demo(args.start, args.seed + i as u64);
            if i > 0 {
                cfg.tenant = format!("demo-{}", i + 1);
            }
            cfg.agents = args.agents;
            cfg.peak_calls_per_hour = args.peak_calls_per_hour;
            cfg.profile = args.profile;
            cfg.shifts = args.shifts;
            Simulator::new(cfg)
        })
        .collect();
    let end = args.start + (args.hours * 3_600_000.0) as Millis;
    let events = sim::merged(sims).take_while(move |e| e.ts < end);
    if let Some(brokers) = &args.kafka_brokers {
        let runtime = tokio::runtime::Runtime::new()?;
        let n = runtime.block_on(crate::kafka::produce(
            brokers,
            &args.topic,
            events,
            args.rate,
            args.realtime,
        ))?;
        eprintln!("callboard simulate: {n} events produced to {}", args.topic);
        return Ok(ExitCode::SUCCESS);
    }
    sim::write_ndjson(events, io::stdout().lock(), args.realtime)?;
    Ok(ExitCode::SUCCESS)
}
