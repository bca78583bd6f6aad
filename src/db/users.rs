//! Users and what hangs off them (library access, OIDC identity link).

use super::{get_bool, Db};
use crate::clock::{rfc3339, Millis};
use app::domain::{OidcLinkDto, UserDto, PERMISSIONS};
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
    /// One flag per entry of [`PERMISSIONS`], in that order.
    pub permissions: Vec<bool>,
    pub created_at: Millis,
    pub last_login_at: Option<Millis>,
}

pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub permissions: Vec<bool>,
}

static USER_COLUMNS: LazyLock<String> = LazyLock::new(|| {
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
    cols.extend(PERMISSIONS.iter().map(|p| p.column));
    cols.join(", ")
});

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: get_bool(row, "is_admin")?,
        permissions: PERMISSIONS
            .iter()
            .map(|p| get_bool(row, p.column))
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
    let perm_cols: Vec<&str> = PERMISSIONS.iter().map(|p| p.column).collect();
    let placeholders: Vec<String> = (0..perm_cols.len())
        .map(|i| format!("${}", i + 7))
        .collect();
    let sql = format!(
        "INSERT INTO users (username, email, name, password_hash, is_admin, created_at, updated_at, {}) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, {}) RETURNING {}",
        perm_cols.join(", "),
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
    for i in 0..PERMISSIONS.len() {
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

    /// The API shape of a user: with library access and identity link. Admins see every
    /// library and hold every permission.
    pub async fn user_dto(&self, user: &User) -> Result<UserDto, sqlx::Error> {
        let library_ids: Vec<i64> = if user.is_admin {
            sqlx::query_scalar("SELECT id FROM libraries ORDER BY id")
                .fetch_all(&self.pool)
                .await?
        } else {
            sqlx::query_scalar(
                "SELECT library_id FROM user_libraries WHERE user_id = $1 ORDER BY library_id",
            )
            .bind(user.id)
            .fetch_all(&self.pool)
            .await?
        };
        let link = sqlx::query("SELECT issuer, subject FROM oidc_identities WHERE user_id = $1")
            .bind(user.id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| -> Result<_, sqlx::Error> {
                Ok(OidcLinkDto {
                    issuer: row.try_get("issuer")?,
                    subject: row.try_get("subject")?,
                })
            })
            .transpose()?;
        Ok(UserDto {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            is_admin: user.is_admin,
            has_password: user.password_hash.is_some(),
            oidc_link: link,
            permissions: PERMISSIONS
                .iter()
                .zip(&user.permissions)
                .map(|(p, granted)| (p.key.to_owned(), user.is_admin || *granted))
                .collect(),
            library_ids,
            created_at: rfc3339(user.created_at),
            last_login_at: user.last_login_at.map(rfc3339),
        })
    }
}
