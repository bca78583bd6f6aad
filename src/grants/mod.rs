//! Apps and devices (spec section 11): app grants, the credentials they carry (opaque token
//! pairs for the mobile app and devices, app passwords for OPDS apps), device sign-in, the
//! approval rule, and every way a grant ends. Plain async Rust over the stores; the HTTP
//! edges (`http::app_auth`, `routes::grants`) only translate.
//!
//! Revocation is in force on every replica at once: every use of a grant credential reads
//! the grant from the database (one indexed lookup), nothing is cached.

pub mod app_passwords;
pub mod confirm;
pub mod device;
mod provider;
pub mod revoke;
pub mod tokens;

use crate::clock::Millis;
use crate::crypto::Binding;
use crate::db::grants::Grant;
use crate::db::User;
use crate::error::{AppError, AppResult};
use crate::state::Services;
use app::domain::{GrantDto, RenameGrantRequest, UserGrants};
use std::collections::BTreeMap;

/// A grant unused this long ends (spec section 11.1).
pub const IDLE_MS: Millis = 30 * 24 * 3_600_000;
/// A grant's last use is written at most this often, so using it stays a read.
pub const TOUCH_EVERY_MS: Millis = 60_000;
/// The longest grant name.
pub const NAME_MAX_CHARS: usize = 64;

/// What a grant credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Full,
    /// GET (and HEAD) requests only.
    Read,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "full" => Some(Self::Full),
            "read" => Some(Self::Read),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Read => "read",
        }
    }
}

/// How an app came by its grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mobile,
    Device,
    AppPassword,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Device => "device",
            Self::AppPassword => "app_password",
        }
    }
}

/// A grant credential that checked out: whose, which grant, with which scope.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: User,
    pub grant_id: i64,
    pub scope: Scope,
}

/// A name the user gives: 1 to 64 characters once trimmed.
pub fn valid_name(raw: Option<&str>) -> AppResult<String> {
    let name = raw.map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(AppError::field("name", "Enter a name."));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(AppError::field(
            "name",
            format!("A name is at most {NAME_MAX_CHARS} characters."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::field(
            "name",
            "A name cannot hold control characters.",
        ));
    }
    Ok(name.to_owned())
}

/// A name a client sends about itself (a device's `client_name`, a phone's model): cut to
/// fit, control characters dropped, `fallback` when nothing is left. A client is never
/// refused for its name.
pub fn client_name(raw: Option<&str>, fallback: &str) -> String {
    let cleaned: String = raw
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let name: String = cleaned.trim().chars().take(NAME_MAX_CHARS).collect();
    let name = name.trim();
    if name.is_empty() {
        fallback.to_owned()
    } else {
        name.to_owned()
    }
}

/// Seals a provider refresh token to the grant it belongs to, once the grant has its id.
fn sealer(state: &Services) -> impl Fn(i64, &str) -> String + Sync + '_ {
    |grant_id, token| state.secrets.seal(token, Binding::Grant { grant_id })
}

/// Whether a grant has gone unused too long to be used again.
pub fn is_idle(grant: &Grant, now: Millis) -> bool {
    now - grant.last_active() >= IDLE_MS
}

/// The caller's own live grants, newest first.
pub async fn list(state: &Services, user: &User) -> AppResult<Vec<GrantDto>> {
    Ok(crate::api_types::all(
        state.db.live_grants_of(user.id).await?,
    ))
}

/// Every user's live grants by user, for the admin's user list.
pub async fn by_user(state: &Services) -> AppResult<Vec<UserGrants>> {
    let mut by_user: BTreeMap<i64, Vec<GrantDto>> = BTreeMap::new();
    for grant in state.db.live_grants().await? {
        by_user
            .entry(grant.user_id)
            .or_default()
            .push(GrantDto::from(grant));
    }
    Ok(by_user
        .into_iter()
        .map(|(user_id, grants)| UserGrants { user_id, grants })
        .collect())
}

/// A user's live grants, for an admin.
pub async fn list_for_admin(state: &Services, user_id: i64) -> AppResult<Vec<GrantDto>> {
    if state.db.user_by_id(user_id).await?.is_none() {
        return Err(AppError::NotFound("No such user.".to_owned()));
    }
    Ok(crate::api_types::all(
        state.db.live_grants_of(user_id).await?,
    ))
}

/// Renames one of the caller's own grants.
pub async fn rename(
    state: &Services,
    user: &User,
    id: i64,
    change: RenameGrantRequest,
) -> AppResult<GrantDto> {
    let name = valid_name(change.name.as_deref())?;
    state
        .db
        .rename_grant(user.id, id, &name)
        .await?
        .map(GrantDto::from)
        .ok_or_else(not_found)
}

fn not_found() -> AppError {
    AppError::NotFound("No such app or device.".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_client_names_made_to_fit() {
        assert_eq!(valid_name(Some("  Kobo  ")).unwrap(), "Kobo");
        assert!(valid_name(Some("   ")).is_err());
        assert!(valid_name(None).is_err());
        assert!(valid_name(Some(&"x".repeat(65))).is_err());
        assert!(valid_name(Some(&"é".repeat(64))).is_ok());
        assert!(valid_name(Some("a\u{7}b")).is_err());
        assert_eq!(client_name(Some(" KOReader\n"), "Device"), "KOReader");
        assert_eq!(client_name(Some(""), "Device"), "Device");
        assert_eq!(client_name(None, "Device"), "Device");
        assert_eq!(client_name(Some(&"y".repeat(100)), "Device").len(), 64);
    }

    #[test]
    fn scopes_parse_exactly() {
        assert_eq!(Scope::parse("full"), Some(Scope::Full));
        assert_eq!(Scope::parse("read"), Some(Scope::Read));
        assert_eq!(Scope::parse("READ"), None);
        assert_eq!(Scope::parse(""), None);
    }
}
