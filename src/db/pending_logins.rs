//! Pending OIDC sign-ins: created at authorize, consumed (once) at the callback.

use super::Db;
use crate::clock::Millis;
use sqlx::Row;

pub const LIFETIME_MS: Millis = 10 * 60_000;
/// Pending sign-ins one browser may hold; starting another drops its oldest.
pub const PER_BROWSER: i64 = 10;
/// Pending sign-ins the whole server holds at most, so a flood cannot fill the database.
pub const TOTAL: i64 = 10_000;

#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub state_hash: String,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub issuer: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub return_to: String,
    /// `login` or `link`.
    pub intent: String,
    pub link_user_id: Option<i64>,
    pub created_at: Millis,
}

impl Db {
    /// Stores a pending sign-in, first dropping expired ones and this browser's oldest beyond
    /// its share. Answers false when the server-wide cap is reached.
    pub async fn insert_pending_login(
        &self,
        p: &PendingLogin,
        now: Millis,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM pending_logins WHERE created_at <= $1")
            .bind(now - LIFETIME_MS)
            .execute(&mut *tx)
            .await?;
        let mine: Vec<String> = sqlx::query_scalar(
            "SELECT state_hash FROM pending_logins WHERE browser_hash = $1 ORDER BY created_at DESC",
        )
        .bind(&p.browser_hash)
        .fetch_all(&mut *tx)
        .await?;
        for old in mine.iter().skip(PER_BROWSER as usize - 1) {
            sqlx::query("DELETE FROM pending_logins WHERE state_hash = $1")
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_logins")
            .fetch_one(&mut *tx)
            .await?;
        if total >= TOTAL {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO pending_logins (state_hash, browser_hash, nonce, pkce_verifier, issuer, client_id, redirect_uri, \
             return_to, intent, link_user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&p.state_hash)
        .bind(&p.browser_hash)
        .bind(&p.nonce)
        .bind(&p.pkce_verifier)
        .bind(&p.issuer)
        .bind(&p.client_id)
        .bind(&p.redirect_uri)
        .bind(&p.return_to)
        .bind(&p.intent)
        .bind(p.link_user_id)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes and answers the pending sign-in with this state, live or not: a state is used
    /// at most once, whatever happens next.
    pub async fn take_pending_login(
        &self,
        state_hash: &str,
    ) -> Result<Option<PendingLogin>, sqlx::Error> {
        let row = sqlx::query(
            "DELETE FROM pending_logins WHERE state_hash = $1 RETURNING state_hash, browser_hash, nonce, pkce_verifier, \
             issuer, client_id, redirect_uri, return_to, intent, link_user_id, created_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PendingLogin {
                state_hash: r.try_get("state_hash")?,
                browser_hash: r.try_get("browser_hash")?,
                nonce: r.try_get("nonce")?,
                pkce_verifier: r.try_get("pkce_verifier")?,
                issuer: r.try_get("issuer")?,
                client_id: r.try_get("client_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                return_to: r.try_get("return_to")?,
                intent: r.try_get("intent")?,
                link_user_id: r.try_get("link_user_id")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }
}
