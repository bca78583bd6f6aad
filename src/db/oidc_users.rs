//! Applying an OIDC sign-in to the users table in one transaction: provisioning, linking, the
//! refresh of email and display name, and group sync under the admin invariants. Nothing is
//! half-made: any failure rolls everything back.

use super::users::{insert_user, set_libraries, user_from_row, PERMISSION_COLUMNS, USER_COLUMNS};
use super::{
    admin_guard, is_unique_violation, AuditEntry, AuditEvent, Db, NewUser, StoreError, User,
};
use crate::clock::Millis;
use sqlx::AnyConnection;

/// Who the sign-in is for.
pub enum Target {
    Existing(i64),
    /// Provision this user with these libraries.
    New(NewUser, Vec<i64>),
}

/// Admin flag, permissions and libraries as group sync wants them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub is_admin: bool,
    pub permissions: Vec<bool>,
    pub library_ids: Vec<i64>,
}

/// What a claim by username needs of the account, checked again inside the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimCheck {
    /// Whether an account with a password may be linked ("Link Existing Local Accounts").
    pub allow_password_link: bool,
    /// The email the provider vouches for: a password-less account with an email is claimed
    /// only when it is this one.
    pub email: Option<String>,
}

pub struct SignInPlan {
    pub target: Target,
    /// Link this identity (issuer, subject) to the user.
    pub link: Option<(String, String)>,
    /// Set when the target was found by username: checked again inside the transaction,
    /// since the account may have changed since.
    pub claim_check: Option<ClaimCheck>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub grants: Option<Grants>,
    /// Written with the user's id as target, in the same transaction.
    pub audits: Vec<AuditEntry>,
}

async fn email_taken(
    conn: &mut AnyConnection,
    email: &str,
    other_than: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1 AND id <> $2")
        .bind(email)
        .bind(other_than)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

async fn apply_grants(
    conn: &mut AnyConnection,
    user_id: i64,
    grants: &Grants,
    now: Millis,
) -> Result<(), sqlx::Error> {
    let sets: Vec<String> = PERMISSION_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 3))
        .collect();
    let sql = format!(
        "UPDATE users SET is_admin = $1, updated_at = $2, {} WHERE id = ${}",
        sets.join(", "),
        PERMISSION_COLUMNS.len() + 3
    );
    let mut q = sqlx::query(&sql).bind(grants.is_admin).bind(now);
    for flag in &grants.permissions {
        q = q.bind(*flag);
    }
    q.bind(user_id).execute(&mut *conn).await?;
    set_libraries(conn, user_id, &grants.library_ids).await
}

impl Db {
    pub async fn user_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let sql = format!(
            "SELECT {} FROM users WHERE id = (SELECT user_id FROM oidc_identities WHERE issuer = $1 AND subject = $2)",
            *USER_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Whether this identity is linked, and to whom.
    pub async fn identity_owner(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT user_id FROM oidc_identities WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn has_identity(&self, user_id: i64) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_identities WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Applies a sign-in and answers the user. A unique conflict on the identity (two first sign-ins at once) is
    /// `StoreError::Conflict`: the caller decides again, and then finds the link.
    pub async fn apply_sign_in(
        &self,
        plan: SignInPlan,
        now: Millis,
        force_disabled: bool,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        admin_guard::lock(&mut tx, now).await?;
        // Decisions were made before the lock: re-check what a concurrent sign-in or edit may
        // have changed, before any write (a failed statement aborts a PostgreSQL transaction).
        if let Some((issuer, subject)) = &plan.link {
            let taken: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM oidc_identities WHERE issuer = $1 AND subject = $2",
            )
            .bind(issuer)
            .bind(subject)
            .fetch_one(&mut *tx)
            .await?;
            if taken > 0 {
                return Err(StoreError::Conflict(
                    "identity",
                    "This identity is already linked.",
                ));
            }
        }
        match &plan.target {
            Target::New(new, _) => {
                let exists: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = $1")
                        .bind(&new.username)
                        .fetch_one(&mut *tx)
                        .await?;
                if exists > 0 {
                    // Not by this identity (checked above): another account has the name.
                    return Err(StoreError::Conflict(
                        "username",
                        "A user with this username already exists.",
                    ));
                }
            }
            Target::Existing(id) => {
                if let Some(check) = &plan.claim_check {
                    let sql = format!("SELECT {} FROM users WHERE id = $1", *USER_COLUMNS);
                    let row = sqlx::query(&sql)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    let user = user_from_row(&row)?;
                    let linked: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM oidc_identities WHERE user_id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let claimable = match (&user.password_hash, &user.email) {
                        (Some(_), _) => check.allow_password_link,
                        (None, None) => true,
                        (None, Some(email)) => check.email.as_ref() == Some(email),
                    };
                    if user.is_admin || linked > 0 || !claimable {
                        return Err(StoreError::Conflict(
                            "username",
                            "The account cannot be linked.",
                        ));
                    }
                }
            }
        }
        let mut email_kept = false;
        let user_id = match plan.target {
            Target::Existing(id) => id,
            Target::New(mut new, libraries) => {
                if let Some(email) = new.email.clone() {
                    if email_taken(&mut tx, &email, 0).await? {
                        new.email = None;
                        email_kept = true;
                    }
                }
                let created = insert_user(&mut tx, &new, now).await.map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict(
                            "username",
                            "A user with this username already exists.",
                        )
                    } else {
                        StoreError::Db(e)
                    }
                })?;
                set_libraries(&mut tx, created.id, &libraries).await?;
                created.id
            }
        };
        if let Some((issuer, subject)) = &plan.link {
            sqlx::query("INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)")
                .bind(issuer)
                .bind(subject)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict("identity", "This identity or user is already linked.")
                    } else {
                        StoreError::Db(e)
                    }
                })?;
        }
        if let Some(email) = &plan.email {
            if email_taken(&mut tx, email, user_id).await? {
                email_kept = true;
            } else {
                sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
                    .bind(email)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(name) = &plan.name {
            sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut sync_refused = None;
        if let Some(grants) = &plan.grants {
            let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
            apply_grants(&mut attempt, user_id, grants, now).await?;
            match admin_guard::verify(&mut attempt, force_disabled).await {
                Ok(()) => attempt.commit().await?,
                Err(StoreError::Invariant(why)) => {
                    attempt.rollback().await?;
                    // Keep the rest of the sync; leave the admin flag as it was.
                    let current: bool = sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM users WHERE id = $1 AND is_admin = $2",
                    )
                    .bind(user_id)
                    .bind(true)
                    .fetch_one(&mut *tx)
                    .await?
                        > 0;
                    let kept = Grants {
                        is_admin: current,
                        ..grants.clone()
                    };
                    apply_grants(&mut tx, user_id, &kept, now).await?;
                    sync_refused = Some(why);
                    AuditEntry::new(AuditEvent::SyncRefused, now)
                        .target(user_id)
                        .detail("reason", why)
                        .insert(&mut tx)
                        .await?;
                }
                Err(other) => return Err(other),
            }
        }
        for mut audit in plan.audits {
            if email_kept && audit.is(AuditEvent::OidcLoginSuccess) {
                audit = audit.detail(
                    "warning",
                    "the provider's email belongs to another user; the email was kept unchanged",
                );
            }
            if sync_refused.is_some() && audit.is(AuditEvent::PermissionsSynced) {
                audit = audit.detail("adminChangeRefused", true);
            }
            audit.target(user_id).insert(&mut tx).await?;
        }
        let sql = format!(
            "UPDATE users SET last_login_at = $1 WHERE id = $2 RETURNING {}",
            *USER_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(now)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let user = user_from_row(&row)?;
        tx.commit().await?;
        Ok(user)
    }
}
