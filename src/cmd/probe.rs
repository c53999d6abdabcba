//! `callboard probe`: an HTTP GET that a container healthcheck can run
//! without curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

/// The status line a GET of `url` (`http://host:port/path`) answers with
/// within `timeout`; an error when it cannot be asked at all.
pub fn probe(url: &str, timeout: Duration) -> anyhow::Result<String> {
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
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..])? {
            0 => break,
            got => n += got,
        }
        if head[..n].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    Ok(line.lines().next().unwrap_or_default().trim().to_string())
}

/// Whether a status line is a success (2xx).
fn succeeded(status: &str) -> bool {
    let mut words = status.split_whitespace();
    matches!(words.next(), Some("HTTP/1.1" | "HTTP/1.0"))
        && words
            .next()
            .is_some_and(|code| code.len() == 3 && code.starts_with('2'))
}

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// e.g. http://127.0.0.1:8080/healthz
    pub url: String,
}

pub fn execute(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let status = probe(&args.url, Duration::from_secs(3))
        .with_context(|| format!("cannot ask {}", args.url))?;
    if succeeded(&status) {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "callboard probe: {} answered {}",
        args.url,
        if status.is_empty() {
            "nothing"
        } else {
            &status
        }
    );
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use super::succeeded;

    #[test]
    fn only_a_2xx_status_line_is_a_success() {
        assert!(succeeded("HTTP/1.1 200 OK"));
        assert!(succeeded("HTTP/1.0 204 No Content"));
        for line in [
            "HTTP/1.1 503 Service Unavailable",
            "HTTP/1.1 404",
            "",
            "garbage",
            "HTTP/1.1 2",
        ] {
            assert!(!succeeded(line), "{line}");
        }
    }
}
