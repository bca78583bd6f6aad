//! What admins do to users and libraries: validation, the admin invariants and the audit
//! trail, over the stores in `db`.

pub mod libraries;
pub mod users;

use crate::clock::Millis;
use crate::db::{AuditEntry, AuditEvent, User};

/// Who makes a change: a signed-in admin from an address, or the recovery CLI on the server
/// itself (nobody signed in: the way back in when no admin can sign in).
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    Admin { user: &'a User, ip: &'a str },
    Cli,
}

impl Actor<'_> {
    /// The audit entry of a change, naming who made it.
    pub fn audit(self, event: AuditEvent, now: Millis) -> AuditEntry {
        match self {
            Self::Admin { user, ip } => AuditEntry::new(event, now).actor(user.id).ip(ip),
            Self::Cli => AuditEntry::new(event, now).detail("via", "cli"),
        }
    }

    fn user_id(self) -> Option<i64> {
        match self {
            Self::Admin { user, .. } => Some(user.id),
            Self::Cli => None,
        }
    }
}
