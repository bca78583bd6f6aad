//! The database: one pool chosen by URL scheme (SQLite or PostgreSQL), migrations, and the
//! stores. Queries are written once in the SQL both engines accept (`$n` placeholders,
//! `RETURNING`, BIGINT milliseconds) and run through sqlx's `Any` driver.

pub mod admin_guard;
mod audit;
mod backup;
pub mod device_codes;
pub mod grants;
mod health;
mod libraries;
pub mod mobile_states;
pub mod oidc;
pub mod oidc_users;
pub mod pending_logins;
mod rate_limits;
pub mod sealed;
mod sessions;
mod settings;
pub mod setup;
pub mod sign_in_trials;
mod users;

pub use audit::{AuditEntry, AuditEvent, AuditFilter, AuditRow};
pub use libraries::Library;
pub use oidc::GroupMapping;
pub use sessions::{Ended, NewSession, OidcSession, RefreshLease, RefreshResult, SessionRecord};
pub use users::{IdentityLink, NewUser, User, UserChanges, UserView, PERMISSION_COLUMNS};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Row};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// For the health probe's own connections.
    url: Arc<str>,
    outage: Arc<health::Outage>,
    /// Setup, once completed, stays completed: after this replica has seen it, every page and
    /// the setup status skip the question.
    setup_seen: Arc<AtomicBool>,
}

const MAX_ACQUIRE_WAIT: Duration = Duration::from_secs(30);

/// 512 KiB per connection (a negative size counts KiB).
const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -512";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Connects and brings the schema up to date. Migration failures stop start-up.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            // The last bound on a wait for a connection. A database that does not answer is
            // found out sooner, by `http::unavailable`; until then a busy pool is waited for.
            .acquire_timeout(MAX_ACQUIRE_WAIT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        // Each connection keeps its own page cache (2 MiB by default), filled as
                        // the audit log grows; the operating system caches the file anyway, so
                        // a small one keeps the server's memory flat at little cost.
                        sqlx::query(SQLITE_CACHE_PRAGMA).execute(conn).await?;
                    }
                    Ok(())
                })
            })
            // A failed COMMIT on SQLite (a full disk) may roll the transaction back by itself;
            // sqlx's ROLLBACK then fails too and it goes on counting a transaction that no
            // longer exists, so the connection's next "transaction" would be a savepoint that
            // never commits: saved work answered as saved, then lost. Such a connection is
            // closed instead of reused.
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers go on while one writer commits; the setting sticks to the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            url: Arc::from(url),
            outage: Arc::default(),
            setup_seen: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Reads a boolean column whatever the engine reports it as (SQLite keeps booleans as integers).
fn get_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    row.try_get::<bool, _>(column)
        .or_else(|_| row.try_get::<i64, _>(column).map(|v| v != 0))
}

/// Whether an error means the database cannot serve the request right now, rather than that
/// the request or the code is wrong: no connection within the acquire timeout, a connection
/// lost, or (SQLite) a file that is read-only, on a full disk, or locked; (PostgreSQL) the
/// server shutting down, out of resources, or read-only.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The primary code is the low byte of SQLite's extended code.
                let primary = d
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                // BUSY, READONLY, IOERR, FULL, CANTOPEN.
                return matches!(primary, Some(5 | 8 | 10 | 13 | 14));
            }
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                // Connection exceptions, insufficient resources (disk full), operator
                // intervention (shutdown), read-only transaction (a standby).
                return code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "25006";
            }
            false
        }
        _ => false,
    }
}

/// Whether an error is a unique-constraint violation (a lost race or a duplicate).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Why a store refused a change; the HTTP layer turns each into its status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique value already taken: the field and the message for it.
    #[error("{1}")]
    Conflict(&'static str, &'static str),
    /// An admin invariant would break; the message says which.
    #[error("{0}")]
    Invariant(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
