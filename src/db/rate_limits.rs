//! Counters for rate limits, kept in the database so limits hold across replicas.

use super::Db;
use crate::clock::Millis;

impl Db {
    /// How many hits each bucket had since `since`, in the order given.
    pub async fn count_hits(
        &self,
        buckets: &[&str],
        since: Millis,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let mut counts = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM rate_limit_hits WHERE bucket = $1 AND at > $2",
            )
            .bind(*bucket)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
            counts.push(n);
        }
        Ok(counts)
    }

    /// Records one hit in each bucket and drops hits older than `forget_before`.
    pub async fn add_hits(
        &self,
        buckets: &[&str],
        now: Millis,
        forget_before: Millis,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for bucket in buckets {
            sqlx::query("INSERT INTO rate_limit_hits (bucket, at) VALUES ($1, $2)")
                .bind(*bucket)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM rate_limit_hits WHERE at <= $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub async fn clear_hits(&self, bucket: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM rate_limit_hits WHERE bucket = $1")
            .bind(bucket)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
