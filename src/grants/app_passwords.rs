//! App passwords (spec section 11.1): for OPDS apps and anything else that speaks only HTTP
//! Basic. A random secret of 125 bits, grouped for reading (`k7mq2-x9d4w-…`), shown once,
//! stored as its SHA-256, and sent as the Basic password with the username. Never accepted
//! by the sign-in form or `POST /api/v1/auth/login`, which check the account's own password
//! only (`auth::local_login`).

use super::confirm::{confirm, Approver};
use super::tokens::usable;
use super::{sealer, valid_name, Authenticated, Kind, Scope};
use crate::auth::local_login::limit_attempt;
use crate::auth::session::hash_token;
use crate::db::grants::{GrantSecret, NewGrant};
use crate::db::{AuditEntry, AuditEvent};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use app::domain::{AppPasswordCreated, AppPasswordRequest};
use rand::RngCore;

/// Crockford's base32, lower case: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const GROUPS: usize = 5;
const GROUP_CHARS: usize = 5;

/// What a failed Basic attempt is told.
pub const INVALID: &str = "Invalid username or app password.";

/// A new app password: 25 characters of 5 bits each, in groups of five.
pub fn generate() -> String {
    let mut bytes = [0u8; GROUPS * GROUP_CHARS];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .chunks(GROUP_CHARS)
        // 256 is a multiple of 32, so every character is equally likely.
        .map(|group| {
            group
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The hash an app password is stored and found by. Dashes, spaces and case do not matter,
/// so a password typed by hand from the screen works as well as a pasted one.
fn hash(typed: &str) -> String {
    let normalized: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    hash_token(&normalized)
}

/// Creates an app password for the approving user (the approval rule of `confirm`).
pub async fn create(
    state: &Services,
    approver: &Approver<'_>,
    request: AppPasswordRequest,
) -> AppResult<AppPasswordCreated> {
    let name = valid_name(request.name.as_deref())?;
    let scope = match request.scope.as_deref() {
        None => Scope::Full,
        Some(raw) => Scope::parse(raw)
            .ok_or_else(|| AppError::field("scope", "The scope is \"full\" or \"read\"."))?,
    };
    let provider = confirm(state, approver, request.password).await?;
    let password = generate();
    let grant = state
        .db
        .create_grant(
            &NewGrant {
                user_id: approver.user.id,
                kind: Kind::AppPassword.as_str(),
                name: &name,
                scope: scope.as_str(),
                secret: GrantSecret::AppPassword(&hash(&password)),
                provider: provider.as_ref(),
                now: state.clock.now(),
                ip: approver.ip,
            },
            &sealer(state),
        )
        .await?;
    Ok(AppPasswordCreated {
        grant: grant.into(),
        password,
    })
}

/// Checks HTTP Basic credentials: `username` and one of that user's app passwords.
///
/// Only failures count against the sign-in limits (`auth::local_login`): they stop floods
/// and tie this door to the same allowance as the sign-in form, while a good app password
/// (125 random bits, beyond guessing) costs one indexed lookup per request, as an OPDS app
/// sending it with every request needs.
pub async fn authenticate(
    state: &Services,
    username: &str,
    password: &str,
    ip: &str,
) -> AppResult<Authenticated> {
    let now = state.clock.now();
    let found = state
        .db
        .grant_by_app_password(&hash(password))
        .await?
        .filter(|(g, _)| g.kind == Kind::AppPassword.as_str());
    if let Some((grant, user)) = found {
        if let Some(auth) = usable(state, grant, user, ip, now).await? {
            if auth.user.username == username {
                return Ok(auth);
            }
        }
    }
    // Counted and left counted; over the limit this is a 429 instead of a 401.
    let _counted = limit_attempt(state, ip, username, false).await?;
    let mut entry = AuditEntry::new(AuditEvent::LoginFailed, now)
        .ip(ip)
        .detail("method", "app_password");
    // Only names of real accounts go in the audit log (as for the sign-in form).
    let valid = crate::validation::username(Some(username)).is_ok_and(|v| v == username);
    if valid {
        if let Some(user) = state.db.user_by_username(username).await? {
            entry = entry.target(user.id).detail("username", user.username);
        }
    }
    state.db.audit(entry).await?;
    Err(AppError::Unauthorized(INVALID.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_passwords_are_long_grouped_and_forgiving_to_type() {
        let p = generate();
        assert_eq!(p.len(), 29);
        let groups: Vec<&str> = p.split('-').collect();
        assert_eq!(groups.len(), 5);
        assert!(groups.iter().all(|g| g.len() == 5));
        assert!(p.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
        assert_ne!(generate(), p);
        // 25 characters of 32 kinds: 125 bits.
        assert!(25.0 * 32f64.log2() >= 120.0);
        assert_eq!(hash(&p), hash(&p.replace('-', "").to_uppercase()));
        assert_eq!(hash(&p), hash(&format!(" {} ", p.replace('-', " "))));
        assert_ne!(hash(&p), hash(&generate()));
    }
}
