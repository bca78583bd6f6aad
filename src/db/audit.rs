//! The audit log (spec section 8). Entries never hold a password, secret or token: the
//! details are built by the callers from names and ids only.

use super::Db;
use crate::clock::Millis;
use serde_json::Value;
use sqlx::{AnyConnection, Row};

macro_rules! audit_events {
    ($($variant:ident => $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum AuditEvent {
            $($variant,)*
        }

        impl AuditEvent {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

audit_events! {
    SetupCompleted => "SETUP_COMPLETED",
    LoginSuccess => "LOGIN_SUCCESS",
    LoginFailed => "LOGIN_FAILED",
    Logout => "LOGOUT",
    UserCreated => "USER_CREATED",
    UserUpdated => "USER_UPDATED",
    UserDeleted => "USER_DELETED",
    LibraryCreated => "LIBRARY_CREATED",
    LibraryUpdated => "LIBRARY_UPDATED",
    LibraryDeleted => "LIBRARY_DELETED",
    OidcAccountUnlinked => "OIDC_ACCOUNT_UNLINKED",
    OidcConfigChanged => "OIDC_CONFIG_CHANGED",
    OidcForceOnlyModeChanged => "OIDC_FORCE_ONLY_MODE_CHANGED",
    OidcConnectionTest => "OIDC_CONNECTION_TEST",
    OidcTestSignIn => "OIDC_TEST_SIGN_IN",
    OidcGroupMappingCreated => "OIDC_GROUP_MAPPING_CREATED",
    OidcGroupMappingUpdated => "OIDC_GROUP_MAPPING_UPDATED",
    OidcGroupMappingDeleted => "OIDC_GROUP_MAPPING_DELETED",
    OidcLoginSuccess => "OIDC_LOGIN_SUCCESS",
    OidcLoginFailed => "OIDC_LOGIN_FAILED",
    OidcUserProvisioned => "OIDC_USER_PROVISIONED",
    OidcAccountLinked => "OIDC_ACCOUNT_LINKED",
    PermissionsSynced => "PERMISSIONS_SYNCED",
    SyncRefused => "SYNC_REFUSED",
    OidcLinksMoved => "OIDC_LINKS_MOVED",
    BackchannelLogout => "BACKCHANNEL_LOGOUT",
    SessionRefreshFailed => "SESSION_REFRESH_FAILED",
    GrantCreated => "GRANT_CREATED",
    GrantRevoked => "GRANT_REVOKED",
    DeviceCodeDenied => "DEVICE_CODE_DENIED",
}

pub struct AuditEntry {
    event: AuditEvent,
    at: Millis,
    actor: Option<i64>,
    target: Option<i64>,
    ip: Option<String>,
    details: Value,
}

impl AuditEntry {
    pub fn new(event: AuditEvent, at: Millis) -> Self {
        Self {
            event,
            at,
            actor: None,
            target: None,
            ip: None,
            details: Value::Object(Default::default()),
        }
    }

    /// Who made the change and from where, for the entries a change brings along.
    pub(super) fn by(&self) -> super::grants::By<'_> {
        super::grants::By {
            actor: self.actor,
            ip: self.ip.as_deref(),
        }
    }

    pub fn is(&self, event: AuditEvent) -> bool {
        self.event == event
    }

    pub fn actor(mut self, id: i64) -> Self {
        self.actor = Some(id);
        self
    }

    pub fn target(mut self, id: i64) -> Self {
        self.target = Some(id);
        self
    }

    pub fn ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.to_owned());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value.into());
        }
        self
    }

    pub async fn insert(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, actor_user_id, target_user_id, client_ip, details) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.at)
        .bind(self.event.as_str())
        .bind(self.actor)
        .bind(self.target)
        .bind(&self.ip)
        .bind(self.details.to_string())
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// One stored audit log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub at: Millis,
    pub event: String,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub client_ip: Option<String>,
    pub details: Value,
}

/// Which entries to list: newest first, optionally one event, one user (as actor or target),
/// and only entries older than the id `before` (for paging).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub event: Option<String>,
    pub user: Option<i64>,
    pub before: Option<i64>,
    pub limit: i64,
}

impl Db {
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        entry.insert(&mut conn).await
    }

    /// Newest first.
    pub async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, sqlx::Error> {
        // Absent filters are bound as NULL and match everything, so there is one statement.
        let rows = sqlx::query(
            "SELECT id, at, event, actor_user_id, target_user_id, client_ip, details FROM audit_log \
             WHERE (CAST($1 AS TEXT) IS NULL OR event = $1) \
             AND (CAST($2 AS BIGINT) IS NULL OR actor_user_id = $2 OR target_user_id = $2) \
             AND (CAST($3 AS BIGINT) IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(filter.event.clone())
        .bind(filter.user)
        .bind(filter.before)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(AuditRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    event: r.try_get("event")?,
                    actor_user_id: r.try_get("actor_user_id")?,
                    target_user_id: r.try_get("target_user_id")?,
                    client_ip: r.try_get("client_ip")?,
                    details: serde_json::from_str(&details).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}
