//! Whether the database answers: the health check's quick ping, and the outage the log reports
//! once when it begins and once when it ends, not once per failed request.

use super::Db;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::instrument::WithSubscriber;

/// How long the health check waits for the database: within the second a probe is usually
/// given, and apart from the requests' acquire timeout, so a probe answers even while requests
/// queue for connections.
pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(600);
/// How often an outage is checked for its end.
const RECHECK: Duration = Duration::from_millis(500);

#[derive(Default)]
pub(super) struct Outage {
    down: AtomicBool,
}

impl Db {
    /// Whether the database answers a query within [`HEALTH_TIMEOUT`].
    pub async fn answers(&self) -> bool {
        let answered = matches!(
            tokio::time::timeout(HEALTH_TIMEOUT, self.ping()).await,
            Ok(Ok(()))
        );
        if !answered {
            self.outage_began();
        }
        answered
    }

    /// Notes that the database could not serve a request. The first note of an outage logs a
    /// warning and watches for its end, which it logs too; the others do nothing.
    pub fn outage_began(&self) {
        if self.outage.down.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!("database unavailable: answering 503 until it is back");
        let db = self.clone();
        let began = Instant::now();
        // Its end is logged where its beginning was (the same subscriber).
        let watch = async move {
            loop {
                tokio::time::sleep(RECHECK).await;
                if matches!(
                    tokio::time::timeout(HEALTH_TIMEOUT, db.write_probe()).await,
                    Ok(Ok(()))
                ) {
                    break;
                }
            }
            db.outage.down.store(false, Ordering::SeqCst);
            let after_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(after_ms, "database available again");
        };
        tokio::spawn(watch.with_current_subscriber());
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
