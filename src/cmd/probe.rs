//! `callboard probe`: an HTTP GET that a container healthcheck can run
//! without curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

/// Whether a GET of `url` (`http://host:port/path`) answers 2xx within
/// `timeout`; an error when it cannot be asked at all.
pub fn probe(url: &str, timeout: Duration) -> anyhow::Result<bool> {
    let rest = url
        .strip_prefix("http://")
        .context("probe takes an http:// URL")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    Ok(head.starts_with(b"HTTP/1.1 2") || head.starts_with(b"HTTP/1.0 2"))
}

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// e.g. http://127.0.0.1:8080/healthz
    pub url: String,
}

pub fn execute(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    Ok(if probe(&args.url, Duration::from_secs(3))? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
