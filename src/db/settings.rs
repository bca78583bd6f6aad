//! Key/value settings.

use super::Db;
use crate::clock::Millis;

impl Db {
    pub async fn setting(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    pub async fn put_setting(
        &self,
        key: &str,
        value: &str,
        now: Millis,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Db {
    /// Records the key's fingerprint on first start; afterwards refuses any other key.
    /// `stored` is the fingerprint as read at start, `None` on a database without one yet.
    pub async fn check_key_fingerprint(
        &self,
        stored: Option<String>,
        fingerprint: &str,
        now: Millis,
    ) -> Result<(), super::StoreError> {
        let stored = match stored {
            Some(stored) => Some(stored),
            // Written only when missing: a database that takes no writes (a read-only file)
            // can still be started on to serve reads. Read back, as another replica starting
            // at the same moment may have written its own first.
            None => {
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ('secret_key_fingerprint', $1, $2) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(fingerprint)
                .bind(now)
                .execute(&self.pool)
                .await?;
                self.setting("secret_key_fingerprint").await?
            }
        };
        match stored.as_deref() {
            Some(stored) if stored == fingerprint => Ok(()),
            _ => Err(super::StoreError::Invariant(
                "GRIMMORY_SECRET_KEY does not match the key this database was set up with: start with the original key",
            )),
        }
    }
}
