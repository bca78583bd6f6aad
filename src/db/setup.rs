//! The first-run setup: one admin, created at most once.

use super::users::{insert_user, NewUser, User};
use super::{is_unique_violation, AuditEntry, AuditEvent, Db};
use crate::clock::Millis;
use std::sync::atomic::Ordering;

pub enum SetupOutcome {
    Created(User),
    AlreadyDone,
}

impl Db {
    pub async fn setup_completed(&self) -> Result<bool, sqlx::Error> {
        if self.setup_seen.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let row = sqlx::query("SELECT 1 FROM settings WHERE key = 'setup_completed'")
            .fetch_optional(&self.pool)
            .await?;
        if row.is_some() {
            self.setup_seen.store(true, Ordering::Relaxed);
        }
        Ok(row.is_some())
    }

    /// Creates the first admin. The marker row is written first, in the same transaction:
    /// its primary key makes a racing second setup wait and then fail, on both engines,
    /// so two requests never make two admins.
    pub async fn complete_setup(
        &self,
        admin: &NewUser,
        now: Millis,
        client_ip: &str,
    ) -> Result<SetupOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ('setup_completed', 'true', $1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await;
        match marked {
            Err(e) if is_unique_violation(&e) => return Ok(SetupOutcome::AlreadyDone),
            other => other?,
        };
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Ok(SetupOutcome::AlreadyDone);
        }
        let user = insert_user(&mut tx, admin, now).await?;
        AuditEntry::new(AuditEvent::SetupCompleted, now)
            .actor(user.id)
            .target(user.id)
            .ip(client_ip)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(SetupOutcome::Created(user))
    }
}
