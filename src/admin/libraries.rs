use crate::db::{AuditEntry, AuditEvent, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use app::domain::{LibraryDto, LibraryRequest};

fn valid_name(req: &LibraryRequest) -> AppResult<String> {
    let name = req.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        Err(AppError::field("name", "Library name is required."))
    } else if name.chars().count() > 100 {
        Err(AppError::field(
            "name",
            "Library name must be at most 100 characters.",
        ))
    } else if name.chars().any(char::is_control) {
        Err(AppError::field(
            "name",
            "Library name must not contain control characters.",
        ))
    } else {
        Ok(name.to_owned())
    }
}

fn entry(state: &Services, event: AuditEvent, actor: &User, ip: &str) -> AuditEntry {
    AuditEntry::new(event, state.clock.now())
        .actor(actor.id)
        .ip(ip)
}

pub async fn create(
    state: &Services,
    actor: &User,
    ip: &str,
    req: LibraryRequest,
) -> AppResult<LibraryDto> {
    let name = valid_name(&req)?;
    Ok(state
        .db
        .create_library(
            &name,
            state.clock.now(),
            entry(state, AuditEvent::LibraryCreated, actor, ip),
        )
        .await?
        .into())
}

pub async fn rename(
    state: &Services,
    actor: &User,
    ip: &str,
    id: i64,
    req: LibraryRequest,
) -> AppResult<LibraryDto> {
    let name = valid_name(&req)?;
    Ok(state
        .db
        .rename_library(
            id,
            &name,
            entry(state, AuditEvent::LibraryUpdated, actor, ip),
        )
        .await?
        .into())
}

pub async fn delete(state: &Services, actor: &User, ip: &str, id: i64) -> AppResult<()> {
    Ok(state
        .db
        .delete_library(id, entry(state, AuditEvent::LibraryDeleted, actor, ip))
        .await?)
}
