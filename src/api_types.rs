//! Store types to the API's JSON shapes (`app::domain`), in one place. The stores answer what
//! the database holds; what the API shows of it (RFC 3339 times, permissions by name, an
//! admin holding every permission) is decided here.

use crate::clock::rfc3339;
use crate::db::grants::Grant;
use crate::db::{AuditRow, GroupMapping, IdentityLink, Library, UserView};
use app::domain::{
    AuditEntryDto, GrantDto, GroupMappingDto, LibraryDto, OidcLinkDto, UserDto, PERMISSIONS,
};

/// Admins hold every permission, and the API shows them so.
impl From<UserView> for UserDto {
    fn from(view: UserView) -> Self {
        let UserView {
            user,
            library_ids,
            link,
        } = view;
        Self {
            permissions: PERMISSIONS
                .iter()
                .zip(&user.permissions)
                .map(|(p, granted)| (p.key.to_owned(), user.is_admin || *granted))
                .collect(),
            id: user.id,
            username: user.username,
            email: user.email,
            name: user.name,
            is_admin: user.is_admin,
            has_password: user.password_hash.is_some(),
            oidc_link: link.map(OidcLinkDto::from),
            library_ids,
            created_at: rfc3339(user.created_at),
            last_login_at: user.last_login_at.map(rfc3339),
        }
    }
}

impl From<IdentityLink> for OidcLinkDto {
    fn from(link: IdentityLink) -> Self {
        Self {
            issuer: link.issuer,
            subject: link.subject,
        }
    }
}

impl From<Library> for LibraryDto {
    fn from(library: Library) -> Self {
        Self {
            id: library.id,
            name: library.name,
        }
    }
}

impl From<GroupMapping> for GroupMappingDto {
    fn from(m: GroupMapping) -> Self {
        Self {
            id: m.id,
            group_claim: m.group_claim,
            description: m.description,
            is_admin: m.is_admin,
            permissions: m.permissions,
            library_ids: m.library_ids,
        }
    }
}

impl From<AuditRow> for AuditEntryDto {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: rfc3339(row.at),
            event: row.event,
            actor_user_id: row.actor_user_id,
            target_user_id: row.target_user_id,
            client_ip: row.client_ip,
            details: row.details,
        }
    }
}

/// The grant's secrets and provider tokens never leave the store; `viaOidc` says whether it
/// was approved through a provider sign-in.
impl From<Grant> for GrantDto {
    fn from(g: Grant) -> Self {
        Self {
            id: g.id,
            via_oidc: g.oidc_subject.is_some(),
            kind: g.kind,
            name: g.name,
            scope: g.scope,
            created_at: rfc3339(g.created_at),
            last_used_at: g.last_used_at.map(rfc3339),
            last_used_ip: g.last_used_ip,
        }
    }
}

/// Maps a list of store values to their API shapes.
pub fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::PERMISSION_COLUMNS;

    /// The store reads and writes flags by column, the API names them by key, and both lists
    /// are matched by position: a column is the snake_case of the key at its index.
    #[test]
    fn each_permission_column_is_the_snake_case_of_its_api_name() {
        assert_eq!(PERMISSION_COLUMNS.len(), PERMISSIONS.len());
        for (column, p) in PERMISSION_COLUMNS.iter().zip(PERMISSIONS) {
            let mut snake = String::new();
            for c in p.key.chars() {
                if c.is_ascii_uppercase() {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(*column, snake, "{}", p.key);
        }
    }
}
