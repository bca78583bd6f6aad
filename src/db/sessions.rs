//! Server-side sessions. The cookie holds a random id; the table holds only its SHA-256.

use super::users::{user_from_row, JOINED_USER_COLUMNS};
use super::{Db, User};
use crate::clock::Millis;
use sqlx::Row;
use std::sync::LazyLock;

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: i64,
    pub auth_method: &'a str,
    pub now: Millis,
    pub expires_at: Millis,
    pub oidc: Option<OidcSession<'a>>,
}

/// What an OIDC sign-in keeps with its session: who at which provider, the provider's session
/// id (for back-channel logout), the raw ID token (for `id_token_hint`) and the sealed refresh
/// token.
pub struct OidcSession<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub sid: Option<&'a str>,
    pub id_token: &'a str,
    pub refresh_token_sealed: Option<String>,
    pub access_expires_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user_id: i64,
    pub last_seen_at: Millis,
    /// When the provider's access token goes stale, for a session that has a refresh token
    /// to renew it, no refresh under way and no wait after a failed one.
    pub refresh_at: Option<Millis>,
}

/// A session's last-seen time is written at most this often, so reads stay reads.
const TOUCH_EVERY_MS: Millis = 60_000;

static LIVE_SESSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT s.user_id, s.last_seen_at, s.access_expires_at, s.refreshing_until, \
         s.refresh_not_before, s.refresh_token_enc IS NOT NULL AS refreshable, {} \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
        *JOINED_USER_COLUMNS
    )
});

impl Db {
    pub async fn insert_session(&self, s: &NewSession<'_>) -> Result<(), sqlx::Error> {
        let oidc = s.oidc.as_ref();
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, auth_method, created_at, last_seen_at, expires_at, \
             oidc_issuer, oidc_subject, oidc_sid, id_token, refresh_token_enc, access_expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(s.id_hash)
        .bind(s.user_id)
        .bind(s.auth_method)
        .bind(s.now)
        .bind(s.expires_at)
        .bind(oidc.map(|o| o.issuer))
        .bind(oidc.map(|o| o.subject))
        .bind(oidc.and_then(|o| o.sid))
        .bind(oidc.map(|o| o.id_token))
        .bind(oidc.and_then(|o| o.refresh_token_sealed.clone()))
        .bind(oidc.and_then(|o| o.access_expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this id hash, and its user: not past its absolute expiry, nor
    /// idle longer than `idle_ms`. One query, since every signed-in request asks it (session,
    /// user and permissions); the session is marked seen at most once a minute.
    pub async fn live_session(
        &self,
        id_hash: &str,
        now: Millis,
        idle_ms: Millis,
    ) -> Result<Option<(User, SessionRecord)>, sqlx::Error> {
        let row = sqlx::query(&LIVE_SESSION_SQL)
            .bind(id_hash)
            .bind(now)
            .bind(now - idle_ms)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        // Leased to a refresh under way, or waiting after one that failed.
        let waiting = row
            .try_get::<Option<Millis>, _>("refreshing_until")?
            .is_some_and(|until| until >= now)
            || row
                .try_get::<Option<Millis>, _>("refresh_not_before")?
                .is_some_and(|at| at > now);
        let record = SessionRecord {
            user_id: row.try_get("user_id")?,
            last_seen_at: row.try_get("last_seen_at")?,
            refresh_at: row
                .try_get::<Option<Millis>, _>("access_expires_at")?
                .filter(|_| super::get_bool(&row, "refreshable").unwrap_or(false) && !waiting),
        };
        if now - record.last_seen_at >= TOUCH_EVERY_MS {
            let touched = sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&self.pool)
                .await;
            // A database that takes no writes (a read-only or full SQLite file) still serves
            // reads: the session stays usable, it only ages from its last recorded use.
            match touched {
                Err(e) if super::is_unavailable(&e) => {
                    tracing::debug!(error = %e, "session last use not recorded");
                }
                other => {
                    other?;
                }
            }
        }
        Ok(Some((user_from_row(&row)?, record)))
    }

    /// Ends a session, live or expired. Returns the user it belonged to, if it existed.
    pub async fn delete_session(&self, id_hash: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn count_live_sessions(
        &self,
        now: Millis,
        idle_ms: Millis,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND last_seen_at > $2",
        )
        .bind(now)
        .bind(now - idle_ms)
        .fetch_one(&self.pool)
        .await
    }

    pub async fn delete_expired_sessions(
        &self,
        now: Millis,
        idle_ms: Millis,
    ) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now - idle_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// What a session ended at logout carried, to end it at the provider too.
pub struct Ended {
    pub user_id: i64,
    pub oidc_issuer: Option<String>,
    pub id_token: Option<String>,
    pub refresh_token_sealed: Option<String>,
}

impl Db {
    /// Ends a session, live or expired, answering what it was.
    pub async fn end_session(&self, id_hash: &str) -> Result<Option<Ended>, sqlx::Error> {
        let row = sqlx::query(
            "DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id, oidc_issuer, id_token, refresh_token_enc",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Ended {
                user_id: r.try_get("user_id")?,
                oidc_issuer: r.try_get("oidc_issuer")?,
                id_token: r.try_get("id_token")?,
                refresh_token_sealed: r.try_get("refresh_token_enc")?,
            })
        })
        .transpose()
    }

    /// Records a logout token's jti; false when it was seen before (a replay).
    pub async fn remember_logout_jti(
        &self,
        issuer: &str,
        jti: &str,
        keep_until: Millis,
        now: Millis,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query("DELETE FROM logout_token_jtis WHERE keep_until < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO logout_token_jtis (issuer, jti, keep_until) VALUES ($1, $2, $3) ON CONFLICT (issuer, jti) DO NOTHING",
        )
        .bind(issuer)
        .bind(jti)
        .bind(keep_until)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Ends the sessions of one provider session (sid), or of every session of the subject.
    /// With both, the subject's sessions whose ID token named no `sid` end too: nothing tells
    /// them apart from the provider session that ended. Answers the users whose sessions ended.
    pub async fn end_provider_sessions(
        &self,
        issuer: &str,
        sid: Option<&str>,
        sub: Option<&str>,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let rows: Vec<i64> = match (sid, sub) {
            (Some(sid), Some(sub)) => {
                sqlx::query_scalar(
                    "DELETE FROM sessions WHERE oidc_issuer = $1 \
                     AND (oidc_sid = $2 OR (oidc_sid IS NULL AND oidc_subject = $3)) RETURNING user_id",
                )
                .bind(issuer)
                .bind(sid)
                .bind(sub)
                .fetch_all(&self.pool)
                .await?
            }
            (Some(sid), None) => {
                sqlx::query_scalar("DELETE FROM sessions WHERE oidc_issuer = $1 AND oidc_sid = $2 RETURNING user_id")
                    .bind(issuer)
                    .bind(sid)
                    .fetch_all(&self.pool)
                    .await?
            }
            (None, Some(sub)) => {
                sqlx::query_scalar("DELETE FROM sessions WHERE oidc_issuer = $1 AND oidc_subject = $2 RETURNING user_id")
                    .bind(issuer)
                    .bind(sub)
                    .fetch_all(&self.pool)
                    .await?
            }
            (None, None) => Vec::new(),
        };
        Ok(rows)
    }
}

impl Db {
    /// Whether the session is still live, without counting the question as activity (an
    /// open tab watching for revocation must not keep an idle session alive).
    pub async fn session_is_live(
        &self,
        id_hash: &str,
        now: Millis,
        idle_ms: Millis,
    ) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3")
            .bind(id_hash)
            .bind(now)
            .bind(now - idle_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}

/// A session's refresh, leased to one caller.
pub struct RefreshLease {
    pub user_id: i64,
    pub issuer: String,
    pub subject: String,
    pub id_token: String,
    pub refresh_sealed: String,
    pub version: i64,
}

/// What a refresh brought, to store.
pub struct RefreshResult<'a> {
    pub refresh_sealed: &'a str,
    pub id_token: &'a str,
    pub access_expires_at: Option<Millis>,
}

impl Db {
    /// Takes the refresh of a session for `lease_ms` under the holder's `token` when it is due
    /// (the access token goes stale before `due_before`), unless another caller (on any
    /// replica) holds it or a failed refresh asked to wait.
    pub async fn lease_refresh(
        &self,
        id_hash: &str,
        token: &str,
        now: Millis,
        due_before: Millis,
        lease_ms: Millis,
    ) -> Result<Option<RefreshLease>, sqlx::Error> {
        let row = sqlx::query(
            "UPDATE sessions SET refreshing_until = $2, refresh_lease = $5 WHERE id_hash = $1 AND refresh_token_enc IS NOT NULL \
             AND (refreshing_until IS NULL OR refreshing_until < $3) \
             AND (refresh_not_before IS NULL OR refresh_not_before <= $3) \
             AND (access_expires_at IS NULL OR access_expires_at < $4) \
             RETURNING user_id, oidc_issuer, oidc_subject, id_token, refresh_token_enc, refresh_version",
        )
        .bind(id_hash)
        .bind(now + lease_ms)
        .bind(now)
        .bind(due_before)
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RefreshLease {
                user_id: r.try_get("user_id")?,
                issuer: r
                    .try_get::<Option<String>, _>("oidc_issuer")?
                    .unwrap_or_default(),
                subject: r
                    .try_get::<Option<String>, _>("oidc_subject")?
                    .unwrap_or_default(),
                id_token: r
                    .try_get::<Option<String>, _>("id_token")?
                    .unwrap_or_default(),
                refresh_sealed: r
                    .try_get::<Option<String>, _>("refresh_token_enc")?
                    .unwrap_or_default(),
                version: r.try_get("refresh_version")?,
            })
        })
        .transpose()
    }

    /// Stores what a refresh brought and ends the lease, if `lease_token` still holds it and
    /// the identity the session came through is still linked to its user: checked in the same
    /// statement, so an unlink landing during the refresh is never undone by its result (the
    /// caller re-syncs groups only after a store).
    pub async fn store_refresh(
        &self,
        id_hash: &str,
        lease_token: &str,
        result: &RefreshResult<'_>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE sessions SET refresh_token_enc = $3, id_token = $4, access_expires_at = $5, \
             refresh_version = refresh_version + 1, refreshing_until = NULL, refresh_lease = NULL, \
             refresh_not_before = NULL WHERE id_hash = $1 AND refresh_lease = $2 \
             AND EXISTS (SELECT 1 FROM oidc_identities i WHERE i.user_id = sessions.user_id \
             AND i.issuer = sessions.oidc_issuer AND i.subject = sessions.oidc_subject)",
        )
        .bind(id_hash)
        .bind(lease_token)
        .bind(result.refresh_sealed)
        .bind(result.id_token)
        .bind(result.access_expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends the lease `lease_token` holds without a result; the next refresh waits until
    /// `not_before`.
    pub async fn release_refresh(
        &self,
        id_hash: &str,
        lease_token: &str,
        not_before: Millis,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE sessions SET refreshing_until = NULL, refresh_lease = NULL, refresh_not_before = $3 \
             WHERE id_hash = $1 AND refresh_lease = $2",
        )
        .bind(id_hash)
        .bind(lease_token)
        .bind(not_before)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn refresh_version(&self, id_hash: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT refresh_version FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await
    }
}
