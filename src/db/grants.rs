//! App grants (spec section 11.1): what a phone, an e-reader or an OPDS app holds, with the
//! hashes of its secrets, and the provider sign-in it was approved through. A revoked grant
//! keeps its row (for the audit trail and to answer a late client plainly) but loses every
//! secret at once, so no lookup can find it again.

use super::users::{user_from_row, JOINED_USER_COLUMNS};
use super::{AuditEntry, AuditEvent, Db, User};
use crate::clock::Millis;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// One app grant as stored.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub name: String,
    pub scope: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub last_used_ip: Option<String>,
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
    pub access_expires_at: Option<Millis>,
    /// Sealed to the grant (`crypto::Binding::Grant`).
    pub provider_refresh_sealed: Option<String>,
    pub provider_access_expires_at: Option<Millis>,
}

impl Grant {
    /// When it was last used, or made when never used: what the idle limit counts from.
    pub fn last_active(&self) -> Millis {
        self.last_used_at.unwrap_or(self.created_at)
    }
}

const GRANT_COLUMNS: &str = "id, user_id, kind, name, scope, created_at, last_used_at, \
     last_used_ip, oidc_issuer, oidc_subject, access_expires_at, provider_refresh_enc, \
     provider_access_expires_at";

/// [`GRANT_COLUMNS`] of `app_grants g` joined with `users u`: the three names both tables
/// have are the grant's under other names ([`JOINED`]), the rest read as they are.
const JOINED_GRANT_COLUMNS: &str = "g.id AS grant_id, g.user_id, g.kind, g.name AS grant_name, \
     g.scope, g.created_at AS grant_created_at, g.last_used_at, g.last_used_ip, g.oidc_issuer, \
     g.oidc_subject, g.access_expires_at, g.provider_refresh_enc, g.provider_access_expires_at";

/// What a row calls the columns that `app_grants` shares with `users`: id, name, created_at.
struct Names {
    id: &'static str,
    name: &'static str,
    created_at: &'static str,
}

const PLAIN: Names = Names {
    id: "id",
    name: "name",
    created_at: "created_at",
};
const JOINED: Names = Names {
    id: "grant_id",
    name: "grant_name",
    created_at: "grant_created_at",
};

fn grant_from_row(r: &AnyRow) -> Result<Grant, sqlx::Error> {
    grant_from_named_row(r, &PLAIN)
}

fn grant_from_named_row(r: &AnyRow, names: &Names) -> Result<Grant, sqlx::Error> {
    Ok(Grant {
        id: r.try_get(names.id)?,
        user_id: r.try_get("user_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get(names.name)?,
        scope: r.try_get("scope")?,
        created_at: r.try_get(names.created_at)?,
        last_used_at: r.try_get("last_used_at")?,
        last_used_ip: r.try_get("last_used_ip")?,
        oidc_issuer: r.try_get("oidc_issuer")?,
        oidc_subject: r.try_get("oidc_subject")?,
        access_expires_at: r.try_get("access_expires_at")?,
        provider_refresh_sealed: r.try_get("provider_refresh_enc")?,
        provider_access_expires_at: r.try_get("provider_access_expires_at")?,
    })
}

/// The provider sign-in a grant was approved through (intent `grant`), its refresh token
/// in clear: the store seals it to the new grant's id once that id exists.
#[derive(Debug, Clone)]
pub struct ProviderSignIn {
    pub issuer: String,
    pub subject: String,
    pub sid: Option<String>,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<Millis>,
}

/// The hashes of a grant's token pair.
pub struct TokenHashes<'a> {
    pub access: &'a str,
    pub access_expires_at: Millis,
    pub refresh: &'a str,
}

/// The secret a new grant is reached with.
pub enum GrantSecret<'a> {
    Tokens(TokenHashes<'a>),
    AppPassword(&'a str),
    /// A device's grant gets its tokens when the device collects them.
    Later,
}

pub struct NewGrant<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    pub name: &'a str,
    pub scope: &'a str,
    pub secret: GrantSecret<'a>,
    pub provider: Option<&'a ProviderSignIn>,
    pub now: Millis,
    /// Who approved it, from where (the audit entry).
    pub ip: &'a str,
}

/// Seals a provider refresh token to the grant with this id.
pub type Seal<'a> = &'a (dyn Fn(i64, &str) -> String + Sync);

/// Which live grants a revocation ends.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// One grant, if it belongs to this user.
    OneOf { user_id: i64, id: i64 },
    /// One grant, whoever holds it.
    Id(i64),
    /// Every grant of a user.
    AllOf(i64),
    /// Every grant of a user approved through a provider sign-in (their identity is unlinked).
    ApprovedThroughProvider(i64),
    /// The grants of one provider session (`sid`), or of every session of a subject; with
    /// both, also the subject's grants whose sign-in named no `sid` (as for sessions).
    ProviderSession {
        issuer: &'a str,
        sid: Option<&'a str>,
        sub: Option<&'a str>,
    },
    /// Every grant unused since this time.
    IdleSince(Millis),
}

/// Who ends grants, from where, for the audit entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct By<'a> {
    pub actor: Option<i64>,
    pub ip: Option<&'a str>,
}

/// A grant that a revocation ended.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub id: i64,
    pub user_id: i64,
}

/// A provider round trip with intent `grant`, recorded on the session that made it.
#[derive(Debug, Clone)]
pub struct Confirmation {
    pub confirmed_at: Millis,
    pub issuer: String,
    pub subject: String,
    pub sid: Option<String>,
    /// Sealed to the session (`crypto::Binding::GrantConfirmation`).
    pub refresh_sealed: Option<String>,
    pub access_expires_at: Option<Millis>,
}

pub(super) async fn insert_grant(
    conn: &mut AnyConnection,
    g: &NewGrant<'_>,
    seal: Seal<'_>,
) -> Result<Grant, sqlx::Error> {
    let (access, access_expires_at, refresh, app_password) = match &g.secret {
        GrantSecret::Tokens(t) => (
            Some(t.access),
            Some(t.access_expires_at),
            Some(t.refresh),
            None,
        ),
        GrantSecret::AppPassword(hash) => (None, None, None, Some(*hash)),
        GrantSecret::Later => (None, None, None, None),
    };
    let provider = g.provider;
    let row = sqlx::query(&format!(
        "INSERT INTO app_grants (user_id, kind, name, scope, created_at, oidc_issuer, oidc_subject, \
         oidc_sid, provider_access_expires_at, access_hash, access_expires_at, refresh_hash, \
         app_password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         RETURNING {GRANT_COLUMNS}"
    ))
    .bind(g.user_id)
    .bind(g.kind)
    .bind(g.name)
    .bind(g.scope)
    .bind(g.now)
    .bind(provider.map(|p| p.issuer.as_str()))
    .bind(provider.map(|p| p.subject.as_str()))
    .bind(provider.and_then(|p| p.sid.as_deref()))
    .bind(provider.and_then(|p| p.access_expires_at))
    .bind(access)
    .bind(access_expires_at)
    .bind(refresh)
    .bind(app_password)
    .fetch_one(&mut *conn)
    .await?;
    let mut grant = grant_from_row(&row)?;
    if let Some(token) = provider.and_then(|p| p.refresh_token.as_deref()) {
        let sealed = seal(grant.id, token);
        sqlx::query("UPDATE app_grants SET provider_refresh_enc = $1 WHERE id = $2")
            .bind(&sealed)
            .bind(grant.id)
            .execute(&mut *conn)
            .await?;
        grant.provider_refresh_sealed = Some(sealed);
    }
    AuditEntry::new(AuditEvent::GrantCreated, g.now)
        .actor(g.user_id)
        .target(g.user_id)
        .ip(g.ip)
        .detail("grantId", grant.id)
        .detail("kind", g.kind)
        .detail("name", g.name)
        .detail("scope", g.scope)
        .insert(conn)
        .await?;
    Ok(grant)
}

/// Ends the live grants `which` names, each with its audit entry, in the caller's
/// transaction.
pub(super) async fn revoke_in(
    conn: &mut AnyConnection,
    which: Which<'_>,
    reason: &str,
    by: By<'_>,
    now: Millis,
) -> Result<Vec<Revoked>, sqlx::Error> {
    let condition = match which {
        Which::OneOf { .. } => "user_id = $3 AND id = $4",
        Which::Id(_) => "id = $3",
        Which::AllOf(_) => "user_id = $3",
        Which::ApprovedThroughProvider(_) => "user_id = $3 AND oidc_subject IS NOT NULL",
        Which::ProviderSession {
            sid: Some(_),
            sub: Some(_),
            ..
        } => "oidc_issuer = $3 AND (oidc_sid = $4 OR (oidc_sid IS NULL AND oidc_subject = $5))",
        Which::ProviderSession { sid: Some(_), .. } => "oidc_issuer = $3 AND oidc_sid = $4",
        Which::ProviderSession { sub: Some(_), .. } => "oidc_issuer = $3 AND oidc_subject = $4",
        Which::ProviderSession { .. } => return Ok(Vec::new()),
        Which::IdleSince(_) => "COALESCE(last_used_at, created_at) <= $3",
    };
    let sql = format!(
        "UPDATE app_grants SET revoked_at = $1, revoked_reason = $2, access_hash = NULL, \
         refresh_hash = NULL, app_password_hash = NULL, provider_refresh_enc = NULL \
         WHERE revoked_at IS NULL AND {condition} RETURNING id, user_id, kind, name"
    );
    let query = sqlx::query(&sql).bind(now).bind(reason);
    let query = match which {
        Which::OneOf { user_id, id } => query.bind(user_id).bind(id),
        Which::Id(id) | Which::AllOf(id) | Which::ApprovedThroughProvider(id) => query.bind(id),
        Which::ProviderSession { issuer, sid, sub } => {
            let query = query.bind(issuer);
            match (sid, sub) {
                (Some(sid), Some(sub)) => query.bind(sid).bind(sub),
                (Some(one), None) | (None, Some(one)) => query.bind(one),
                (None, None) => query,
            }
        }
        Which::IdleSince(at) => query.bind(at),
    };
    let rows = query.fetch_all(&mut *conn).await?;
    let mut revoked = Vec::with_capacity(rows.len());
    for row in rows {
        let grant = Revoked {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
        };
        let mut entry = AuditEntry::new(AuditEvent::GrantRevoked, now)
            .target(grant.user_id)
            .detail("reason", reason)
            .detail("grantId", grant.id)
            .detail("kind", row.try_get::<String, _>("kind")?)
            .detail("name", row.try_get::<String, _>("name")?);
        if let Some(actor) = by.actor {
            entry = entry.actor(actor);
        }
        if let Some(ip) = by.ip {
            entry = entry.ip(ip);
        }
        entry.insert(&mut *conn).await?;
        revoked.push(grant);
    }
    Ok(revoked)
}

impl Db {
    pub async fn create_grant(
        &self,
        grant: &NewGrant<'_>,
        seal: Seal<'_>,
    ) -> Result<Grant, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let grant = insert_grant(&mut tx, grant, seal).await?;
        tx.commit().await?;
        Ok(grant)
    }

    /// Every user's live grants, newest first (the admin's user list).
    pub async fn live_grants(&self) -> Result<Vec<Grant>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM app_grants WHERE revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// A user's live grants, newest first.
    pub async fn live_grants_of(&self, user_id: i64) -> Result<Vec<Grant>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM app_grants WHERE user_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    pub async fn rename_grant(
        &self,
        user_id: i64,
        id: i64,
        name: &str,
    ) -> Result<Option<Grant>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "UPDATE app_grants SET name = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
             RETURNING {GRANT_COLUMNS}"
        ))
        .bind(name)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    /// The live grant one of whose secrets has this hash (`column` names which secret).
    async fn live_grant_by(
        &self,
        column: Secret,
        hash: &str,
    ) -> Result<Option<Grant>, sqlx::Error> {
        let column = match column {
            Secret::Access => "access_hash",
            Secret::Refresh => "refresh_hash",
            Secret::AppPassword => "app_password_hash",
        };
        let row = sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM app_grants WHERE {column} = $1 AND revoked_at IS NULL"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    /// The live grant one of whose secrets has this hash, and its user: one query, since every
    /// request of an app asks it.
    async fn live_grant_and_user_by(
        &self,
        column: Secret,
        hash: &str,
    ) -> Result<Option<(Grant, User)>, sqlx::Error> {
        let column = match column {
            Secret::Access => "access_hash",
            Secret::Refresh => "refresh_hash",
            Secret::AppPassword => "app_password_hash",
        };
        let row = sqlx::query(&format!(
            "SELECT {JOINED_GRANT_COLUMNS}, {} FROM app_grants g JOIN users u ON u.id = g.user_id \
             WHERE g.{column} = $1 AND g.revoked_at IS NULL",
            *JOINED_USER_COLUMNS
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((grant_from_named_row(&r, &JOINED)?, user_from_row(&r)?)))
            .transpose()
    }

    pub async fn grant_by_access_hash(
        &self,
        hash: &str,
    ) -> Result<Option<(Grant, User)>, sqlx::Error> {
        self.live_grant_and_user_by(Secret::Access, hash).await
    }

    pub async fn grant_by_refresh_hash(&self, hash: &str) -> Result<Option<Grant>, sqlx::Error> {
        self.live_grant_by(Secret::Refresh, hash).await
    }

    pub async fn grant_by_app_password(
        &self,
        hash: &str,
    ) -> Result<Option<(Grant, User)>, sqlx::Error> {
        self.live_grant_and_user_by(Secret::AppPassword, hash).await
    }

    /// Records a use of a grant. A failure to write (a read-only database) does not refuse
    /// the request: the grant only ages from its last recorded use.
    pub async fn touch_grant(&self, id: i64, now: Millis, ip: &str) -> Result<(), sqlx::Error> {
        let touched =
            sqlx::query("UPDATE app_grants SET last_used_at = $1, last_used_ip = $2 WHERE id = $3")
                .bind(now)
                .bind(ip)
                .bind(id)
                .execute(&self.pool)
                .await;
        match touched {
            Err(e) if super::is_unavailable(&e) => {
                tracing::debug!(error = %e, "grant last use not recorded");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Replaces a grant's token pair if `old_refresh` is still its refresh token, and keeps
    /// the old one's hash to recognise its reuse. False when another use of the same refresh
    /// token won (a reuse) or the grant ended meanwhile.
    pub async fn rotate_grant_tokens(
        &self,
        id: i64,
        old_refresh: &str,
        new: &TokenHashes<'_>,
        now: Millis,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE app_grants SET access_hash = $1, access_expires_at = $2, refresh_hash = $3 \
             WHERE id = $4 AND refresh_hash = $5 AND revoked_at IS NULL",
        )
        .bind(new.access)
        .bind(new.access_expires_at)
        .bind(new.refresh)
        .bind(id)
        .bind(old_refresh)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO app_grant_used_refresh (hash, grant_id, used_at) VALUES ($1, $2, $3)",
        )
        .bind(old_refresh)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The grant a refresh token belonged to before it was rotated away.
    pub async fn grant_of_used_refresh(&self, hash: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT grant_id FROM app_grant_used_refresh WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
    }

    /// Stores what a refresh at the provider brought, if the grant is still live.
    pub async fn store_grant_provider_refresh(
        &self,
        id: i64,
        sealed: &str,
        access_expires_at: Option<Millis>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE app_grants SET provider_refresh_enc = $1, provider_access_expires_at = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(sealed)
        .bind(access_expires_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn revoke_grants(
        &self,
        which: Which<'_>,
        reason: &str,
        by: By<'_>,
        now: Millis,
    ) -> Result<Vec<Revoked>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let revoked = revoke_in(&mut tx, which, reason, by, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Ends every session of a user; answers how many.
    pub async fn end_sessions_of(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Records a provider round trip with intent `grant` on the session of `user_id` that
    /// made it. False when that session no longer exists.
    pub async fn record_grant_confirmation(
        &self,
        session_hash: &str,
        user_id: i64,
        c: &Confirmation,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE sessions SET grant_confirmed_at = $1, grant_issuer = $2, grant_subject = $3, \
             grant_sid = $4, grant_refresh_enc = $5, grant_access_expires_at = $6 \
             WHERE id_hash = $7 AND user_id = $8",
        )
        .bind(c.confirmed_at)
        .bind(&c.issuer)
        .bind(&c.subject)
        .bind(&c.sid)
        .bind(&c.refresh_sealed)
        .bind(c.access_expires_at)
        .bind(session_hash)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the session's provider confirmation made after `since`, once: a second approval
    /// needs a round trip of its own.
    pub async fn take_grant_confirmation(
        &self,
        session_hash: &str,
        since: Millis,
    ) -> Result<Option<Confirmation>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT grant_confirmed_at, grant_issuer, grant_subject, grant_sid, grant_refresh_enc, \
             grant_access_expires_at FROM sessions WHERE id_hash = $1 AND grant_confirmed_at > $2",
        )
        .bind(session_hash)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let confirmation = Confirmation {
            confirmed_at: row.try_get("grant_confirmed_at")?,
            issuer: row.try_get("grant_issuer")?,
            subject: row.try_get("grant_subject")?,
            sid: row.try_get("grant_sid")?,
            refresh_sealed: row.try_get("grant_refresh_enc")?,
            access_expires_at: row.try_get("grant_access_expires_at")?,
        };
        // Cleared only if still the one read: of two approvals at once, one gets it.
        let taken = sqlx::query(
            "UPDATE sessions SET grant_confirmed_at = NULL, grant_issuer = NULL, \
             grant_subject = NULL, grant_sid = NULL, grant_refresh_enc = NULL, \
             grant_access_expires_at = NULL WHERE id_hash = $1 AND grant_confirmed_at = $2",
        )
        .bind(session_hash)
        .bind(confirmation.confirmed_at)
        .execute(&self.pool)
        .await?;
        Ok((taken.rows_affected() == 1).then_some(confirmation))
    }
}

#[derive(Debug, Clone, Copy)]
enum Secret {
    Access,
    Refresh,
    AppPassword,
}
