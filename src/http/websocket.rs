//! The websocket handshake (RFC 6455 §4.2), with `permessage-deflate`
//! (RFC 7692) offered by the client accepted. Done here rather than by
//! axum's extractor so that the server can send compressed frames (RSV1
//! set), each compressed once per snapshot view and shared by every client
//! of that view.
//!
//! The server compresses each message on its own
//! (`server_no_context_takeover`), so a connection holds no compressor, and
//! it reads nothing from clients but control frames (pings, pongs, close),
//! which are never compressed: a client that sends a compressed data frame
//! is closed with a protocol error.

use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::ApiError;

/// An open websocket, server side.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The extension the server answers with when the client offered it.
const DEFLATE_ACCEPTED: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// A valid websocket request, not yet answered.
pub struct Handshake {
    accept_key: String,
    on_upgrade: OnUpgrade,
    /// The client offered `permessage-deflate` in a form the server takes:
    /// send it compressed frames.
    pub deflate: bool,
}

impl Handshake {
    /// Checks the request is a websocket upgrade (400 otherwise, 426 when
    /// the connection cannot be upgraded) and reads the client's offer of
    /// compression.
    pub fn read(req: &mut Request) -> Result<Handshake, ApiError> {
        let bad = |what: &str| {
            Err(ApiError::BadRequest(format!(
                "not a websocket request: {what}"
            )))
        };
        if req.method() != Method::GET {
            return bad("the method must be GET");
        }
        let headers = req.headers();
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return bad("the Connection header must include `upgrade`");
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return bad("the Upgrade header must be `websocket`");
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            return bad("Sec-WebSocket-Version must be 13");
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
            return bad("Sec-WebSocket-Key is missing");
        };
        let accept_key = derive_accept_key(key.as_bytes());
        let deflate = offers_deflate(headers);
        let on_upgrade = req
            .extensions_mut()
            .remove::<OnUpgrade>()
            .ok_or(ApiError::UpgradeRequired)?;
        Ok(Handshake {
            accept_key,
            on_upgrade,
            deflate,
        })
    }

    /// Answers 101 and runs `client` on the socket once the connection is
    /// upgraded.
    pub fn accept<F, Fut>(self, config: WebSocketConfig, client: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    client(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "a websocket upgrade did not complete"),
            }
        });
        let mut res = Response::new(axum::body::Body::empty());
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = res.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&self.accept_key).expect("base64 is a valid header value"),
        );
        if self.deflate {
            h.insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_static(DEFLATE_ACCEPTED),
            );
        }
        res
    }
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether one of the client's `permessage-deflate` offers can be taken
/// (RFC 7692 §7.1): every parameter known, none twice, and a
/// `server_max_window_bits` (if any) of 15, the only window this
/// compressor has. The client's own window is its business: the server
/// reads no compressed frame.
fn offers_deflate(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(offer_acceptable)
}

fn offer_acceptable(offer: &str) -> bool {
    let mut parts = offer.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case("permessage-deflate"))
    {
        return false;
    }
    let mut seen: Vec<String> = Vec::new();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return false;
        }
        let ok = match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => true,
            ("client_max_window_bits", None) => true,
            ("client_max_window_bits", Some(v)) => window_bits(v).is_some(),
            ("server_max_window_bits", Some(v)) => window_bits(v) == Some(15),
            _ => false,
        };
        if !ok {
            return false;
        }
        seen.push(name);
    }
    true
}

/// A window size parameter's value: 8 to 15, no leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.starts_with('0') {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(values: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::SEC_WEBSOCKET_EXTENSIONS,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        offers_deflate(&h)
    }

    #[test]
    fn what_browsers_and_libraries_offer_is_taken() {
        // Chromium and Firefox.
        assert!(offered(&["permessage-deflate; client_max_window_bits"]));
        // Python's websockets.
        assert!(offered(&[
            "permessage-deflate; server_max_window_bits=15; client_max_window_bits"
        ]));
        assert!(offered(&[
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ]));
        assert!(offered(&[
            r#"PerMessage-Deflate; client_max_window_bits="10""#
        ]));
        // A second offer, after one that cannot be taken.
        assert!(offered(&[
            "permessage-deflate; server_max_window_bits=10, permessage-deflate"
        ]));
        assert!(offered(&["x-webkit-deflate-frame", "permessage-deflate"]));
    }

    #[test]
    fn what_the_server_cannot_honour_is_declined() {
        assert!(!offered(&[]));
        assert!(!offered(&["x-webkit-deflate-frame"]));
        // A smaller window than the compressor's.
        assert!(!offered(&["permessage-deflate; server_max_window_bits=10"]));
        assert!(!offered(&["permessage-deflate; server_max_window_bits"]));
        // Unknown, repeated or malformed parameters.
        assert!(!offered(&["permessage-deflate; mystery"]));
        assert!(!offered(&[
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover"
        ]));
        assert!(!offered(&["permessage-deflate; client_max_window_bits=16"]));
        assert!(!offered(&["permessage-deflate; client_max_window_bits=09"]));
        assert!(!offered(&[
            "permessage-deflate; server_no_context_takeover=1"
        ]));
    }
}
