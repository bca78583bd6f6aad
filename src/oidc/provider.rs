//! Discovery documents and key sets, cached per issuer for ten minutes. A token that names a
//! key we do not know gets the keys fetched again at once, however recent the last fetch (that
//! is how providers rotate keys); only further refetches for unknown keys wait a minute after
//! the last one, so tokens with made-up key ids cannot turn into a stream of requests. A discovery that failed is remembered for 30 seconds, so a
//! provider outage does not make every request wait on the provider.

use super::outbound::{Outbound, OutboundError};
use crate::clock::Millis;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const TTL_MS: Millis = 10 * 60_000;
const REFETCH_EVERY_MS: Millis = 60_000;
const FAILURE_TTL_MS: Millis = 30_000;

#[derive(Clone)]
struct Entry {
    discovery: Arc<Value>,
    jwks: Option<Arc<Value>>,
    fetched_at: Millis,
    /// When the keys were last fetched because a token named an unknown one.
    unknown_key_refetch_at: Option<Millis>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Entry>,
    /// The last failed discovery per issuer, and when.
    failures: HashMap<String, (Millis, OutboundError)>,
}

#[derive(Default)]
pub struct ProviderCache {
    cache: Mutex<Cache>,
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

/// The keys may be fetched again for an unknown key unless the last such refetch was recent.
fn may_refetch(entry: &Entry, now: Millis) -> bool {
    entry
        .unknown_key_refetch_at
        .is_none_or(|at| now - at >= REFETCH_EVERY_MS)
}

impl ProviderCache {
    fn with<T>(&self, f: impl FnOnce(&mut Cache) -> T) -> Option<T> {
        self.cache.lock().ok().map(|mut c| f(&mut c))
    }

    fn get(&self, issuer: &str) -> Option<Entry> {
        self.with(|c| c.entries.get(issuer).cloned()).flatten()
    }

    /// Forgets everything, e.g. after the settings changed.
    pub fn clear(&self) {
        self.with(|c| *c = Cache::default());
    }

    pub async fn discovery(
        &self,
        outbound: &Outbound,
        issuer: &str,
        now: Millis,
    ) -> Result<Arc<Value>, OutboundError> {
        let cached = self.with(|c| {
            if let Some(e) = c
                .entries
                .get(issuer)
                .filter(|e| now - e.fetched_at < TTL_MS)
            {
                return Some(Ok(e.discovery.clone()));
            }
            c.failures
                .get(issuer)
                .filter(|(at, _)| now - at < FAILURE_TTL_MS)
                .map(|(_, e)| Err(e.clone()))
        });
        if let Some(answer) = cached.flatten() {
            return answer;
        }
        match fetch_discovery(outbound, issuer).await {
            Ok(doc) => {
                let discovery = Arc::new(doc);
                self.with(|c| {
                    c.failures.remove(issuer);
                    // The keys are fetched afresh with the document, and after that fetch the
                    // first token with an unknown key may fetch them again.
                    c.entries.insert(
                        issuer.to_owned(),
                        Entry {
                            discovery: discovery.clone(),
                            jwks: None,
                            fetched_at: now,
                            unknown_key_refetch_at: None,
                        },
                    );
                });
                Ok(discovery)
            }
            // Too many requests under way says nothing about the provider: not remembered.
            Err(OutboundError::Busy) => Err(OutboundError::Busy),
            Err(e) => {
                self.with(|c| c.failures.insert(issuer.to_owned(), (now, e.clone())));
                Err(e)
            }
        }
    }

    /// The provider's keys; `unknown_key` says a token needs a key the cached set lacks, and
    /// asks for a fresh copy. When one was fetched for that reason under a minute ago, the
    /// cached set is answered instead: perhaps that fetch (by a request running alongside)
    /// brought the key.
    pub async fn jwks(
        &self,
        outbound: &Outbound,
        issuer: &str,
        now: Millis,
        unknown_key: bool,
    ) -> Result<Arc<Value>, OutboundError> {
        let discovery = self.discovery(outbound, issuer, now).await?;
        if let Some(entry) = self.get(issuer) {
            match entry.jwks {
                Some(jwks) if !unknown_key || !may_refetch(&entry, now) => return Ok(jwks),
                _ => {}
            }
        }
        let uri = field(&discovery, "jwks_uri").ok_or(OutboundError::InvalidUrl)?;
        let jwks = Arc::new(outbound.get_json(uri).await?);
        self.with(|c| {
            if let Some(e) = c.entries.get_mut(issuer) {
                e.jwks = Some(jwks.clone());
                e.unknown_key_refetch_at = unknown_key.then_some(now);
            }
        });
        Ok(jwks)
    }
}

/// The discovery document, which must be a JSON object naming exactly `issuer` (OpenID Connect
/// Discovery 4.3): a document for another issuer would make us trust its keys.
async fn fetch_discovery(outbound: &Outbound, issuer: &str) -> Result<Value, OutboundError> {
    let doc = outbound.get_json(&discovery_url(issuer)).await?;
    if !doc.is_object() {
        return Err(OutboundError::NotJson);
    }
    if field(&doc, "issuer") != Some(issuer) {
        return Err(OutboundError::IssuerMismatch);
    }
    Ok(doc)
}
