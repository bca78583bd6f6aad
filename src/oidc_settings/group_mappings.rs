//! Group mappings: which provider groups grant admin, permissions and libraries.

use crate::db::{AuditEntry, AuditEvent, GroupMapping, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use crate::validation::Fields;
use app::domain::{GroupMappingDto, MappingRequest, PERMISSIONS};

async fn validate(state: &Services, req: MappingRequest) -> AppResult<GroupMapping> {
    let mut fields = Fields::new();
    // Kept as given: the claim value is compared exactly, case and all.
    let group_claim = req.group_claim.unwrap_or_default();
    if group_claim.trim().is_empty() {
        fields.add("groupClaim", "Group claim value is required.");
    } else if group_claim.chars().count() > 255 || group_claim.chars().any(char::is_control) {
        fields.add(
            "groupClaim",
            "Group claim value must be at most 255 characters.",
        );
    }
    let description = req.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > 500 {
        fields.add("description", "Description must be at most 500 characters.");
    }
    let mut permissions = req.permissions.unwrap_or_default();
    if let Some(unknown) = permissions
        .iter()
        .find(|p| !PERMISSIONS.iter().any(|k| k.key == p.as_str()))
    {
        fields.add("permissions", &format!("Unknown permission: {unknown}."));
    }
    permissions.sort();
    permissions.dedup();
    let mut library_ids = req.library_ids.unwrap_or_default();
    library_ids.sort_unstable();
    library_ids.dedup();
    if let Some(id) = state.db.unknown_library_ids(&library_ids).await?.first() {
        fields.add("libraryIds", &format!("Unknown library: {id}."));
    }
    fields.finish()?;
    Ok(GroupMapping {
        id: 0,
        group_claim,
        description,
        is_admin: req.is_admin.unwrap_or(false),
        permissions,
        library_ids,
    })
}

pub async fn create(
    state: &Services,
    actor: &User,
    ip: &str,
    req: MappingRequest,
) -> AppResult<GroupMappingDto> {
    let mapping = validate(state, req).await?;
    let now = state.clock.now();
    let audit = AuditEntry::new(AuditEvent::OidcGroupMappingCreated, now)
        .actor(actor.id)
        .ip(ip);
    Ok(state
        .db
        .save_group_mapping(None, &mapping, now, audit)
        .await?
        .into())
}

pub async fn update(
    state: &Services,
    actor: &User,
    ip: &str,
    id: i64,
    req: MappingRequest,
) -> AppResult<GroupMappingDto> {
    let mapping = validate(state, req).await?;
    let now = state.clock.now();
    let audit = AuditEntry::new(AuditEvent::OidcGroupMappingUpdated, now)
        .actor(actor.id)
        .ip(ip);
    state
        .db
        .save_group_mapping(Some(id), &mapping, now, audit)
        .await
        .map(GroupMappingDto::from)
        .map_err(|e| match e {
            crate::db::StoreError::NotFound => {
                AppError::NotFound("No such group mapping.".to_owned())
            }
            other => other.into(),
        })
}

pub async fn delete(state: &Services, actor: &User, ip: &str, id: i64) -> AppResult<()> {
    let audit = AuditEntry::new(AuditEvent::OidcGroupMappingDeleted, state.clock.now())
        .actor(actor.id)
        .ip(ip);
    state
        .db
        .delete_group_mapping(id, audit)
        .await
        .map_err(|e| match e {
            crate::db::StoreError::NotFound => {
                AppError::NotFound("No such group mapping.".to_owned())
            }
            other => other.into(),
        })
}
