//! Messages to the floor: an admin posts a short text for one tenant, with
//! an expiry; every board of that tenant shows it as a ticker until it
//! expires or is deleted.
//!
//! `POST /api/v1/tenants/{t}/messages` `{"text": "...", "expires_in_s": N}`,
//! `GET` the same path for those still shown, `DELETE .../messages/{id}`.
//! Kept in the history store when there is one (a PostgreSQL store shared
//! by a cluster's instances shows a message on all of them), else in this
//! instance's memory (lost on restart).

use axum::Extension;
use axum::Router as Routes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::json;

use crate::history::messages::{
    DEFAULT_EXPIRES_IN_S, EXPIRES_IN_S, MAX_PER_TENANT, MAX_TEXT_CHARS, Message,
};
use crate::http::auth::Access;
use crate::http::{ApiError, AppState};
use crate::time::Millis;
use crate::time::now_ms;
use crate::wire::Instant;

/// A posted message's body.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Post {
    text: String,
    expires_in_s: Option<u64>,
}

/// The most a posted message's body holds: its text, its expiry, room to
/// spare.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The routes: behind the caller's `auth` layer.
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .route("/api/v1/tenants/{tenant}/messages", get(list).post(post))
        .route("/api/v1/tenants/{tenant}/messages/{id}", delete(remove))
}

fn may_write(access: &Access, tenant: &str) -> Result<(), ApiError> {
    if !access.can_read(tenant) {
        return Err(ApiError::forbidden_tenant(tenant));
    }
    if !access.can_ingest() {
        return Err(ApiError::Forbidden(
            "only an admin token posts or deletes messages to the floor".into(),
        ));
    }
    Ok(())
}

/// Messages go to tenants there are: ones with figures, or named by the
/// config, in a tenant section or a token's tenant (a board set up before
/// the first call); any other name is a 404, as for a snapshot, and keeps
/// nothing.
fn known(st: &AppState, tenant: &str) -> Result<(), ApiError> {
    if st.hub.latest(tenant).is_some() || st.config.names_tenant(tenant) {
        Ok(())
    } else {
        Err(ApiError::NoTenant(tenant.to_string()))
    }
}

async fn list(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    if !access.can_read(&tenant) {
        return Err(ApiError::forbidden_tenant(&tenant));
    }
    known(&st, &tenant)?;
    let list = st
        .messages
        .list(&tenant, now_ms())
        .await
        .map_err(|e| ApiError::Unavailable(format!("messages cannot be read now: {e}")))?;
    Ok(axum::Json(json!({ "messages": list })).into_response())
}

/// Checks a posted body: the text's length and characters, the expiry.
fn check(post: &Post) -> Result<u64, String> {
    let text = post.text.trim();
    if text.is_empty() {
        return Err("`text` is empty: say something to the floor".into());
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(format!(
            "`text` has {chars} characters; a message has at most {MAX_TEXT_CHARS}"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(
            "`text` holds a control character (a line break or tab): one line of plain text".into(),
        );
    }
    let expires = post.expires_in_s.unwrap_or(DEFAULT_EXPIRES_IN_S);
    if !EXPIRES_IN_S.contains(&expires) {
        return Err(format!(
            "`expires_in_s` is {expires}; give {} to {} seconds (a minute to a week)",
            EXPIRES_IN_S.start(),
            EXPIRES_IN_S.end()
        ));
    }
    Ok(expires)
}

async fn post(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path(tenant): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    may_write(&access, &tenant)?;
    known(&st, &tenant)?;
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if crate::sources::ingest::over_the_limit(&e) {
                ApiError::TooLarge(format!(
                    "a message's body holds at most {MAX_BODY_BYTES} bytes (its text at most {MAX_TEXT_CHARS} characters)"
                ))
            } else {
                ApiError::BadRequest(
                    "incomplete: the body ended before the length it announced".into(),
                )
            }
        })?;
    let post: Post = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not a message ({{\"text\": \"...\", \"expires_in_s\": 3600}}): {e}"
        ))
    })?;
    let expires = check(&post).map_err(ApiError::BadRequest)?;
    let now = now_ms();
    let message = Message {
        id: message_id(now)?,
        text: post.text.trim().to_string(),
        created_at: Instant(now),
        expires_at: Instant(now + expires as i64 * 1000),
    };
    let added = st
        .messages
        .add(&tenant, &message, now)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the message cannot be kept now: {e}")))?;
    if !added {
        return Err(ApiError::Conflict(format!(
            "tenant `{tenant}` already shows {MAX_PER_TENANT} messages: delete one first"
        )));
    }
    tracing::info!(%tenant, id = %message.id, expires_in_s = expires, "a message to the floor posted");
    Ok((StatusCode::CREATED, axum::Json(message)).into_response())
}

async fn remove(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    may_write(&access, &tenant)?;
    let gone =
        st.messages.remove(&tenant, &id).await.map_err(|e| {
            ApiError::Unavailable(format!("the message cannot be deleted now: {e}"))
        })?;
    if gone {
        tracing::info!(%tenant, %id, "a message to the floor deleted");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!(
            "tenant `{tenant}` has no message `{id}`"
        )))
    }
}

/// A new message's id: its posting order on this instance (milliseconds,
/// then a count within one), then random bytes so that instances sharing a
/// store do not collide. The list sorts equal times by id, so messages
/// posted in the same millisecond keep the order they were posted in.
fn message_id(now: Millis) -> Result<String, ApiError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let floor = (now.max(0) as u64) << 12;
    let order = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(floor.max(last + 1))
        })
        .map_or(floor, |last| floor.max(last + 1));
    let mut raw = [0u8; 4];
    getrandom::fill(&mut raw)
        .map_err(|e| ApiError::Internal(format!("no random source for an id: {e}")))?;
    Ok(format!("{order:016x}{}", crate::http::auth::hex(&raw)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::messages::Messages;

    /// Messages posted in one millisecond list in the order they were
    /// posted (the newest first), as those of different milliseconds do.
    #[tokio::test]
    async fn messages_of_one_millisecond_keep_their_posting_order() {
        let kept = Messages::new(None);
        let now = 1_780_000_000_000;
        for (i, at) in [now, now, now, now + 1, now + 1, now + 1]
            .into_iter()
            .enumerate()
        {
            let m = Message {
                id: message_id(at).unwrap(),
                text: format!("m{i}"),
                created_at: Instant(at),
                expires_at: Instant(at + 60_000),
            };
            assert!(kept.add("acme", &m, at).await.unwrap());
        }
        let texts: Vec<String> = kept
            .list("acme", now + 2)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["m5", "m4", "m3", "m2", "m1", "m0"]);
    }
}
