//! The token pairs of mobile and device grants (spec section 11.1): an opaque access token
//! (256 random bits, one hour, sent as `Authorization: Bearer`) and an opaque refresh token
//! (256 random bits), both stored as their SHA-256 only. The refresh token is rotated at
//! every use; presenting one already rotated away revokes the whole grant (RFC 9700 section
//! 4.14.2): either the client or a thief holds a copy, and the server cannot tell which.

use super::provider::{self, Verdict};
use super::revoke::{self, Reason};
use super::{is_idle, sealer, Authenticated, Kind, Scope, TOUCH_EVERY_MS};
use crate::auth::session::hash_token;
use crate::clock::Millis;
use crate::db::grants::{Grant, GrantSecret, NewGrant, ProviderSignIn, TokenHashes};
use crate::db::{AuditEntry, AuditEvent, User};
use crate::error::AppError;
use crate::state::Services;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// How long an access token lives.
pub const ACCESS_MS: Millis = 3_600_000;

/// What a client is given, in clear, once.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
}

/// A fresh token pair and the hashes the database keeps of it.
pub(super) struct Issued {
    pub pair: TokenPair,
    access_hash: String,
    refresh_hash: String,
    access_expires_at: Millis,
}

impl Issued {
    pub fn new(now: Millis) -> Self {
        let (access, refresh) = (random_token(), random_token());
        Self {
            access_hash: hash_token(&access),
            refresh_hash: hash_token(&refresh),
            access_expires_at: now + ACCESS_MS,
            pair: TokenPair {
                access_token: access,
                refresh_token: refresh,
                expires_in: ACCESS_MS / 1000,
            },
        }
    }

    pub fn hashes(&self) -> TokenHashes<'_> {
        TokenHashes {
            access: &self.access_hash,
            access_expires_at: self.access_expires_at,
            refresh: &self.refresh_hash,
        }
    }
}

/// 256 random bits, URL-safe.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a refresh gave no new tokens.
#[derive(Debug)]
pub enum RefreshError {
    /// The refresh token is unknown, already used, or its grant has ended: RFC 6749's
    /// `invalid_grant`. The client must be approved again.
    InvalidGrant,
    App(AppError),
}

impl From<AppError> for RefreshError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<sqlx::Error> for RefreshError {
    fn from(e: sqlx::Error) -> Self {
        Self::App(e.into())
    }
}

/// A new grant holding a token pair from the start: the mobile app's (spec section 11.2),
/// whose sign-in at the provider is its approval and whose `provider` sign-in is that one.
/// It refreshes and ends like every grant ([`refresh`], `revoke`).
pub async fn grant_with_tokens(
    state: &Services,
    user_id: i64,
    kind: Kind,
    name: &str,
    provider: Option<&ProviderSignIn>,
    ip: &str,
) -> Result<TokenPair, AppError> {
    let now = state.clock.now();
    let issued = Issued::new(now);
    state
        .db
        .create_grant(
            &NewGrant {
                user_id,
                kind: kind.as_str(),
                name,
                scope: Scope::Full.as_str(),
                secret: GrantSecret::Tokens(issued.hashes()),
                provider,
                now,
                ip,
            },
            &sealer(state),
        )
        .await?;
    Ok(issued.pair)
}

/// The grant of a live, unexpired access token, as its user; `None` for any other token.
/// An idle grant found this way ends here.
pub async fn authenticate(
    state: &Services,
    raw: &str,
    ip: &str,
) -> Result<Option<Authenticated>, AppError> {
    let now = state.clock.now();
    let Some((grant, user)) = state.db.grant_by_access_hash(&hash_token(raw)).await? else {
        return Ok(None);
    };
    if grant.access_expires_at.is_none_or(|at| at <= now) {
        return Ok(None);
    }
    usable(state, grant, user, ip, now).await
}

/// A grant found by one of its credentials, with its user, once checked for idleness and
/// its use recorded (at most once a minute).
pub(super) async fn usable(
    state: &Services,
    grant: Grant,
    user: User,
    ip: &str,
    now: Millis,
) -> Result<Option<Authenticated>, AppError> {
    if is_idle(&grant, now) {
        revoke::system(state, grant.id, Reason::Idle, Some(ip)).await?;
        return Ok(None);
    }
    touch(state, &grant, ip, now).await?;
    Ok(Some(Authenticated {
        user,
        grant_id: grant.id,
        // A scope this release does not know reads only: never more than was granted.
        scope: Scope::parse(&grant.scope).unwrap_or(Scope::Read),
    }))
}

async fn touch(state: &Services, grant: &Grant, ip: &str, now: Millis) -> Result<(), AppError> {
    if grant
        .last_used_at
        .is_none_or(|at| now - at >= TOUCH_EVERY_MS)
    {
        state.db.touch_grant(grant.id, now, ip).await?;
    }
    Ok(())
}

/// Exchanges a refresh token for a new pair (rotation). A token rotated away before revokes
/// its grant; a grant approved through the provider is checked there first when the
/// provider's access token is stale (`provider`), so a user the provider no longer knows
/// loses app access within about an hour.
pub async fn refresh(state: &Services, raw: &str, ip: &str) -> Result<TokenPair, RefreshError> {
    let now = state.clock.now();
    let hash = hash_token(raw);
    let Some(grant) = state.db.grant_by_refresh_hash(&hash).await? else {
        return Err(unknown_refresh_token(state, &hash, ip).await?);
    };
    if is_idle(&grant, now) {
        revoke::system(state, grant.id, Reason::Idle, Some(ip)).await?;
        return Err(RefreshError::InvalidGrant);
    }
    let issued = Issued::new(now);
    if !state
        .db
        .rotate_grant_tokens(grant.id, &hash, &issued.hashes(), now)
        .await?
    {
        // Another request with this same token won: one of the two is a copy.
        revoke::system(state, grant.id, Reason::RefreshReuse, Some(ip)).await?;
        return Err(RefreshError::InvalidGrant);
    }
    if provider::check(state, &grant).await? == Verdict::Refused {
        revoke::system(state, grant.id, Reason::ProviderRefused, Some(ip)).await?;
        return Err(RefreshError::InvalidGrant);
    }
    touch(state, &grant, ip, now).await?;
    Ok(issued.pair)
}

/// A refresh token that names no live grant: rotated away before (its grant ends), or
/// unknown. Either is a failed attempt for the audit log.
async fn unknown_refresh_token(
    state: &Services,
    hash: &str,
    ip: &str,
) -> Result<RefreshError, AppError> {
    let mut entry = AuditEntry::new(AuditEvent::LoginFailed, state.clock.now())
        .ip(ip)
        .detail("method", "refresh_token");
    if let Some(grant_id) = state.db.grant_of_used_refresh(hash).await? {
        let revoked = revoke::system(state, grant_id, Reason::RefreshReuse, Some(ip)).await?;
        entry = entry.detail("reason", "reused");
        if let Some(user_id) = revoked {
            entry = entry.target(user_id);
        }
    }
    state.db.audit(entry).await?;
    Ok(RefreshError::InvalidGrant)
}
