//! Who may read what. A request's token (`Authorization: Bearer T`, or
//! `?token=T` where a client cannot set headers: browsers' websockets, kiosk
//! URLs) is hashed and looked up among the configured tokens; the result,
//! an [`Access`], travels with the request to the handlers, which check it.
//!
//! With no tokens configured the service is open, and listens on loopback
//! only (checked at start).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};
use crate::config::{Role, Scope, Token};

/// What the request may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// No tokens are configured (loopback only): everything.
    Open,
    Admin,
    /// One tenant's snapshots; with a scope, only those services'.
    Tenant(Arc<str>, Option<Scope>),
    /// `/metrics` only.
    Metrics,
}

impl Access {
    pub fn can_read(&self, tenant: &str) -> bool {
        match self {
            Access::Open | Access::Admin => true,
            Access::Tenant(t, _) => **t == *tenant,
            Access::Metrics => false,
        }
    }

    /// The services the token is limited to, if any.
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Access::Tenant(_, scope) => scope.as_ref(),
            _ => None,
        }
    }

    /// Whether the token reads tenants' data at all (a metrics token does
    /// not: `/metrics` only).
    pub fn reads_tenants(&self) -> bool {
        !matches!(self, Access::Metrics)
    }

    pub fn can_ingest(&self) -> bool {
        matches!(self, Access::Open | Access::Admin)
    }

    pub fn can_read_metrics(&self) -> bool {
        matches!(self, Access::Open | Access::Admin | Access::Metrics)
    }
}

/// The configured tokens, by hash.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Token>,
}

/// SHA-256 of a token, as stored in the config.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token just made: the secret for the client, and the config entry
/// that stores only its hash.
pub struct NewToken {
    pub token: String,
    /// A `[[tokens]]` entry for the config file.
    pub entry: String,
}

/// Makes a random token (24 bytes from the OS, in hex) for `role`; a
/// `tenant` token reads `tenant` (only `services` of it, if any named),
/// other roles name none.
pub fn new_token(
    name: &str,
    role: Role,
    tenant: Option<&str>,
    services: &[String],
) -> anyhow::Result<NewToken> {
    anyhow::ensure!(
        (role == Role::Tenant) == tenant.is_some(),
        "a tenant token needs the tenant it reads; other roles name none"
    );
    anyhow::ensure!(
        services.is_empty() || role == Role::Tenant,
        "only a tenant token is limited to services"
    );
    anyhow::ensure!(
        services.len() <= crate::config::MAX_SCOPE_SERVICES,
        "at most {} services",
        crate::config::MAX_SCOPE_SERVICES
    );
    for s in services {
        crate::config::check_name(s).context("--services")?;
    }
    // What the config loader takes, in a form it reads back.
    crate::config::check_name(name).context("--name")?;
    if let Some(t) = tenant {
        crate::config::check_name(t).context("--tenant")?;
    }
    let toml_string = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut raw = [0u8; 24];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
    let token = hex(&raw);
    let role_name = match role {
        Role::Tenant => "tenant",
        Role::Admin => "admin",
        Role::Metrics => "metrics",
    };
    let mut entry = format!(
        "[[tokens]]\nname = {}\nsha256 = \"{}\"\nrole = \"{role_name}\"\n",
        toml_string(name),
        hex(&hash_token(&token))
    );
    if let Some(t) = tenant {
        entry.push_str(&format!("tenant = {}\n", toml_string(t)));
    }
    if let Some(scope) = crate::config::scope_of(services) {
        let list: Vec<String> = scope.iter().map(|s| toml_string(s)).collect();
        entry.push_str(&format!("services = [{}]\n", list.join(", ")));
    }
    Ok(NewToken { token, entry })
}

impl Tokens {
    pub fn new(tokens: &[Token]) -> Tokens {
        Tokens {
            by_hash: tokens.iter().map(|t| (t.sha256, t.clone())).collect(),
        }
    }

    /// The access a presented token gives a client at `peer`.
    pub fn check(&self, presented: Option<&str>, peer: Option<IpAddr>) -> Result<Access, Denied> {
        if self.by_hash.is_empty() {
            return Ok(Access::Open);
        }
        let token = presented.ok_or(Denied::NoToken)?;
        let t = self
            .by_hash
            .get(&hash_token(token))
            .ok_or(Denied::UnknownToken)?;
        if !t.allow.is_empty() && !peer.is_some_and(|ip| t.allow.iter().any(|n| n.contains(&ip))) {
            tracing::warn!(token = %t.name, ?peer, "token used from an address it is not allowed from");
            return Err(Denied::Address);
        }
        Ok(match t.role {
            Role::Admin => Access::Admin,
            Role::Metrics => Access::Metrics,
            Role::Tenant => Access::Tenant(
                Arc::from(
                    t.tenant
                        .as_deref()
                        .expect("the config refuses a tenant token without its tenant"),
                ),
                t.services.clone(),
            ),
        })
    }
}

/// Why a request was refused before reaching a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    NoToken,
    UnknownToken,
    /// The token is not allowed from the client's address.
    Address,
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> ApiError {
        match d {
            Denied::NoToken => ApiError::Unauthorized(
                "a token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)",
            ),
            Denied::UnknownToken => ApiError::Unauthorized("unknown token"),
            Denied::Address => {
                ApiError::Forbidden("this token is not allowed from your address".into())
            }
        }
    }
}

/// The token a request presents, from its header or its query.
fn presented<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, token) = v.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .or_else(|| query?.split('&').find_map(|kv| kv.strip_prefix("token=")))
}

/// Middleware: resolves the request's [`Access`]. Routes that hold no data
/// (health, readiness, the board's files, the API's description) are not
/// behind it.
pub async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let conn = req
        .extensions()
        .get::<ConnectInfo<super::listener::Peer>>()
        .map(|c| c.0.clone());
    let peer = conn.as_ref().map(|p| p.0.ip());
    let access = match st
        .tokens
        .check(presented(req.headers(), req.uri().query()), peer)
    {
        Ok(a) => a,
        Err(denied) => return ApiError::from(denied).into_response(),
    };
    if access == Access::Open
        && let Some(refused) = open_mode_refusal(&req, &st.allowed_origins)
    {
        return refused.into_response();
    }
    // The connection proved itself: it leaves the pending pool for the
    // authenticated one, if that has a place (see `listener`).
    if let Some(p) = &conn
        && p.1.promote().is_err()
    {
        crate::telemetry::Signal::emit(crate::telemetry::ConnectionClosed("main", "full"));
        return ApiError::Unavailable(
            "every place for an authenticated connection is taken (limits.max_connections): try again shortly".into(),
        )
        .into_response();
    }
    req.extensions_mut().insert(access);
    next.run(req).await
}

/// Open mode trusts every local client, so it must not trust a web page the
/// operator happens to visit: a request naming a host other than a loopback
/// name (a DNS-rebinding page reaching 127.0.0.1 under its own name) is
/// refused, and so is a write from a browser of another origin (a page
/// posting events). Origins in `allowed_origins` are let through. Returns
/// the refusal, if any.
fn open_mode_refusal(req: &Request, allowed: &[String]) -> Option<ApiError> {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let allowed_host = |h: &str| {
        allowed.iter().any(|a| {
            let a = a.trim_end_matches('/');
            a.strip_prefix("http://")
                .or_else(|| a.strip_prefix("https://"))
                == Some(h)
        })
    };
    if !host.is_empty() && !is_loopback_host(host) && !allowed_host(host) {
        return Some(ApiError::Forbidden(format!(
            "host `{host}` is not a loopback name: without access tokens only localhost is served (add the origin to [serve] allowed_origins, or configure tokens)"
        )));
    }
    let writes =
        req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD;
    (writes && !origin_allowed(headers, allowed))
        .then(|| ApiError::Forbidden("writes from a web page of another origin are refused".into()))
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when a websocket upgrade's `Origin` may connect: no Origin (not a
/// browser), the service's own origin, or one the config allows.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    host.is_some() && origin_host == host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        assert!(origin_allowed(&h, &[]), "no Origin: not a browser");
        h.insert(header::HOST, "board.local:8080".parse().unwrap());
        h.insert(header::ORIGIN, "http://board.local:8080".parse().unwrap());
        assert!(origin_allowed(&h, &[]));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!origin_allowed(&h, &[]));
        assert!(origin_allowed(&h, &["https://evil.example/".to_string()]));
    }

    #[test]
    fn presented_token_from_header_or_query() {
        let mut h = HeaderMap::new();
        assert_eq!(presented(&h, Some("tenant=a&token=xyz")), Some("xyz"));
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented(&h, Some("token=xyz")), Some("abc"));
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            h.insert(
                header::AUTHORIZATION,
                format!("{scheme} abc").parse().unwrap(),
            );
            assert_eq!(presented(&h, None), Some("abc"), "{scheme}");
        }
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented(&h, None), None);
    }
}
