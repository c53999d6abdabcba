//! TLS on the main listener (`--tls-cert`, `--tls-key`), so one server
//! serves `https://` and `wss://` without a proxy: kiosk tokens travel in
//! URLs across the floor's network.
//!
//! The certificate and key are PEM files, read at start (an error then
//! stops the start) and read again when either changes (checked every
//! [`RELOAD_EVERY`]): a renewed certificate is served to new connections
//! without a restart; one that cannot be read is logged and the last good
//! one kept. The handshake runs in the connection's own task, on its first
//! read or write (see [`super::listener`]), under the deadline a new
//! connection has.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the files are checked for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The files' modification times and sizes: what tells a change.
type Stamp = [Option<(SystemTime, u64)>; 2];

/// The served certificate, and where it comes from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<ServerConfig>, Stamp)>,
}

impl Tls {
    /// Reads the certificate chain and key; an error says which file and
    /// what is wrong with it.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Tls>> {
        let stamp = stamp(cert, key);
        let config = server_config(cert, key)?;
        Ok(Arc::new(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((config, stamp)),
        }))
    }

    /// The acceptor of the certificate served now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        TlsAcceptor::from(current.0.clone())
    }

    /// Reads the files again if either changed since they were last read;
    /// whether a new certificate is now served.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        if now == self.current.read().unwrap_or_else(|e| e.into_inner()).1 {
            return false;
        }
        match server_config(&self.cert, &self.key) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (config, now);
                tracing::info!(cert = %self.cert.display(), "TLS: the certificate changed and is served to new connections");
                true
            }
            Err(e) => {
                // Tried again at the next change (a renewal writes the two
                // files one after the other).
                self.current.write().unwrap_or_else(|e| e.into_inner()).1 = now;
                tracing::warn!(error = %format!("{e:#}"), "TLS: the changed certificate cannot be used; the last good one is still served");
                false
            }
        }
    }

    /// Checks the files every [`RELOAD_EVERY`] until `stop`.
    pub fn watch(self: Arc<Self>, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = every.tick() => {
                        let tls = self.clone();
                        // File reads: off the async workers.
                        let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
                    }
                    _ = stop.cancelled() => break,
                }
            }
        });
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let of = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    [of(cert), of(key)]
}

fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("tls_cert: cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("tls_cert: {} is not PEM certificates", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "tls_cert: {} holds no certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key: {} holds no PEM private key", key.display()))?;
    // *ring* builds with a C compiler alone; its key exchanges are the
    // classical ones (no post-quantum hybrid), which rustls marks.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS: protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("tls_cert and tls_key do not make a certificate and its key")?;
    // HTTP/1.1 only: websockets upgrade from it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
