//! Every place a value sealed by earlier releases may be stored, for the start-up upgrade that
//! binds them to their place (see `crypto::Binding`). Places added since (the provider refresh
//! tokens of app grants and of grant confirmations) only ever hold bound values.

use super::Db;
use sqlx::Row;

/// Where a sealed value is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedSlot {
    ClientSecret,
    /// The refresh token column of the session with this id hash.
    RefreshToken {
        session: String,
    },
}

/// Values sealed before bindings carry no `2.` prefix.
const UNBOUND_SESSIONS: &str = "SELECT id_hash, refresh_token_enc FROM sessions \
     WHERE refresh_token_enc IS NOT NULL AND refresh_token_enc NOT LIKE '2.%'";

impl Db {
    /// The stored values still sealed without a binding, with where each is stored.
    pub async fn unbound_sealed(&self) -> Result<Vec<(SealedSlot, String)>, sqlx::Error> {
        let mut found = Vec::new();
        if let Some(secret) = self.oidc_client_secret().await? {
            if crate::crypto::SecretBox::is_legacy(&secret) {
                found.push((SealedSlot::ClientSecret, secret));
            }
        }
        for row in sqlx::query(UNBOUND_SESSIONS).fetch_all(&self.pool).await? {
            found.push((
                SealedSlot::RefreshToken {
                    session: row.try_get("id_hash")?,
                },
                row.try_get("refresh_token_enc")?,
            ));
        }
        Ok(found)
    }

    /// Replaces `old` by `new` in `slot`, unless someone changed it meanwhile (another replica
    /// starting, a refresh, an admin saving a new secret): then theirs stands.
    pub async fn replace_sealed(
        &self,
        slot: &SealedSlot,
        old: &str,
        new: &str,
    ) -> Result<(), sqlx::Error> {
        let query = match slot {
            SealedSlot::ClientSecret => {
                sqlx::query("UPDATE settings SET value = $3 WHERE key = $1 AND value = $2")
            }
            .bind(super::oidc::SECRET_KEY),
            SealedSlot::RefreshToken { session } => sqlx::query(
                "UPDATE sessions SET refresh_token_enc = $3 WHERE id_hash = $1 AND refresh_token_enc = $2",
            )
            .bind(session.as_str()),
        };
        query.bind(old).bind(new).execute(&self.pool).await?;
        Ok(())
    }
}
