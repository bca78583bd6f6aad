//! Whether the database answers, told apart from whether it is merely busy: a probe on a
//! connection of its own, which never queues behind requests waiting for the pool. An outage is
//! logged once when it begins and once when it ends, not once per failed request.

use super::Db;
use sqlx::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::instrument::WithSubscriber;

/// How long the probe waits for the database: within the second a health check is usually
/// given.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(600);
/// How long a probe's answer stands: requests that grow slow together share one probe.
const PROBE_FRESH: Duration = Duration::from_millis(500);
/// How often an outage is checked for its end.
const RECHECK: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(super) struct Outage {
    /// Logged as begun and not yet as ended.
    logged: AtomicBool,
    /// The last probe found no answer: requests fail at once instead of waiting.
    unreachable: AtomicBool,
    last_probe: Mutex<Option<(Instant, bool)>>,
}

impl Db {
    /// Whether the database answers a fresh connection within [`PROBE_TIMEOUT`].
    pub async fn answers(&self) -> bool {
        self.answers_within(PROBE_TIMEOUT).await
    }

    /// Whether the database answers a fresh connection within `timeout`. Callers at the same
    /// moment share one probe. No answer begins an outage (see [`Db::outage_began`]).
    pub async fn answers_within(&self, timeout: Duration) -> bool {
        // Closed on the way out: this server serves no more.
        if self.pool.is_closed() {
            return false;
        }
        let mut last = self.outage.last_probe.lock().await;
        if let Some((at, answered)) = *last {
            if at.elapsed() < PROBE_FRESH {
                return answered;
            }
        }
        let answered = matches!(
            tokio::time::timeout(timeout, self.probe()).await,
            Ok(Ok(()))
        );
        *last = Some((Instant::now(), answered));
        drop(last);
        self.outage.unreachable.store(!answered, Ordering::SeqCst);
        if !answered {
            self.outage_began();
        }
        answered
    }

    /// The last probe found the database not answering, and none has found it back since.
    pub fn known_unreachable(&self) -> bool {
        self.outage.unreachable.load(Ordering::SeqCst)
    }

    /// Notes that the database could not serve a request (it did not answer, or refused a
    /// write). The first note of an outage logs a warning and watches for its end, which it
    /// logs too; the others do nothing.
    pub fn outage_began(&self) {
        if self.outage.logged.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!("database unavailable: answering 503 until it is back");
        let db = self.clone();
        let began = Instant::now();
        // Its end is logged where its beginning was (the same subscriber).
        let watch = async move {
            loop {
                tokio::time::sleep(RECHECK).await;
                if db.answers().await
                    && matches!(
                        tokio::time::timeout(PROBE_TIMEOUT, db.write_probe()).await,
                        Ok(Ok(()))
                    )
                {
                    break;
                }
            }
            db.outage.logged.store(false, Ordering::SeqCst);
            let after_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(after_ms, "database available again");
        };
        tokio::spawn(watch.with_current_subscriber());
    }

    async fn probe(&self) -> Result<(), sqlx::Error> {
        let mut conn = sqlx::AnyConnection::connect(&self.url).await?;
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        conn.close().await
    }

    /// A write that changes nothing: an outage is over when writes work again, not only
    /// reads (a read-only or full SQLite file still answers reads).
    async fn write_probe(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE settings SET updated_at = updated_at WHERE key = 'secret_key_fingerprint'",
        )
        .execute(&self.pool)
        .await
        .map(|_| ())
    }
}
