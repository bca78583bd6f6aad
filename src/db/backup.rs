//! A consistent copy of a SQLite database while the server runs.

use super::{Backend, Db, StoreError};
use std::path::Path;

const ON_POSTGRES: &str =
    "this database is PostgreSQL: back it up with pg_dump (see docs/install.md, Backups)";
const EXISTS: &str = "the backup file already exists: name a new file";

impl Db {
    /// Writes the whole database into `file` with `VACUUM INTO`: one read transaction, so the
    /// copy is consistent while writers go on (copying the file and its WAL by hand is not).
    pub async fn backup_into(&self, file: &Path) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            return Err(StoreError::Invariant(ON_POSTGRES));
        }
        if file.exists() {
            return Err(StoreError::Invariant(EXISTS));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(file.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
