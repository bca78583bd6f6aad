//! Users and what hangs off them (library access, OIDC identity link).

use super::{admin_guard, get_bool, grants, is_unique_violation, AuditEntry, Db, StoreError};
use crate::clock::Millis;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::sync::LazyLock;

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    /// One flag per entry of [`PERMISSION_COLUMNS`], in that order.
    pub permissions: Vec<bool>,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
}

/// The users table's permission flag columns (migration 0001), in the order of the API's
/// permission list (`PERMISSIONS` in the shared domain types). The schema owns these names; a
/// test beside the mapping to API types keeps the two lists in step.
pub const PERMISSION_COLUMNS: [&str; 26] = [
    "permission_upload",
    "permission_download",
    "permission_delete_book",
    "permission_manage_library",
    "permission_email_book",
    "permission_access_bookdrop",
    "permission_access_library_stats",
    "permission_access_user_stats",
    "permission_manage_metadata_config",
    "permission_manage_global_preferences",
    "permission_access_task_manager",
    "permission_manage_icons",
    "permission_manage_fonts",
    "permission_edit_metadata",
    "permission_bulk_auto_fetch_metadata",
    "permission_bulk_custom_fetch_metadata",
    "permission_bulk_edit_metadata",
    "permission_bulk_regenerate_cover",
    "permission_move_organize_files",
    "permission_bulk_lock_unlock_metadata",
    "permission_sync_koreader",
    "permission_sync_kobo",
    "permission_access_opds",
    "permission_bulk_reset_booklore_read_progress",
    "permission_bulk_reset_ko_reader_read_progress",
    "permission_bulk_reset_book_read_status",
];

/// The OIDC identity a user is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLink {
    pub issuer: String,
    pub subject: String,
}

/// A user with what hangs off them: the libraries they may open (every library, for an
/// admin) and their identity link.
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: User,
    pub library_ids: Vec<i64>,
    pub link: Option<IdentityLink>,
}

pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub permissions: Vec<bool>,
}

pub(super) static USER_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let mut cols = vec![
        "id",
        "username",
        "email",
        "name",
        "password_hash",
        "is_admin",
        "created_at",
        "last_login_at",
    ];
    cols.extend(PERMISSION_COLUMNS);
    cols.join(", ")
});

/// [`USER_COLUMNS`] of the users table named `u` in a join; none of them shares its name with
/// a column of `sessions` (nor with the grant columns a join with `app_grants` selects), so
/// [`user_from_row`] reads a joined row as it is.
pub(super) static JOINED_USER_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    USER_COLUMNS
        .split(", ")
        .map(|column| format!("u.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
});

pub(super) fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: get_bool(row, "is_admin")?,
        permissions: PERMISSION_COLUMNS
            .iter()
            .map(|column| get_bool(row, column))
            .collect::<Result<_, _>>()?,
        created_at: row.try_get("created_at")?,
        last_login_at: row.try_get("last_login_at")?,
    })
}

pub(super) async fn insert_user(
    conn: &mut AnyConnection,
    user: &NewUser,
    now: Millis,
) -> Result<User, sqlx::Error> {
    let placeholders: Vec<String> = (0..PERMISSION_COLUMNS.len())
        .map(|i| format!("${}", i + 7))
        .collect();
    let sql = format!(
        "INSERT INTO users (username, email, name, password_hash, is_admin, created_at, updated_at, {}) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, {}) RETURNING {}",
        PERMISSION_COLUMNS.join(", "),
        placeholders.join(", "),
        *USER_COLUMNS
    );
    let mut q = sqlx::query(&sql)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.is_admin)
        .bind(now);
    for i in 0..PERMISSION_COLUMNS.len() {
        q = q.bind(user.permissions.get(i).copied().unwrap_or(false));
    }
    user_from_row(&q.fetch_one(conn).await?)
}

impl Db {
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let sql = format!("SELECT {} FROM users WHERE id = $1", *USER_COLUMNS);
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, sqlx::Error> {
        let sql = format!("SELECT {} FROM users WHERE username = $1", *USER_COLUMNS);
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn record_login(&self, user_id: i64, now: Millis) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A user with library access and identity link. Admins see every library. One query
    /// (`me` and every signed-in page ask it): a row per library, or one without, each with
    /// the link (a user has at most one).
    pub async fn user_view(&self, user: &User) -> Result<UserView, sqlx::Error> {
        let sql = if user.is_admin {
            ADMIN_VIEW_SQL
        } else {
            USER_VIEW_SQL
        };
        let rows = sqlx::query(sql).bind(user.id).fetch_all(&self.pool).await?;
        let mut library_ids = Vec::with_capacity(rows.len());
        let mut link = None;
        for row in &rows {
            if let Some(id) = row.try_get::<Option<i64>, _>("library_id")? {
                library_ids.push(id);
            }
            if let (Some(issuer), Some(subject)) = (row.try_get("issuer")?, row.try_get("subject")?)
            {
                link = Some(IdentityLink { issuer, subject });
            }
        }
        Ok(UserView {
            user: user.clone(),
            library_ids,
            link,
        })
    }
}

/// [`Db::user_view`]'s query for a user (the libraries they were given) and for an admin (every
/// library).
const USER_VIEW_SQL: &str = "SELECT i.issuer, i.subject, l.library_id FROM users u \
     LEFT JOIN oidc_identities i ON i.user_id = u.id \
     LEFT JOIN user_libraries l ON l.user_id = u.id WHERE u.id = $1 ORDER BY l.library_id";
const ADMIN_VIEW_SQL: &str = "SELECT i.issuer, i.subject, l.id AS library_id FROM users u \
     LEFT JOIN oidc_identities i ON i.user_id = u.id \
     LEFT JOIN libraries l ON 1 = 1 WHERE u.id = $1 ORDER BY l.id";

/// What an admin edit changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub name: Option<String>,
    pub is_admin: Option<bool>,
    pub permissions: Option<Vec<bool>>,
    pub library_ids: Option<Vec<i64>>,
    /// `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
}

impl UserChanges {
    /// The API names of the fields this edit touches, for the audit log.
    pub fn field_names(&self) -> Vec<&'static str> {
        [
            (self.email.is_some(), "email"),
            (self.name.is_some(), "name"),
            (self.is_admin.is_some(), "isAdmin"),
            (self.permissions.is_some(), "permissions"),
            (self.library_ids.is_some(), "libraryIds"),
            (self.password_hash.is_some(), "password"),
        ]
        .into_iter()
        .filter_map(|(changed, name)| changed.then_some(name))
        .collect()
    }
}

fn email_conflict(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        if e.to_string().contains("email") {
            StoreError::Conflict("email", "This email address belongs to another user.")
        } else {
            StoreError::Conflict("username", "A user with this username already exists.")
        }
    } else {
        StoreError::Db(e)
    }
}

pub(super) async fn set_libraries(
    conn: &mut AnyConnection,
    user_id: i64,
    library_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_libraries WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let mut ids = library_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        sqlx::query("INSERT INTO user_libraries (user_id, library_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Db {
    /// Every user with library access and identity link, in three queries whatever their
    /// number.
    pub async fn user_views(&self) -> Result<Vec<UserView>, sqlx::Error> {
        let sql = format!("SELECT {} FROM users ORDER BY username", *USER_COLUMNS);
        let users: Vec<User> = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()?;
        let all_libraries: Vec<i64> = sqlx::query_scalar("SELECT id FROM libraries ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let access =
            sqlx::query("SELECT user_id, library_id FROM user_libraries ORDER BY library_id")
                .fetch_all(&self.pool)
                .await?;
        let links = sqlx::query("SELECT user_id, issuer, subject FROM oidc_identities")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let library_ids = if user.is_admin {
                all_libraries.clone()
            } else {
                access
                    .iter()
                    .filter(|r| r.try_get::<i64, _>("user_id").ok() == Some(user.id))
                    .map(|r| r.try_get::<i64, _>("library_id"))
                    .collect::<Result<_, _>>()?
            };
            let link = links
                .iter()
                .find(|r| r.try_get::<i64, _>("user_id").ok() == Some(user.id))
                .map(|r| -> Result<_, sqlx::Error> {
                    Ok(IdentityLink {
                        issuer: r.try_get("issuer")?,
                        subject: r.try_get("subject")?,
                    })
                })
                .transpose()?;
            out.push(UserView {
                user,
                library_ids,
                link,
            });
        }
        Ok(out)
    }

    pub async fn create_user(
        &self,
        user: &NewUser,
        library_ids: &[i64],
        now: Millis,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A user created before first-run setup (by the recovery command) completes it: the
        // server is then set up and /setup must not ask for another admin.
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ('setup_completed', 'true', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let created = insert_user(&mut tx, user, now)
            .await
            .map_err(email_conflict)?;
        set_libraries(&mut tx, created.id, library_ids).await?;
        audit
            .target(created.id)
            .detail("username", created.username.as_str())
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Applies an edit, refusing it when it would break an admin invariant.
    pub async fn update_user(
        &self,
        id: i64,
        changes: &UserChanges,
        now: Millis,
        force_disabled: bool,
        keep_session: Option<&str>,
        audit: AuditEntry,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        admin_guard::lock(&mut tx, now).await?;
        let mut sets = vec!["updated_at = $1".to_owned()];
        let mut next = 2;
        let mut placeholder = |col: &str| {
            let s = format!("{col} = ${next}");
            next += 1;
            s
        };
        if changes.email.is_some() {
            sets.push(placeholder("email"));
        }
        if changes.name.is_some() {
            sets.push(placeholder("name"));
        }
        if changes.is_admin.is_some() {
            sets.push(placeholder("is_admin"));
        }
        if changes.password_hash.is_some() {
            sets.push(placeholder("password_hash"));
        }
        if changes.permissions.is_some() {
            for column in PERMISSION_COLUMNS {
                sets.push(placeholder(column));
            }
        }
        let sql = format!(
            "UPDATE users SET {} WHERE id = ${next} RETURNING {}",
            sets.join(", "),
            *USER_COLUMNS
        );
        let mut q = sqlx::query(&sql).bind(now);
        if let Some(email) = &changes.email {
            q = q.bind(email.clone());
        }
        if let Some(name) = &changes.name {
            q = q.bind(name.clone());
        }
        if let Some(is_admin) = changes.is_admin {
            q = q.bind(is_admin);
        }
        if let Some(hash) = &changes.password_hash {
            q = q.bind(hash.clone());
        }
        if let Some(perms) = &changes.permissions {
            for i in 0..PERMISSION_COLUMNS.len() {
                q = q.bind(perms.get(i).copied().unwrap_or(false));
            }
        }
        let row = q
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(email_conflict)?
            .ok_or(StoreError::NotFound)?;
        let user = user_from_row(&row)?;
        if let Some(ids) = &changes.library_ids {
            set_libraries(&mut tx, id, ids).await?;
        }
        admin_guard::verify(&mut tx, force_disabled).await?;
        if changes.password_hash.is_some() {
            // A new or removed password ends the user's sessions everywhere, except the one
            // the user changed their own password in.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(id)
                .bind(keep_session.unwrap_or(""))
                .execute(&mut *tx)
                .await?;
        }
        audit
            .target(id)
            .detail("fields", changes.field_names())
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn delete_user(
        &self,
        id: i64,
        now: Millis,
        force_disabled: bool,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        admin_guard::lock(&mut tx, now).await?;
        // The grants go with the user (a cascade), each with its audit entry.
        let (which, reason) = (grants::Which::AllOf(id), "user_deleted");
        grants::revoke_in(&mut tx, which, reason, audit.by(), now).await?;
        for table in ["sessions", "user_libraries", "oidc_identities"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let username: Option<String> =
            sqlx::query_scalar("DELETE FROM users WHERE id = $1 RETURNING username")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let username = username.ok_or(StoreError::NotFound)?;
        admin_guard::verify(&mut tx, force_disabled).await?;
        audit
            .target(id)
            .detail("username", username)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a user's OIDC identity link and ends the sessions signed in through it, which
    /// would otherwise live on, refresh, and re-sync groups into the account. Returns the
    /// link that was removed.
    pub async fn unlink_oidc(
        &self,
        id: i64,
        now: Millis,
        force_disabled: bool,
        audit: AuditEntry,
    ) -> Result<IdentityLink, StoreError> {
        let mut tx = self.pool.begin().await?;
        admin_guard::lock(&mut tx, now).await?;
        let row =
            sqlx::query("DELETE FROM oidc_identities WHERE user_id = $1 RETURNING issuer, subject")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let link = IdentityLink {
            issuer: row.try_get("issuer")?,
            subject: row.try_get("subject")?,
        };
        // Every OIDC session of the user, by user id: a user has one link at most, and
        // sessions from before "Move existing links" still name the old issuer.
        let ended =
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND oidc_subject IS NOT NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        // And every grant approved through a provider sign-in, for the same reasons.
        let which = grants::Which::ApprovedThroughProvider(id);
        let revoked = grants::revoke_in(&mut tx, which, "unlinked", audit.by(), now).await?;
        admin_guard::verify(&mut tx, force_disabled).await?;
        audit
            .target(id)
            .detail("grantsRevoked", revoked.len())
            .detail("issuer", link.issuer.as_str())
            .detail("subject", link.subject.as_str())
            .detail("sessionsEnded", ended)
            .insert(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(link)
    }
}

impl Db {
    pub async fn admins_with_password(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE is_admin = $1 AND password_hash IS NOT NULL",
        )
        .bind(true)
        .fetch_one(&self.pool)
        .await
    }
}
