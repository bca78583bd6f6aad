//! Counters for rate limits, kept in the database so limits hold across replicas.
//!
//! An attempt is recorded *before* the work it limits and counted with itself included, so
//! requests sent at once cannot all slip in under the limit. Attempts on one bucket are
//! recorded and counted one after the other, so a burst is limited exactly like a sequence:
//! counted apart, each could see the others' hits and all be refused, none checked.

use super::{Backend, Db};
use crate::clock::Millis;

/// Hits are kept at least this long, the longest window any limit counts over: a caller
/// with a short window must not wipe what a longer one still counts.
const KEEP_MS: Millis = 60 * 60_000;

impl Db {
    /// Records one hit per bucket for `attempt` and answers each bucket's count since `since`,
    /// this attempt included. Hits older than every window are dropped on the way.
    pub async fn record_attempt(
        &self,
        buckets: &[&str],
        attempt: &str,
        now: Millis,
        since: Millis,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // SQLite serializes writers by itself: the first insert takes the database's write
        // lock until the commit. PostgreSQL needs a lock per bucket, taken in one order.
        if self.backend == Backend::Postgres {
            let mut locks = buckets.to_vec();
            locks.sort_unstable();
            locks.dedup();
            for bucket in locks {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked",
                )
                .bind(bucket)
                .fetch_one(&mut *tx)
                .await?;
            }
        }
        for bucket in buckets {
            sqlx::query("INSERT INTO rate_limit_hits (bucket, at, attempt) VALUES ($1, $2, $3)")
                .bind(*bucket)
                .bind(now)
                .bind(attempt)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM rate_limit_hits WHERE at <= $1")
            .bind(since.min(now - KEEP_MS))
            .execute(&mut *tx)
            .await?;
        let mut counts = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM rate_limit_hits WHERE bucket = $1 AND at > $2",
            )
            .bind(*bucket)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            counts.push(n);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// When `bucket` was last hit by an attempt other than `attempt`, since `since`.
    pub async fn last_hit(
        &self,
        bucket: &str,
        attempt: &str,
        since: Millis,
    ) -> Result<Option<Millis>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT MAX(at) FROM rate_limit_hits WHERE bucket = $1 AND attempt <> $2 AND at > $3",
        )
        .bind(bucket)
        .bind(attempt)
        .bind(since)
        .fetch_one(&self.pool)
        .await
    }

    /// Takes back the hits of one attempt.
    pub async fn forget_attempt(&self, attempt: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM rate_limit_hits WHERE attempt = $1")
            .bind(attempt)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes back the hit of one attempt in one bucket.
    pub async fn forget_hit(&self, bucket: &str, attempt: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM rate_limit_hits WHERE bucket = $1 AND attempt = $2")
            .bind(bucket)
            .bind(attempt)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn clear_hits(&self, bucket: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM rate_limit_hits WHERE bucket = $1")
            .bind(bucket)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
