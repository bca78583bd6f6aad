//! Libraries and who may open them.

use super::{is_unique_violation, AuditEntry, Db, StoreError};
use crate::clock::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    pub id: i64,
    pub name: String,
}

fn library_from_row(row: &AnyRow) -> Result<Library, sqlx::Error> {
    Ok(Library {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
    })
}

impl Db {
    pub async fn libraries(&self) -> Result<Vec<Library>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, name FROM libraries ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(library_from_row).collect()
    }

    /// The libraries `user_id` may open; admins see every library.
    pub async fn libraries_of(
        &self,
        user_id: i64,
        is_admin: bool,
    ) -> Result<Vec<Library>, sqlx::Error> {
        if is_admin {
            return self.libraries().await;
        }
        let rows = sqlx::query(
            "SELECT l.id, l.name FROM libraries l JOIN user_libraries ul ON ul.library_id = l.id \
             WHERE ul.user_id = $1 ORDER BY l.name, l.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(library_from_row).collect()
    }

    /// Which of `ids` do not name a library.
    pub async fn unknown_library_ids(&self, ids: &[i64]) -> Result<Vec<i64>, sqlx::Error> {
        let known: Vec<i64> = sqlx::query_scalar("SELECT id FROM libraries")
            .fetch_all(&self.pool)
            .await?;
        Ok(ids
            .iter()
            .copied()
            .filter(|id| !known.contains(id))
            .collect())
    }

    pub async fn create_library(
        &self,
        name: &str,
        now: Millis,
        audit: AuditEntry,
    ) -> Result<Library, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO libraries (name, created_at) VALUES ($1, $2) RETURNING id, name",
        )
        .bind(name)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(conflict_on_name)?;
        let library = library_from_row(&row)?;
        audit
            .detail("libraryId", library.id)
            .detail("name", name)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(library)
    }

    pub async fn rename_library(
        &self,
        id: i64,
        name: &str,
        audit: AuditEntry,
    ) -> Result<Library, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("UPDATE libraries SET name = $1 WHERE id = $2 RETURNING id, name")
            .bind(name)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(conflict_on_name)?
            .ok_or(StoreError::NotFound)?;
        let library = library_from_row(&row)?;
        audit
            .detail("libraryId", id)
            .detail("name", name)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(library)
    }

    /// Deletes a library; access rows go with it (foreign keys cascade).
    pub async fn delete_library(&self, id: i64, audit: AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM user_libraries WHERE library_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let name: Option<String> =
            sqlx::query_scalar("DELETE FROM libraries WHERE id = $1 RETURNING name")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let name = name.ok_or(StoreError::NotFound)?;
        audit
            .detail("libraryId", id)
            .detail("name", name)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn conflict_on_name(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict("name", "A library with this name already exists.")
    } else {
        StoreError::Db(e)
    }
}
