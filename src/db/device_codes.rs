//! Device sign-in codes (RFC 8628, spec section 11.3): the device code stored as its hash,
//! the user code a person types, and what became of the request. Each moves one way only
//! (pending → approved or denied; approved → used), each step in one conditional statement,
//! so two tabs or two replicas never both decide one code.

use super::grants::{insert_grant, Grant, NewGrant, Seal, TokenHashes};
use super::{AuditEntry, Db};
use crate::clock::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub device_code_hash: String,
    pub user_code: String,
    pub client_name: String,
    pub expires_at: Millis,
    pub interval_secs: i64,
    pub last_poll_at: Option<Millis>,
    /// `pending`, `approved`, `denied` or `used`.
    pub status: String,
}

pub struct NewDeviceCode<'a> {
    pub device_code_hash: &'a str,
    pub user_code: &'a str,
    pub client_name: &'a str,
    pub now: Millis,
    pub expires_at: Millis,
    pub interval_secs: i64,
}

/// An ended code is kept this long, so the device and the person are told it expired or was
/// used rather than that it never existed.
const KEEP_AFTER_EXPIRY_MS: Millis = 24 * 3_600_000;

const COLUMNS: &str =
    "device_code_hash, user_code, client_name, expires_at, interval_secs, last_poll_at, status";

fn from_row(r: &AnyRow) -> Result<DeviceCode, sqlx::Error> {
    Ok(DeviceCode {
        device_code_hash: r.try_get("device_code_hash")?,
        user_code: r.try_get("user_code")?,
        client_name: r.try_get("client_name")?,
        expires_at: r.try_get("expires_at")?,
        interval_secs: r.try_get("interval_secs")?,
        last_poll_at: r.try_get("last_poll_at")?,
        status: r.try_get("status")?,
    })
}

impl Db {
    /// Stores a new code, dropping codes long ended. False when the user code is taken (the
    /// caller draws another).
    pub async fn insert_device_code(&self, c: &NewDeviceCode<'_>) -> Result<bool, sqlx::Error> {
        sqlx::query("DELETE FROM device_codes WHERE expires_at < $1")
            .bind(c.now - KEEP_AFTER_EXPIRY_MS)
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO device_codes (device_code_hash, user_code, client_name, created_at, \
             expires_at, interval_secs, status) VALUES ($1, $2, $3, $4, $5, $6, 'pending') \
             ON CONFLICT DO NOTHING",
        )
        .bind(c.device_code_hash)
        .bind(c.user_code)
        .bind(c.client_name)
        .bind(c.now)
        .bind(c.expires_at)
        .bind(c.interval_secs)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    pub async fn device_code_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceCode>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_codes WHERE user_code = $1"
        ))
        .bind(user_code)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn device_code_by_hash(&self, hash: &str) -> Result<Option<DeviceCode>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_codes WHERE device_code_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Records a poll and the interval the device must keep from now on.
    pub async fn record_device_poll(
        &self,
        hash: &str,
        now: Millis,
        interval_secs: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE device_codes SET last_poll_at = $1, interval_secs = $2 WHERE device_code_hash = $3",
        )
        .bind(now)
        .bind(interval_secs)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Denies a pending code; false when it is no longer pending or has expired.
    pub async fn deny_device_code(
        &self,
        user_code: &str,
        user_id: i64,
        now: Millis,
        audit: AuditEntry,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE device_codes SET status = 'denied', user_id = $1 \
             WHERE user_code = $2 AND status = 'pending' AND expires_at > $3",
        )
        .bind(user_id)
        .bind(user_code)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Approves a pending code with a new grant (its tokens come when the device collects
    /// them); `None` when the code is no longer pending or has expired.
    pub async fn approve_device_code(
        &self,
        user_code: &str,
        grant: &NewGrant<'_>,
        seal: Seal<'_>,
    ) -> Result<Option<Grant>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE device_codes SET status = 'approved', user_id = $1 \
             WHERE user_code = $2 AND status = 'pending' AND expires_at > $3",
        )
        .bind(grant.user_id)
        .bind(user_code)
        .bind(grant.now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let created = insert_grant(&mut tx, grant, seal).await?;
        sqlx::query("UPDATE device_codes SET grant_id = $1 WHERE user_code = $2")
            .bind(created.id)
            .bind(user_code)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(created))
    }

    /// Uses an approved code up and gives its grant the device's tokens. `None` when the code
    /// is not approved (any more), or its grant was revoked before the device came for it.
    pub async fn redeem_device_code(
        &self,
        hash: &str,
        tokens: &TokenHashes<'_>,
        now: Millis,
        ip: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let grant_id: Option<Option<i64>> = sqlx::query_scalar(
            "UPDATE device_codes SET status = 'used' WHERE device_code_hash = $1 \
             AND status = 'approved' RETURNING grant_id",
        )
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(Some(grant_id)) = grant_id else {
            return Ok(None);
        };
        let given = sqlx::query(
            "UPDATE app_grants SET access_hash = $1, access_expires_at = $2, refresh_hash = $3, \
             last_used_at = $4, last_used_ip = $5 WHERE id = $6 AND revoked_at IS NULL",
        )
        .bind(tokens.access)
        .bind(tokens.access_expires_at)
        .bind(tokens.refresh)
        .bind(now)
        .bind(ip)
        .bind(grant_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((given.rows_affected() == 1).then_some(grant_id))
    }
}
