//! Making racing requests provably meet. A barrier before each request is the least: they
//! start together. On PostgreSQL the test can do more: hold a lock on a table both must
//! write, watch until each request waits for a lock, and only then let them go, so both are
//! inside the server at the guarded step at once. (SQLite shows nobody waiting for its lock,
//! so there the barrier is all.)

use crate::common::{Engine, TestApp};
use sqlx::Connection;
use std::time::{Duration, Instant};

/// How long the requests may take to reach the lock (argon2 hashing on a loaded machine).
const REACH_WITHIN: Duration = Duration::from_secs(60);
/// How often the test looks who waits: a poll interval, not a wait for an event.
const POLL: Duration = Duration::from_millis(20);

/// A lock held on a table of a PostgreSQL test database: the table can be read but not
/// written until it is released.
pub struct TableLock {
    holder: sqlx::AnyConnection,
    watcher: sqlx::AnyConnection,
}

impl TableLock {
    /// Locks `table` of `app`'s database; `None` on SQLite.
    pub async fn hold(app: &TestApp, table: &str) -> Option<Self> {
        if let Engine::Sqlite = app.engine {
            return None;
        }
        let mut holder = sqlx::AnyConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
            .execute(&mut holder)
            .await
            .unwrap();
        // Another connection watches: pg_stat_activity is read once per transaction, and the
        // holder's stays open.
        let watcher = sqlx::AnyConnection::connect(&app.database_url)
            .await
            .unwrap();
        Some(Self { holder, watcher })
    }

    /// Waits until `requests` of the server's connections wait for a lock (this one, or one
    /// a request that got past it holds), then releases the table. Panics when they do not
    /// all get there in time: then they were never in flight together.
    pub async fn release_when_waiting(mut self, requests: i64) {
        let deadline = Instant::now() + REACH_WITHIN;
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND backend_type = 'client backend' AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut self.watcher)
            .await
            .unwrap();
            if waiting >= requests {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {waiting} of {requests} requests reached the lock"
            );
            tokio::time::sleep(POLL).await;
        }
        sqlx::query("COMMIT")
            .execute(&mut self.holder)
            .await
            .unwrap();
    }
}

/// Lets a held table go at once when there is one; nothing on SQLite.
pub async fn release_when_waiting(lock: Option<TableLock>, requests: i64) {
    if let Some(lock) = lock {
        lock.release_when_waiting(requests).await;
    }
}
