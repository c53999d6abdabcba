//! `[[tokens]]`: who may read what, stored as hashes.

use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read one tenant's snapshots (REST and websocket).
    Tenant,
    /// Read every tenant, ingest events, read metrics.
    Admin,
    /// Read `/metrics` only.
    Metrics,
}

/// `[[tokens]]`: one access token, stored hashed.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// A name for logs; never the token itself.
    pub name: String,
    /// SHA-256 of the token in hex (`callboard token new` prints both).
    pub sha256: String,
    pub role: Role,
    /// The tenant a `tenant` token reads.
    pub tenant: Option<String>,
    /// The services a `tenant` token is limited to (a team lead's screen:
    /// the board, REST, websocket and reports show only these); empty:
    /// every service of the tenant.
    #[serde(default)]
    pub services: Vec<String>,
    /// Client addresses allowed to use the token (IPs or CIDR ranges);
    /// empty: any.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// A validated token.
#[derive(Clone, Debug)]
pub struct Token {
    pub name: String,
    pub sha256: [u8; 32],
    pub role: Role,
    pub tenant: Option<String>,
    /// The services it is limited to, sorted; `None`: all.
    pub services: Option<Scope>,
    pub allow: Vec<ipnet::IpNet>,
}

/// A set of services a token is limited to, sorted and without repeats.
pub type Scope = std::sync::Arc<[std::sync::Arc<str>]>;

/// The scope of `names`: sorted, without repeats; `None` when empty.
pub fn scope_of<S: AsRef<str>>(names: &[S]) -> Option<Scope> {
    let mut v: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    v.sort_unstable();
    v.dedup();
    (!v.is_empty()).then(|| v.into_iter().map(std::sync::Arc::from).collect())
}

/// At most this many services in one token's scope.
pub const MAX_SCOPE_SERVICES: usize = 64;

pub(super) fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

pub(super) fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}
