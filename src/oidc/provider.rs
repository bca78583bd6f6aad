//! Discovery documents and key sets, cached per issuer for ten minutes. Key sets may be
//! fetched again early, once a minute at most, when a token names a key we do not know: that
//! is how providers rotate keys.

use super::outbound::{Outbound, OutboundError};
use crate::clock::Millis;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const TTL_MS: Millis = 10 * 60_000;
const REFETCH_EVERY_MS: Millis = 60_000;

#[derive(Clone)]
struct Entry {
    discovery: Arc<Value>,
    jwks: Option<Arc<Value>>,
    fetched_at: Millis,
    jwks_fetched_at: Millis,
}

#[derive(Default)]
pub struct ProviderCache {
    entries: Mutex<HashMap<String, Entry>>,
}

pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// A string field of a discovery document.
pub fn field<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl ProviderCache {
    fn get(&self, issuer: &str) -> Option<Entry> {
        self.entries.lock().ok()?.get(issuer).cloned()
    }

    fn put(&self, issuer: &str, entry: Entry) {
        if let Ok(mut map) = self.entries.lock() {
            map.insert(issuer.to_owned(), entry);
        }
    }

    /// Forgets everything, e.g. after the settings changed.
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    pub async fn discovery(
        &self,
        outbound: &Outbound,
        issuer: &str,
        now: Millis,
    ) -> Result<Arc<Value>, OutboundError> {
        if let Some(e) = self.get(issuer).filter(|e| now - e.fetched_at < TTL_MS) {
            return Ok(e.discovery);
        }
        let doc = outbound.get_json(&discovery_url(issuer)).await?;
        if !doc.is_object() {
            return Err(OutboundError::NotJson);
        }
        let discovery = Arc::new(doc);
        self.put(
            issuer,
            Entry {
                discovery: discovery.clone(),
                jwks: None,
                fetched_at: now,
                jwks_fetched_at: 0,
            },
        );
        Ok(discovery)
    }

    /// The provider's keys; `refetch` asks for a fresh copy, granted once a minute.
    pub async fn jwks(
        &self,
        outbound: &Outbound,
        issuer: &str,
        now: Millis,
        refetch: bool,
    ) -> Result<Option<Arc<Value>>, OutboundError> {
        let discovery = self.discovery(outbound, issuer, now).await?;
        let entry = self.get(issuer);
        match entry.as_ref().and_then(|e| e.jwks.clone()) {
            Some(jwks) if !refetch => return Ok(Some(jwks)),
            Some(_)
                if entry
                    .as_ref()
                    .is_some_and(|e| now - e.jwks_fetched_at < REFETCH_EVERY_MS) =>
            {
                return Ok(None)
            }
            _ => {}
        }
        let uri = field(&discovery, "jwks_uri").ok_or(OutboundError::InvalidUrl)?;
        let jwks = Arc::new(outbound.get_json(uri).await?);
        if let Some(mut e) = self.get(issuer) {
            e.jwks = Some(jwks.clone());
            e.jwks_fetched_at = now;
            self.put(issuer, e);
        }
        Ok(Some(jwks))
    }
}
