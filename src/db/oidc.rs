//! OIDC settings (one JSON document), the sealed client secret, and group mappings.

use super::{admin_guard, get_bool, is_unique_violation, AuditEntry, Db, StoreError};
use crate::clock::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

const SETTINGS_KEY: &str = "oidc";
pub(super) const SECRET_KEY: &str = "oidc_client_secret";
/// The origin the redirect URIs are built on when no public URL is configured.
const REDIRECT_ORIGIN_KEY: &str = "oidc_redirect_origin";

/// Which provider group grants admin, permissions (by their API names) and libraries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMapping {
    pub id: i64,
    pub group_claim: String,
    pub description: String,
    pub is_admin: bool,
    pub permissions: Vec<String>,
    pub library_ids: Vec<i64>,
}

/// What to do with the stored client secret when saving settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretChange {
    Keep,
    Clear,
    /// The new secret, already sealed.
    Replace(String),
}

/// What one save of the settings writes.
pub struct SettingsWrite<'a> {
    /// The settings document.
    pub json: &'a str,
    pub secret: &'a SecretChange,
    /// The new origin of the redirect URIs, when it changes.
    pub redirect_origin: Option<&'a str>,
}

impl Db {
    /// The settings document as stored, if ever saved.
    pub async fn oidc_settings_json(&self) -> Result<Option<String>, sqlx::Error> {
        self.setting(SETTINGS_KEY).await
    }

    /// The sealed client secret, if any.
    pub async fn oidc_client_secret(&self) -> Result<Option<String>, sqlx::Error> {
        self.setting(SECRET_KEY).await
    }

    /// The origin fixed by the last save of the settings, if any.
    pub async fn oidc_redirect_origin(&self) -> Result<Option<String>, sqlx::Error> {
        self.setting(REDIRECT_ORIGIN_KEY).await
    }

    /// Saves the settings, the secret and the redirect origin (when given) in one transaction.
    /// The admin invariants are checked against the saved state, so turning OIDC-only mode on
    /// can never leave no admin able to sign in locally.
    pub async fn save_oidc_settings(
        &self,
        write: SettingsWrite<'_>,
        move_links: Option<&(String, String)>,
        now: Millis,
        force_disabled: bool,
        audits: Vec<AuditEntry>,
    ) -> Result<(), StoreError> {
        let SettingsWrite {
            json,
            secret,
            redirect_origin,
        } = write;
        let mut tx = self.pool.begin().await?;
        admin_guard::lock(&mut tx, now).await?;
        let upsert = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        sqlx::query(upsert)
            .bind(SETTINGS_KEY)
            .bind(json)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(origin) = redirect_origin {
            sqlx::query(upsert)
                .bind(REDIRECT_ORIGIN_KEY)
                .bind(origin)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        match secret {
            SecretChange::Keep => {}
            SecretChange::Clear => {
                sqlx::query("DELETE FROM settings WHERE key = $1")
                    .bind(SECRET_KEY)
                    .execute(&mut *tx)
                    .await?;
            }
            SecretChange::Replace(sealed) => {
                sqlx::query(upsert)
                    .bind(SECRET_KEY)
                    .bind(sealed)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some((from, to)) = move_links {
            let clashes: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM oidc_identities a JOIN oidc_identities b ON a.subject = b.subject \
                 WHERE a.issuer = $1 AND b.issuer = $2",
            )
            .bind(from)
            .bind(to)
            .fetch_one(&mut *tx)
            .await?;
            if clashes > 0 {
                return Err(StoreError::Conflict(
                    "issuerUri",
                    "Some identities are already linked at the new issuer: the links were not moved.",
                ));
            }
            sqlx::query("UPDATE oidc_identities SET issuer = $1 WHERE issuer = $2")
                .bind(to)
                .bind(from)
                .execute(&mut *tx)
                .await?;
        }
        admin_guard::verify(&mut tx, force_disabled).await?;
        for audit in audits {
            audit.insert(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn group_mappings(&self) -> Result<Vec<GroupMapping>, sqlx::Error> {
        let rows = sqlx::query("SELECT id, group_claim, description, is_admin, permissions, library_ids FROM oidc_group_mappings ORDER BY group_claim")
            .fetch_all(&self.pool)
            .await?;
        let known: Vec<i64> = sqlx::query_scalar("SELECT id FROM libraries")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| mapping_from_row(r, &known)).collect()
    }

    pub async fn save_group_mapping(
        &self,
        id: Option<i64>,
        m: &GroupMapping,
        now: Millis,
        audit: AuditEntry,
    ) -> Result<GroupMapping, StoreError> {
        let mut tx = self.pool.begin().await?;
        let permissions = serde_json::to_string(&m.permissions).unwrap_or_else(|_| "[]".to_owned());
        let libraries = serde_json::to_string(&m.library_ids).unwrap_or_else(|_| "[]".to_owned());
        let query = match id {
            None => sqlx::query(
                "INSERT INTO oidc_group_mappings (group_claim, description, is_admin, permissions, library_ids, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&m.group_claim)
            .bind(&m.description)
            .bind(m.is_admin)
            .bind(&permissions)
            .bind(&libraries)
            .bind(now),
            Some(id) => sqlx::query(
                "UPDATE oidc_group_mappings SET group_claim = $1, description = $2, is_admin = $3, permissions = $4, library_ids = $5 \
                 WHERE id = $6 RETURNING id",
            )
            .bind(&m.group_claim)
            .bind(&m.description)
            .bind(m.is_admin)
            .bind(&permissions)
            .bind(&libraries)
            .bind(id),
        };
        let row = query
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("groupClaim", "A mapping for this group already exists.")
                } else {
                    StoreError::Db(e)
                }
            })?
            .ok_or(StoreError::NotFound)?;
        let saved = GroupMapping {
            id: row.try_get("id")?,
            ..m.clone()
        };
        audit
            .detail("mappingId", saved.id)
            .detail("groupClaim", saved.group_claim.as_str())
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(saved)
    }

    pub async fn delete_group_mapping(&self, id: i64, audit: AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let claim: Option<String> = sqlx::query_scalar(
            "DELETE FROM oidc_group_mappings WHERE id = $1 RETURNING group_claim",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let claim = claim.ok_or(StoreError::NotFound)?;
        audit
            .detail("mappingId", id)
            .detail("groupClaim", claim)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn mapping_from_row(row: &AnyRow, known_libraries: &[i64]) -> Result<GroupMapping, sqlx::Error> {
    let permissions: String = row.try_get("permissions")?;
    let libraries: String = row.try_get("library_ids")?;
    let library_ids: Vec<i64> = serde_json::from_str(&libraries).unwrap_or_default();
    Ok(GroupMapping {
        id: row.try_get("id")?,
        group_claim: row.try_get("group_claim")?,
        description: row.try_get("description")?,
        is_admin: get_bool(row, "is_admin")?,
        permissions: serde_json::from_str(&permissions).unwrap_or_default(),
        library_ids: library_ids
            .into_iter()
            .filter(|id| known_libraries.contains(id))
            .collect(),
    })
}

impl Db {
    /// How many users are linked to an identity at `issuer`.
    pub async fn identities_at(&self, issuer: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM oidc_identities WHERE issuer = $1")
            .bind(issuer)
            .fetch_one(&self.pool)
            .await
    }
}
