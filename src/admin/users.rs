use super::Actor;
use crate::auth::password;
use crate::db::{AuditEntry, AuditEvent, NewUser, User, UserChanges};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use crate::validation::{self, Fields};
use app::domain::{CreateUserRequest, UpdateUserRequest, UserDto, PERMISSIONS};
use std::collections::BTreeMap;

/// The 26 flags from a `{name: bool}` map over `base`; unknown names are refused.
fn permission_flags(map: &BTreeMap<String, bool>, base: &[bool], fields: &mut Fields) -> Vec<bool> {
    if let Some(unknown) = map
        .keys()
        .find(|k| !PERMISSIONS.iter().any(|p| p.key == k.as_str()))
    {
        fields.add("permissions", &format!("Unknown permission: {unknown}."));
    }
    PERMISSIONS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            map.get(p.key)
                .copied()
                .unwrap_or(base.get(i).copied().unwrap_or(false))
        })
        .collect()
}

async fn check_libraries(state: &Services, ids: &[i64], fields: &mut Fields) -> AppResult<()> {
    let unknown = state.db.unknown_library_ids(ids).await?;
    if let Some(id) = unknown.first() {
        fields.add("libraryIds", &format!("Unknown library: {id}."));
    }
    Ok(())
}

async fn dto_of(state: &Services, user: &User) -> AppResult<UserDto> {
    Ok(state.db.user_view(user).await?.into())
}

async fn existing(state: &Services, id: i64) -> AppResult<User> {
    state
        .db
        .user_by_id(id)
        .await?
        .ok_or_else(|| AppError::NotFound("No such user.".to_owned()))
}

pub async fn get(state: &Services, id: i64) -> AppResult<UserDto> {
    dto_of(state, &existing(state, id).await?).await
}

pub async fn create(state: &Services, by: Actor<'_>, req: CreateUserRequest) -> AppResult<UserDto> {
    let mut fields = Fields::new();
    let names = validation::new_user_names(
        &mut fields,
        req.username.as_deref(),
        req.email.as_deref(),
        req.name.as_deref(),
    );
    let password = match req.password.as_deref() {
        None | Some("") => None,
        given => validation::new_password(given)
            .map_err(|m| fields.add("password", m))
            .ok(),
    };
    let permissions = permission_flags(&req.permissions.unwrap_or_default(), &[], &mut fields);
    let library_ids = req.library_ids.unwrap_or_default();
    check_libraries(state, &library_ids, &mut fields).await?;
    fields.finish()?;
    let names = names.ok_or_else(|| AppError::internal("validated fields missing"))?;
    let password_hash = match password {
        Some(p) => Some(password::hash(p).await?),
        None => None,
    };
    let new = NewUser {
        username: names.username,
        email: names.email,
        name: names.name,
        password_hash,
        is_admin: req.is_admin.unwrap_or(false),
        permissions,
    };
    let now = state.clock.now();
    let audit = by.audit(AuditEvent::UserCreated, now);
    let user = state.db.create_user(&new, &library_ids, now, audit).await?;
    dto_of(state, &user).await
}

/// Applies an admin's edit. `actor_session` is the editing admin's session, kept when they
/// change their own password (their other sessions end, like everyone's).
pub async fn update(
    state: &Services,
    by: Actor<'_>,
    actor_session: Option<&str>,
    id: i64,
    req: UpdateUserRequest,
) -> AppResult<UserDto> {
    let current = existing(state, id).await?;
    let mut fields = Fields::new();
    let mut changes = UserChanges {
        is_admin: req.is_admin,
        ..UserChanges::default()
    };
    if let Some(email) = &req.email {
        changes.email = validation::email(email.as_deref())
            .map_err(|m| fields.add("email", m))
            .ok();
    }
    if let Some(name) = &req.name {
        changes.name = validation::display_name(Some(name), &current.username)
            .map_err(|m| fields.add("name", m))
            .ok();
    }
    // Admins hold every permission and library implicitly, and the API shows them so; what an
    // admin's edit sends back for those is that view, not a choice, so it is not stored.
    let stays_admin = req.is_admin.unwrap_or(current.is_admin);
    if let Some(map) = req.permissions.as_ref().filter(|_| !stays_admin) {
        changes.permissions = Some(permission_flags(map, &current.permissions, &mut fields));
    }
    if let Some(ids) = req.library_ids.as_ref().filter(|_| !stays_admin) {
        check_libraries(state, ids, &mut fields).await?;
        changes.library_ids = Some(ids.clone());
    }
    let new_password: Option<Option<String>> = match req.password {
        None => None,
        Some(None) => Some(None),
        // An untouched password field in a form: keep the password.
        Some(Some(p)) if p.is_empty() => None,
        Some(Some(p)) => validation::new_password(Some(&p))
            .map_err(|m| fields.add("password", m))
            .ok()
            .map(Some),
    };
    fields.finish()?;
    if let Some(password) = new_password {
        changes.password_hash = Some(match password {
            Some(p) => Some(password::hash(p).await?),
            None => None,
        });
    }
    let now = state.clock.now();
    let audit = by.audit(AuditEvent::UserUpdated, now);
    let user = state
        .db
        .update_user(
            id,
            &changes,
            now,
            state.config.force_disable_oidc,
            actor_session.filter(|_| by.user_id() == Some(id)),
            audit,
        )
        .await?;
    dto_of(state, &user).await
}

pub async fn delete(state: &Services, actor: &User, ip: &str, id: i64) -> AppResult<()> {
    if actor.id == id {
        return Err(AppError::Conflict(
            "You cannot delete your own account.".to_owned(),
        ));
    }
    existing(state, id).await?;
    let now = state.clock.now();
    let audit = AuditEntry::new(AuditEvent::UserDeleted, now)
        .actor(actor.id)
        .ip(ip);
    Ok(state
        .db
        .delete_user(id, now, state.config.force_disable_oidc, audit)
        .await?)
}

pub async fn unlink(state: &Services, actor: &User, ip: &str, id: i64) -> AppResult<UserDto> {
    let user = existing(state, id).await?;
    let now = state.clock.now();
    let audit = AuditEntry::new(AuditEvent::OidcAccountUnlinked, now)
        .actor(actor.id)
        .ip(ip);
    state
        .db
        .unlink_oidc(id, now, state.config.force_disable_oidc, audit)
        .await
        .map_err(|e| match e {
            crate::db::StoreError::NotFound => {
                AppError::NotFound("This user has no linked OIDC identity.".to_owned())
            }
            other => other.into(),
        })?;
    dto_of(state, &user).await
}
