//! The admin invariants of spec section 2, checked inside the transaction of every change
//! that could break them: mutate, then verify, and roll back when the result is refused.

use super::StoreError;
use crate::clock::Millis;
use crate::oidc_settings::model::StoredSettings;
use sqlx::AnyConnection;

/// Serialises invariant-sensitive changes: on PostgreSQL the row lock makes a concurrent
/// change wait until this one commits; on SQLite the write takes the database's write lock.
/// Must be the first statement of the transaction, so SQLite's snapshot starts after it.
pub(super) async fn lock(conn: &mut AnyConnection, now: Millis) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE settings SET updated_at = $1 WHERE key = 'admin_guard'")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub const NO_ADMIN: &str = "Refused: there must always be at least one admin.";
pub const NO_LOCAL_ADMIN: &str =
    "Refused: while OIDC-only mode is on, at least one admin must have a password.";
pub const NO_ADMIN_CAN_SIGN_IN: &str =
    "Refused: at least one admin must be able to sign in, with a password or a linked OIDC identity.";

/// Checks the state the transaction would commit. Whether OIDC-only mode is in force is read
/// here too, inside the locked transaction, so a concurrent toggle cannot slip between.
pub(super) async fn verify(
    conn: &mut AnyConnection,
    force_disabled: bool,
) -> Result<(), StoreError> {
    let settings: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'oidc'")
            .fetch_optional(&mut *conn)
            .await?;
    let oidc_only_in_force = settings
        .and_then(|json| serde_json::from_str::<StoredSettings>(&json).ok())
        .is_some_and(|s| s.force_only_in_force(force_disabled));
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin = $1")
        .bind(true)
        .fetch_one(&mut *conn)
        .await?;
    if admins == 0 {
        return Err(StoreError::Invariant(NO_ADMIN));
    }
    let with_password: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE is_admin = $1 AND password_hash IS NOT NULL",
    )
    .bind(true)
    .fetch_one(&mut *conn)
    .await?;
    if oidc_only_in_force && with_password == 0 {
        return Err(StoreError::Invariant(NO_LOCAL_ADMIN));
    }
    if with_password == 0 {
        let linked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users u JOIN oidc_identities o ON o.user_id = u.id WHERE u.is_admin = $1",
        )
        .bind(true)
        .fetch_one(&mut *conn)
        .await?;
        if linked == 0 {
            return Err(StoreError::Invariant(NO_ADMIN_CAN_SIGN_IN));
        }
    }
    Ok(())
}
