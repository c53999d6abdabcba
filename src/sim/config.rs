//! What to simulate: the tenant, its services and queues, its agents and
//! the shape of its day.

use crate::time::Millis;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub tenant: String,
    /// IANA zone whose local hours shape the arrivals.
    pub tz: String,
    /// Services and their queues.
    pub services: Vec<(String, Vec<String>)>,
    pub agents: usize,
    /// Calls per hour for the whole tenant at the busiest hour.
    pub peak_calls_per_hour: f64,
    /// How arrivals follow the local hour.
    pub profile: Profile,
    pub start: Millis,
    pub seed: u64,
    /// Agents work shifts (log in and out at their times, see
    /// [`Profile::shifts`]) rather than all being logged in all the time.
    pub shifts: bool,
}

/// A working shift: when it starts (local minutes after midnight), how long
/// it lasts (minutes), and its share of the agents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shift {
    pub start_min: u32,
    pub len_min: u32,
    pub share: f64,
}

/// How the arrival rate follows the local hour of the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Profile {
    /// A 24-hour contact center: busiest mid-morning and mid-afternoon,
    /// never below half the peak, so a demo is alive at any hour.
    #[default]
    AllDay,
    /// Office hours: near silence at night, peaks at 10:00 and 15:00.
    Business,
}

impl Profile {
    /// The shifts of a center of this profile: a 24-hour center works three
    /// nine-hour shifts that overlap an hour (07:00, 15:00 and 23:00), the
    /// night's the smallest; an office works one, 08:30 to 18:30.
    pub fn shifts(self) -> &'static [Shift] {
        match self {
            Profile::AllDay => &[
                Shift {
                    start_min: 7 * 60,
                    len_min: 540,
                    share: 0.37,
                },
                Shift {
                    start_min: 15 * 60,
                    len_min: 540,
                    share: 0.35,
                },
                Shift {
                    start_min: 23 * 60,
                    len_min: 540,
                    share: 0.28,
                },
            ],
            Profile::Business => &[Shift {
                start_min: 8 * 60 + 30,
                len_min: 600,
                share: 1.0,
            }],
        }
    }

    /// Relative arrival rate in a local hour (1.0 = the busiest hour).
    pub(super) fn rate(self, hour: usize) -> f64 {
        match self {
            Profile::AllDay => ALL_DAY[hour],
            Profile::Business => BUSINESS[hour],
        }
    }
}

impl SimConfig {
    /// The demo tenant: three services, five queues, 72 agents in three
    /// shifts (20 to 27 logged in at a time, more where shifts overlap).
    pub fn demo(start: Millis, seed: u64) -> SimConfig {
        let s = |name: &str, qs: &[&str]| {
            (name.to_string(), qs.iter().map(|q| q.to_string()).collect())
        };
        SimConfig {
            tenant: "demo".into(),
            tz: "Asia/Seoul".into(),
            services: vec![
                s("sales", &["sales-new", "sales-upgrade"]),
                s("support", &["support-general", "support-tech"]),
                s("billing", &["billing"]),
            ],
            agents: 72,
            peak_calls_per_hour: 360.0,
            profile: Profile::default(),
            start,
            seed,
            shifts: true,
        }
    }

    /// A large tenant for load: `queues` queues in services of ten.
    pub fn large(agents: usize, queues: usize, start: Millis, seed: u64) -> SimConfig {
        let services = (0..queues.div_ceil(10))
            .map(|s| {
                let qs = (s * 10..((s + 1) * 10).min(queues))
                    .map(|q| format!("q{q:03}"))
                    .collect();
                (format!("svc{s:02}"), qs)
            })
            .collect();
        SimConfig {
            tenant: "large".into(),
            tz: "Asia/Seoul".into(),
            services,
            agents,
            peak_calls_per_hour: agents as f64 * 12.0,
            profile: Profile::default(),
            start,
            seed,
            shifts: false,
        }
    }
}

/// Relative arrival rate per local hour of an office-hours center.
pub(super) const BUSINESS: [f64; 24] = [
    0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.2, 0.6, 0.95, 1.0, 0.9, 0.6, 0.8, 0.95, 1.0, 0.9,
    0.75, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03,
];

/// Relative arrival rate per local hour of a 24-hour center.
pub(super) const ALL_DAY: [f64; 24] = [
    0.8, 0.75, 0.7, 0.7, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 0.95, 0.85, 0.9, 0.95, 1.0, 0.95,
    0.9, 0.85, 0.85, 0.8, 0.8, 0.8, 0.8,
];

pub(super) const SURNAMES: [&str; 10] =
    ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
pub(super) const GIVEN: [&str; 12] = [
    "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "지민", "주원", "하은", "예준", "수아",
];
