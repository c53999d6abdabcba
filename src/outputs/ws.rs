//! Websocket `GET /api/v1/ws?tenant=T[&service=S][&view=V]`: the latest snapshot at
//! once, then each published one, each with its sequence number. A token
//! limited to some services gets their view only.
//!
//! A client follows the tenant's `watch` channel: when it is slow, it skips
//! to the newest snapshot, so it holds at most one message and never slows
//! anyone else. The server pings; a client silent for too long, or one that
//! cannot take a message within the send timeout, is dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::{Instant, interval, timeout};

use crate::http::auth::{Access, origin_allowed};
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
    ws: WebSocketUpgrade,
    Query(q): Query<WsQuery>,
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !origin_allowed(&headers, &st.allowed_origins) {
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
    // A tenant the config names may be waited for; an unknown one is an error.
    let known = st.config.tenant_names().any(|t| t == q.tenant);
    let Some(rx) = st.hub.subscribe(&q.tenant, known) else {
        return Err(ApiError::NoTenant(q.tenant));
    };
    // Clients only send pongs and closes: small read buffers and a small
    // message limit keep thousands of screens cheap.
    Ok(ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| {
            client(
                socket,
                rx,
                View {
                    scope,
                    service: q.service,
                    agents,
                },
                st,
            )
        }))
}

/// What one client sees: a scoped token's services, and a service it
/// asked for (`?service=`).
struct View {
    scope: Option<crate::config::Scope>,
    service: Option<String>,
    /// With the agent list.
    agents: bool,
}

/// The message for one client: the shared one, or its view of it (`None`:
/// the snapshot has no figures for the client's scope).
fn message(p: &Published, view: &View) -> Option<Utf8Bytes> {
    let bytes = p.view_message(view.scope.as_ref(), view.service.as_deref(), view.agents)?;
    Some(Utf8Bytes::try_from(bytes).expect("the envelope and the JSON inside it are UTF-8"))
}

async fn client(
    socket: WebSocket,
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
    // The current snapshot first, if there is one.
    rx.mark_changed();
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
                let latest = rx.borrow_and_update().clone();
                // A snapshot without the scope's figures (made under
                // another config) is not shown; the next one will be.
                if let Some(text) = latest.as_deref().and_then(|p| message(p, &view)) {
                    let msg = Message::Text(text);
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
                        code: 1001,
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
                        code: 1001,
                        reason: Utf8Bytes::from_static("server shutting down"),
                    }))),
                ).await;
                break;
            }
        }
    }
    let n = st.ws_clients.fetch_sub(1, Ordering::Relaxed) - 1;
    WebsocketClients { open: n }.emit();
}
