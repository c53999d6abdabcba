//! Messages to the floor, kept: in the history store when there is one (a
//! PostgreSQL store shared by a cluster's instances shows a message on all
//! of them), else in this instance's memory (lost on restart). The routes
//! that post, list and delete them are `outputs::messages`.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Store;
use crate::time::Millis;
pub use crate::wire::Message;

/// The longest text, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Messages a tenant may have shown at once.
pub const MAX_PER_TENANT: usize = 20;
/// Expiry: one hour unless asked; at least a minute, at most a week.
pub const DEFAULT_EXPIRES_IN_S: u64 = 3_600;
pub const EXPIRES_IN_S: std::ops::RangeInclusive<u64> = 60..=604_800;

/// How long a list read from the store is reused: every board asks every
/// few seconds, and thousands of boards must not each cost a query. Posts
/// and deletes on this instance show at once; on another instance sharing
/// the store, within this.
const CACHE_MS: Millis = 5_000;

/// Where messages are kept.
pub enum Messages {
    /// The history store, with the lists lately read from it (tenant ->
    /// when read, what).
    Store(Store, Mutex<HashMap<String, (Millis, Vec<Message>)>>),
    /// tenant -> messages (no history store: this instance only).
    Memory(Mutex<HashMap<String, Vec<Message>>>),
}

/// Drops a tenant's list read from the store: a post or delete here shows
/// on this instance's boards at once.
fn forget(cache: &Mutex<HashMap<String, (Millis, Vec<Message>)>>, tenant: &str) {
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(tenant);
}

impl Messages {
    pub fn new(store: Option<Store>) -> Messages {
        match store {
            Some(s) => Messages::Store(s, Mutex::new(HashMap::new())),
            None => Messages::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// The tenant's messages still shown at `now`, the newest first.
    pub async fn list(&self, tenant: &str, now: Millis) -> Result<Vec<Message>, String> {
        let mut out = match self {
            Messages::Store(s, cache) => {
                let cached = cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(tenant)
                    .filter(|(at, _)| now - at < CACHE_MS && *at <= now)
                    .map(|(_, list)| list.clone());
                match cached {
                    Some(list) => list.into_iter().filter(|x| x.expires_at.0 > now).collect(),
                    None => {
                        let list = s.messages(tenant, now).await.map_err(|e| e.to_string())?;
                        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                        // Tenants nobody asks for do not stay.
                        cache.retain(|_, (at, _)| now - *at < CACHE_MS);
                        cache.insert(tenant.to_string(), (now, list.clone()));
                        list
                    }
                }
            }
            Messages::Memory(m) => {
                let m = m.lock().unwrap_or_else(|p| p.into_inner());
                m.get(tenant)
                    .map(|v| v.iter().filter(|x| x.expires_at.0 > now).cloned().collect())
                    .unwrap_or_default()
            }
        };
        out.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(out)
    }

    /// Adds a message unless the tenant already shows the most it may.
    pub async fn add(&self, tenant: &str, m: &Message, now: Millis) -> Result<bool, String> {
        match self {
            Messages::Store(s, cache) => {
                let added = s
                    .add_message(tenant, m, now, MAX_PER_TENANT)
                    .await
                    .map_err(|e| e.to_string())?;
                forget(cache, tenant);
                Ok(added)
            }
            Messages::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let list = map.entry(tenant.to_string()).or_default();
                list.retain(|x| x.expires_at.0 > now);
                if list.len() >= MAX_PER_TENANT {
                    return Ok(false);
                }
                list.push(m.clone());
                Ok(true)
            }
        }
    }

    /// Deletes a message; whether there was one.
    pub async fn remove(&self, tenant: &str, id: &str) -> Result<bool, String> {
        match self {
            Messages::Store(s, cache) => {
                let gone = s
                    .delete_message(tenant, id)
                    .await
                    .map_err(|e| e.to_string())?;
                forget(cache, tenant);
                Ok(gone)
            }
            Messages::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let Some(list) = map.get_mut(tenant) else {
                    return Ok(false);
                };
                let before = list.len();
                list.retain(|x| x.id != id);
                Ok(list.len() < before)
            }
        }
    }
}
