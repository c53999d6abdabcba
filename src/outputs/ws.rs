//! Websocket `GET /api/v1/ws?tenant=T[&service=S][&view=V]`: the latest snapshot at
//! once, then each published one, each with its sequence number. A token
//! limited to some services gets their view only.
//!
//! A client follows the tenant's `watch` channel: when it is slow, it skips
//! to the newest snapshot, so it holds at most one message and never slows
//! anyone else. The board's agent views are sent at most one a second
//! (`view_every`). A client that offers `permessage-deflate` gets each
//! message compressed, once per view and snapshot for all of its clients.
//! The server pings; a client silent for too long, or one that cannot take
//! a message within the send timeout, is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{Instant, interval, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::http::auth::{Access, origin_allowed};
use crate::http::websocket::{Handshake, Socket};
use crate::http::{ApiError, AppState};
use crate::service::hub::Published;
use crate::telemetry::{Signal, WebsocketClients};

/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client that sends nothing (not even a pong) for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A message that cannot be written within this time drops the client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
pub struct WsQuery {
    tenant: String,
    service: Option<String>,
    /// The board view this client draws: views that list no agents get
    /// the snapshot without its agent list.
    view: Option<String>,
    /// Read by the auth middleware; named here so it is accepted.
    #[allow(dead_code)]
    token: Option<String>,
}

/// The websocket route.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/ws", axum::routing::get(upgrade))
}

async fn upgrade(
    Query(q): Query<WsQuery>,
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let handshake = Handshake::read(&mut req)?;
    if !origin_allowed(req.headers(), &st.allowed_origins) {
        return Err(ApiError::Forbidden(
            "websocket from an origin that is not allowed".into(),
        ));
    }
    if !access.can_read(&q.tenant) {
        return Err(ApiError::forbidden_tenant(&q.tenant));
    }
    let agents = super::view_wants_agents(q.view.as_deref())?;
    if st.hub.reading_snapshots() {
        return Err(ApiError::reading_snapshots());
    }
    let scope = access.scope().cloned();
    if let (Some(scope), Some(svc)) = (&scope, &q.service)
        && !scope.iter().any(|s| **s == **svc)
    {
        return Err(ApiError::forbidden_service(svc));
    }
    // A tenant the config names may be waited for, and any while the
    // instance reads its events back; an unknown one is an error.
    let known = st.config.names_tenant(&q.tenant) || st.hub.is_rebuilding();
    let Some(rx) = st.hub.subscribe(&q.tenant, known) else {
        return Err(ApiError::NoTenant(q.tenant));
    };
    // A service the tenant does not have (a typo in a screen's address)
    // is refused, not shown as an empty board; one of a tenant with no
    // figures yet is waited for.
    if let Some(svc) = &q.service {
        if svc.is_empty() {
            return Err(ApiError::BadRequest(
                "`service` must name a service; leave it out for the whole tenant".into(),
            ));
        }
        let latest = rx.borrow().clone();
        if let Some(p) = latest
            && !p.snapshot.services.iter().any(|s| *s.service == **svc)
        {
            let names: Vec<&str> = p.snapshot.services.iter().map(|s| &*s.service).collect();
            return Err(ApiError::NotFound(format!(
                "tenant `{}` has no service `{svc}`; its services: {}",
                q.tenant,
                names.join(", ")
            )));
        }
    }
    // Clients only send pongs and closes: small read buffers and a small
    // message limit keep thousands of screens cheap.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let view = View {
        scope,
        service: q.service,
        agents,
        every: super::view_every(q.view.as_deref()),
        deflate: handshake.deflate,
    };
    Ok(handshake.accept(config, move |socket| client(socket, rx, view, st)))
}

/// What one client sees: a scoped token's services, and a service it
/// asked for (`?service=`).
struct View {
    scope: Option<crate::config::Scope>,
    service: Option<String>,
    /// With the agent list.
    agents: bool,
    /// At most one message this often (`None`: each snapshot published).
    every: Option<Duration>,
    /// Compressed frames (the client took `permessage-deflate`).
    deflate: bool,
}

/// The message for one client: its view of the snapshot, shared with every
/// client of the same view, compressed if it took compression (`None`: the
/// snapshot has no figures for the client's scope).
fn message(p: &Published, view: &View) -> Option<Message> {
    let m = p.view(view.scope.as_ref(), view.service.as_deref(), view.agents)?;
    Some(if view.deflate {
        let mut frame = Frame::message(m.deflated(), OpCode::Data(Data::Text), true);
        frame.header_mut().rsv1 = true;
        Message::Frame(frame)
    } else {
        Message::Text(
            Utf8Bytes::try_from(m.text.clone())
                .expect("the envelope and the JSON inside it are UTF-8"),
        )
    })
}

async fn client(
    socket: Socket,
    mut rx: tokio::sync::watch::Receiver<Option<Arc<Published>>>,
    view: View,
    st: AppState,
) {
    let n = st.ws_clients.fetch_add(1, Ordering::Relaxed) + 1;
    WebsocketClients { open: n }.emit();
    let (mut tx, mut incoming) = socket.split();
    let mut ping = interval(PING_EVERY);
    ping.tick().await;
    let mut last_heard = Instant::now();
    // When the newest snapshot goes out: at once, or for a view sent at
    // most every so often, that long after the last message.
    let mut due: Option<Instant> = None;
    let mut sent_at: Option<Instant> = None;
    let mut gone = false;
    // The current snapshot first, if there is one; if there is none yet
    // because the instance reads its events back, the board is told so
    // (it shows `recovering` instead of waiting in silence).
    rx.mark_changed();
    if rx.borrow().is_none() && st.hub.is_rebuilding() {
        let status = Message::Text(Utf8Bytes::from_static(
            r#"{"type":"status","status":"recovering"}"#,
        ));
        if !matches!(timeout(SEND_TIMEOUT, tx.send(status)).await, Ok(Ok(()))) {
            gone = true;
        }
    }
    if !gone {
        loop {
            tokio::select! {
                changed = rx.changed(), if due.is_none() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = Instant::now();
                    due = Some(match (view.every, sent_at) {
                        (Some(every), Some(at)) => (at + every).max(now),
                        _ => now,
                    });
                }
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    due = None;
                    let latest = rx.borrow_and_update().clone();
                    // A snapshot without the scope's figures (made under
                    // another config) is not shown; the next one will be.
                    if let Some(msg) = latest.as_deref().and_then(|p| message(p, &view)) {
                        // Spaced from the start of a send, so that time spent
                        // writing does not add up into a lag behind publishes.
                        sent_at = Some(Instant::now());
                        match timeout(SEND_TIMEOUT, tx.send(msg)).await {
                            Ok(Ok(())) => {}
                            _ => break,
                        }
                    }
                }
                msg = incoming.next() => match msg {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        let _ = tx.send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: Utf8Bytes::from_static("idle timeout"),
                        }))).await;
                        break;
                    }
                    if timeout(SEND_TIMEOUT, tx.send(Message::Ping(Default::default()))).await.is_err() {
                        break;
                    }
                }
                _ = st.shutdown.cancelled() => {
                    let _ = timeout(
                        Duration::from_secs(1),
                        tx.send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: Utf8Bytes::from_static("server shutting down"),
                        }))),
                    ).await;
                    break;
                }
            }
        }
    }
    let n = st.ws_clients.fetch_sub(1, Ordering::Relaxed) - 1;
    WebsocketClients { open: n }.emit();
}
