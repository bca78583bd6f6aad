//! Pending OIDC sign-ins: created at authorize, consumed (once) at the callback.

use super::Db;
use crate::clock::Millis;
use sqlx::Row;

pub const LIFETIME_MS: Millis = 10 * 60_000;
/// Pending sign-ins one browser may hold; starting another drops its oldest.
pub const PER_BROWSER: i64 = 10;
/// Pending sign-ins one client (an address, or an IPv6 /64) may hold; starting another drops
/// its oldest, so a flood from one place evicts its own.
pub const PER_CLIENT: i64 = 50;
/// Pending sign-ins the whole server holds at most, so a flood cannot fill the database.
/// Reaching it drops the oldest of the client holding the most rather than refusing: a
/// flood from many places pushes out its own sign-ins first.
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
    /// `login`, `link`, `grant` or `dry_run`.
    pub intent: String,
    /// For `link` and `grant`, the user who asked; for `dry_run`, the admin who started it.
    pub link_user_id: Option<i64>,
    pub created_at: Millis,
    /// For `dry_run` only: the unsaved form it runs with.
    pub trial: Option<TrialForm>,
}

/// The unsaved settings a dry run (Try Sign-in) runs with, and the admin session it is bound
/// to.
#[derive(Debug, Clone)]
pub struct TrialForm {
    /// The form's settings as JSON.
    pub settings: String,
    /// The client secret, sealed to this pending sign-in's state hash.
    pub secret: Option<String>,
    /// The hash of the session of the admin who started it.
    pub session_hash: String,
}

impl Db {
    /// Stores a pending sign-in for `client_key` (see `auth::limits::client_key`), first
    /// dropping expired ones, this browser's and this client's oldest beyond their shares,
    /// and the server's oldest beyond its cap. Each drop is one bounded statement in the
    /// same transaction, so replicas inserting at once overshoot the cap by a few at most.
    pub async fn insert_pending_login(
        &self,
        p: &PendingLogin,
        client_key: &str,
        now: Millis,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM pending_logins WHERE created_at <= $1")
            .bind(now - LIFETIME_MS)
            .execute(&mut *tx)
            .await?;
        for (column, value, share) in [
            ("browser_hash", p.browser_hash.as_str(), PER_BROWSER),
            ("client_key", client_key, PER_CLIENT),
        ] {
            // Keeps the newest `share - 1`, making room for this one.
            sqlx::query(&format!(
                "DELETE FROM pending_logins WHERE state_hash IN (SELECT state_hash FROM pending_logins \
                 WHERE {column} = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3)"
            ))
            .bind(value)
            .bind(TOTAL)
            .bind(share - 1)
            .execute(&mut *tx)
            .await?;
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_logins")
            .fetch_one(&mut *tx)
            .await?;
        if total >= TOTAL {
            // The oldest of the client holding the most: a flood spread over many clients
            // pushes out its own sign-ins before a quiet client's one.
            sqlx::query(
                "DELETE FROM pending_logins WHERE state_hash IN (SELECT state_hash FROM pending_logins \
                 WHERE client_key = (SELECT client_key FROM pending_logins GROUP BY client_key \
                 ORDER BY COUNT(*) DESC, MIN(created_at) ASC LIMIT 1) \
                 ORDER BY created_at ASC LIMIT $1)",
            )
            .bind(total - TOTAL + 1)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO pending_logins (state_hash, browser_hash, nonce, pkce_verifier, issuer, client_id, redirect_uri, \
             return_to, intent, link_user_id, created_at, client_key, trial_settings, trial_secret, session_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
        .bind(client_key)
        .bind(p.trial.as_ref().map(|t| t.settings.as_str()))
        .bind(p.trial.as_ref().and_then(|t| t.secret.as_deref()))
        .bind(p.trial.as_ref().map(|t| t.session_hash.as_str()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes and answers the pending sign-in with this state, live or not: a state is used
    /// at most once, whatever happens next.
    pub async fn take_pending_login(
        &self,
        state_hash: &str,
    ) -> Result<Option<PendingLogin>, sqlx::Error> {
        let row = sqlx::query(
            "DELETE FROM pending_logins WHERE state_hash = $1 RETURNING state_hash, browser_hash, nonce, pkce_verifier, \
             issuer, client_id, redirect_uri, return_to, intent, link_user_id, created_at, trial_settings, trial_secret, \
             session_hash",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let trial = match r.try_get::<Option<String>, _>("trial_settings")? {
                Some(settings) => Some(TrialForm {
                    settings,
                    secret: r.try_get("trial_secret")?,
                    session_hash: r
                        .try_get::<Option<String>, _>("session_hash")?
                        .unwrap_or_default(),
                }),
                None => None,
            };
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
                trial,
            })
        })
        .transpose()
    }
}
