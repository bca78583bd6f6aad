//! Session ids: 256 random bits in the cookie, only their SHA-256 in the database.

use super::recent::Read;
use crate::db::{SessionRecord, User, UserView};
use crate::state::Services;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Absolute lifetime of a session started with a password.
pub const LOCAL_SESSION_MS: i64 = 30 * 24 * 3_600_000;

/// The raw id that goes in the cookie. Never logged or stored.
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_cookie_value(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

/// What the database stores for a cookie value.
pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// The live session with this id hash and its user: as this replica read it lately when that
/// read is still fresh (`auth::recent`), else from the database.
pub async fn live(
    state: &Services,
    id_hash: &str,
) -> Result<Option<(User, SessionRecord)>, sqlx::Error> {
    let now = state.clock.now();
    if let Some(live) = state.recent.session(id_hash, now) {
        return Ok(Some(live));
    }
    let changes = state.recent.before_read();
    let found = state
        .db
        .live_session(id_hash, now, state.config.session_idle_ms)
        .await?;
    match &found {
        // A session due for a refresh is read afresh until the refresh has taken its lease,
        // so that requests meanwhile do not each start one.
        Some(live) if !super::refresh::due(&live.1, now) => {
            state
                .recent
                .remember_session(id_hash, live.clone(), Read { at: now, changes });
        }
        Some(_) => {}
        None => state.recent.forget_session(id_hash),
    }
    Ok(found)
}

/// A signed-in user's libraries and identity link, from this replica's fresh reads when it has
/// them.
pub async fn view(state: &Services, user: &User) -> Result<UserView, sqlx::Error> {
    let now = state.clock.now();
    if let Some((library_ids, link)) = state.recent.view(user.id, now) {
        return Ok(UserView {
            user: user.clone(),
            library_ids,
            link,
        });
    }
    let changes = state.recent.before_read();
    let view = state.db.user_view(user).await?;
    state.recent.remember_view(
        user.id,
        (view.library_ids.clone(), view.link.clone()),
        Read { at: now, changes },
    );
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.as_cookie_value(), b.as_cookie_value());
        assert_eq!(a.as_cookie_value().len(), 43);
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.as_cookie_value());
    }
}
