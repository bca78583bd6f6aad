//! What admins do to users and libraries: validation, the admin invariants and the audit
//! trail, over the stores in `db`.

pub mod libraries;
pub mod users;

use crate::error::AppResult;
use crate::AppState;

/// Whether OIDC-only mode is in force: switched on, and OIDC effectively enabled (on in the
/// settings and not forced off by `FORCE_DISABLE_OIDC`).
pub async fn oidc_only_in_force(state: &AppState) -> AppResult<bool> {
    if state.config.force_disable_oidc {
        return Ok(false);
    }
    let on = |v: Option<String>| v.as_deref() == Some("true");
    Ok(on(state.db.setting("oidc_enabled").await?)
        && on(state.db.setting("oidc_force_only_mode").await?))
}
