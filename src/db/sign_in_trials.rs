//! The reports of dry runs (Try Sign-in, spec section 12): kept ten minutes, for the admin
//! who started each.

use super::Db;
use crate::clock::Millis;

pub const LIFETIME_MS: Millis = 10 * 60_000;

impl Db {
    /// Stores a report, first dropping the expired ones.
    pub async fn insert_sign_in_trial(
        &self,
        id_hash: &str,
        owner_id: i64,
        report: &str,
        now: Millis,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_in_trials WHERE created_at <= $1")
            .bind(now - LIFETIME_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_trials (id_hash, owner_id, report, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(owner_id)
        .bind(report)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The report with this id hash, when `owner_id` started it and it has not expired.
    pub async fn sign_in_trial(
        &self,
        id_hash: &str,
        owner_id: i64,
        now: Millis,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT report FROM sign_in_trials WHERE id_hash = $1 AND owner_id = $2 AND created_at > $3",
        )
        .bind(id_hash)
        .bind(owner_id)
        .bind(now - LIFETIME_MS)
        .fetch_optional(&self.pool)
        .await
    }
}
