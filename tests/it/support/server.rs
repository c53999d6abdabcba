//! The service, in-process on free loopback ports, as the tests start it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callboard::cmd::serve::run_with_metrics_listener;
use callboard::cmd::serve::settings::{EngineSettings, ServeSettings};
use callboard::config::Config;
use callboard::time::Millis;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A running service.
pub struct Server {
    pub addr: SocketAddr,
    /// The separate `/metrics` listener, when asked for.
    pub metrics: Option<SocketAddr>,
    pub stop: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Serves `config` with `settings` on a free port.
    pub async fn start(config: Config, settings: ServeSettings) -> Server {
        Server::bind(config, settings, false).await
    }

    /// [`Server::start`], with `/metrics` on a listener of its own too.
    pub async fn start_with_metrics(config: Config, settings: ServeSettings) -> Server {
        Server::bind(config, settings, true).await
    }

    async fn bind(config: Config, settings: ServeSettings, metrics: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics_listener = match metrics {
            true => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let metrics = metrics_listener.as_ref().map(|m| m.local_addr().unwrap());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_with_metrics_listener(
            listener,
            metrics_listener,
            Arc::new(config),
            settings,
            stop.clone(),
        ));
        Server {
            addr,
            metrics,
            stop,
            task,
        }
    }
}

/// Engine settings for tests: `shards` shards publishing every `ms`.
pub fn engine(shards: usize, ms: u64) -> EngineSettings {
    EngineSettings {
        shards,
        publish_interval: Duration::from_millis(ms),
    }
}

/// The wall clock, in the engine's unit.
pub fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}
