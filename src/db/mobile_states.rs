//! The mobile app's sign-in states (spec section 11.2): one-time values handed out before the
//! app's own authorization request, taken back (once) by its callback within five minutes.
//! Kept in the database so the callback may land on another replica.

use super::Db;
use crate::clock::Millis;

pub const LIFETIME_MS: Millis = 5 * 60_000;
/// States one client (an address, or an IPv6 /64) may hold; asking for another drops its
/// oldest, so a flood from one place only evicts its own.
pub const PER_CLIENT: i64 = 50;
/// States the server holds at most; beyond it the oldest go, so no flood fills the database.
pub const TOTAL: i64 = 10_000;

impl Db {
    /// Stores a state's hash for `client_key`, first dropping expired ones, this client's
    /// oldest beyond its share and the server's oldest beyond the cap.
    pub async fn insert_mobile_state(
        &self,
        state_hash: &str,
        client_key: &str,
        now: Millis,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM mobile_states WHERE created_at <= $1")
            .bind(now - LIFETIME_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM mobile_states WHERE state_hash IN (SELECT state_hash FROM mobile_states \
             WHERE client_key = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3)",
        )
        .bind(client_key)
        .bind(TOTAL)
        .bind(PER_CLIENT - 1)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM mobile_states WHERE state_hash IN (SELECT state_hash FROM mobile_states \
             ORDER BY created_at DESC LIMIT $1 OFFSET $2)",
        )
        .bind(TOTAL)
        .bind(TOTAL - 1)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO mobile_states (state_hash, client_key, created_at) VALUES ($1, $2, $3)",
        )
        .bind(state_hash)
        .bind(client_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Takes a state (once): when it was handed out, if it was and has not been taken.
    pub async fn take_mobile_state(&self, state_hash: &str) -> Result<Option<Millis>, sqlx::Error> {
        sqlx::query_scalar("DELETE FROM mobile_states WHERE state_hash = $1 RETURNING created_at")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
    }
}
