//! This replica's short memory of the reads nearly every request makes: a session with its
//! user, a user's libraries and identity link, and the OIDC settings (every sign-in and the
//! login page read them). A database round trip costs more than the rest of a typical request;
//! with this memory most requests make none.
//!
//! Two rules keep it correct without any message between replicas:
//! - an entry is trusted for at most [`FRESH_FOR_MS`], so a change another replica (or the
//!   recovery CLI) makes, such as a revoked session or a removed permission, is seen here
//!   within that;
//! - any change this replica makes forgets every entry read before it ([`Recent::changed`]),
//!   so its own changes are seen at once. An entry keeps the change count from *before* its
//!   read, so a read that overlapped a change is never trusted.

use crate::clock::Millis;
use crate::db::{IdentityLink, SessionRecord, User};
use crate::oidc_settings::StoredSettings;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// How long a read is trusted: the longest another replica's change can go unseen here.
pub const FRESH_FOR_MS: Millis = 1_000;
/// Entries kept at most, so a flood of distinct cookies cannot grow the memory without end.
const MAX_ENTRIES: usize = 10_000;

/// The memory of one replica: sessions by id hash, and views by user id.
#[derive(Default)]
pub struct Recent {
    changes: AtomicU64,
    sessions: Entries<String, (User, SessionRecord)>,
    views: Entries<i64, (Vec<i64>, Option<IdentityLink>)>,
    settings: Entries<(), StoredSettings>,
}

impl Recent {
    /// This replica changed, or may have changed, a session, a user or what they can see.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// The change count to read under: take it before reading from the database.
    pub fn before_read(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    pub fn session(&self, id_hash: &str, now: Millis) -> Option<(User, SessionRecord)> {
        self.sessions.get(id_hash, now, self.before_read())
    }

    pub fn remember_session(&self, id_hash: &str, live: (User, SessionRecord), read: Read) {
        self.sessions.put(id_hash.to_owned(), live, read);
    }

    /// The database has no such live session: whatever was remembered of it is gone for good,
    /// even if the clock is set back.
    pub fn forget_session(&self, id_hash: &str) {
        self.sessions.remove(id_hash);
    }

    pub fn view(&self, user_id: i64, now: Millis) -> Option<(Vec<i64>, Option<IdentityLink>)> {
        self.views.get(&user_id, now, self.before_read())
    }

    pub fn remember_view(&self, user_id: i64, view: (Vec<i64>, Option<IdentityLink>), read: Read) {
        self.views.put(user_id, view, read);
    }

    pub fn settings(&self, now: Millis) -> Option<StoredSettings> {
        self.settings.get(&(), now, self.before_read())
    }

    pub fn remember_settings(&self, settings: StoredSettings, read: Read) {
        self.settings.put((), settings, read);
    }
}

/// When a value was read: the clock, and the change count taken before the read.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    pub at: Millis,
    pub changes: u64,
}

struct Entry<V> {
    value: V,
    read: Read,
}

impl<V> Entry<V> {
    fn fresh(&self, now: Millis, changes: u64) -> bool {
        self.read.changes == changes && (0..FRESH_FOR_MS).contains(&(now - self.read.at))
    }
}

struct Entries<K, V>(Mutex<HashMap<K, Entry<V>>>);

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Entries<K, V> {
    fn get<Q>(&self, key: &Q, now: Millis, changes: u64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|e| e.fresh(now, changes))
            .map(|e| e.value.clone())
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn put(&self, key: K, value: V, read: Read) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.fresh(read.at, read.changes));
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, Entry { value, read });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Entries<&'static str, u32> {
        Entries::default()
    }

    #[test]
    fn a_read_is_trusted_for_at_most_a_second() {
        let e = entries();
        e.put(
            "a",
            1,
            Read {
                at: 5_000,
                changes: 0,
            },
        );
        assert_eq!(e.get("a", 5_000, 0), Some(1));
        assert_eq!(e.get("a", 5_999, 0), Some(1));
        assert_eq!(e.get("a", 6_000, 0), None);
        // A clock that went back does not make an entry fresh for longer.
        assert_eq!(e.get("a", 4_999, 0), None);
    }

    #[test]
    fn a_change_forgets_what_was_read_before_it() {
        let recent = Recent::default();
        let before = recent.before_read();
        recent.changed();
        recent.views.put(
            7,
            (vec![1], None),
            Read {
                at: 0,
                changes: before,
            },
        );
        assert_eq!(recent.view(7, 0), None, "read before the change");
        let after = recent.before_read();
        recent.views.put(
            7,
            (vec![2], None),
            Read {
                at: 0,
                changes: after,
            },
        );
        assert_eq!(recent.view(7, 0), Some((vec![2], None)));
        recent.changed();
        assert_eq!(recent.view(7, 0), None);
    }

    #[test]
    fn the_memory_stays_bounded() {
        let e: Entries<usize, u32> = Entries::default();
        for k in 0..MAX_ENTRIES + 5 {
            e.put(k, 0, Read { at: 0, changes: 0 });
        }
        assert!(e.0.lock().unwrap().len() <= MAX_ENTRIES);
        assert_eq!(e.get(&(MAX_ENTRIES + 4), 0, 0), Some(0));
    }
}
