//! The OIDC settings feature: load and save the settings (with the sealed client secret),
//! what is in force, the public view, Test Connection, the reference values to paste into the
//! provider, and group mappings.

pub mod group_mappings;
pub mod mobile_redirects;
pub mod model;
pub mod patch;
pub mod reference;
pub mod test_connection;
pub mod unsaved;

use crate::auth::recent::Read;
use crate::crypto::Binding;
use crate::db::oidc::{SecretChange, SettingsWrite};
use crate::db::{AuditEntry, AuditEvent, User};
use crate::error::{AppError, AppResult};
use crate::state::Services;
use crate::validation::Fields;
use app::domain::SettingsPatch;
use app::domain::{OidcSettingsDto, PublicSettings};
pub use model::{Effective, StoredSettings};
use patch::{apply, changed_fields, Applied, SecretPlan};

pub const NOT_ENABLED_FIRST: &str = "Cannot enable OIDC-only mode: OIDC must be enabled first";
pub const NO_LOCAL_ADMIN: &str = "Cannot enable OIDC-only mode: no admin could sign in locally";

/// The saved settings: as this replica read them lately when that read is still fresh
/// (`auth::recent`), else from the database.
pub async fn load(state: &Services) -> AppResult<StoredSettings> {
    let now = state.clock.now();
    if let Some(settings) = state.recent.settings(now) {
        return Ok(settings);
    }
    let changes = state.recent.before_read();
    let settings = load_stored(state).await?;
    state
        .recent
        .remember_settings(settings.clone(), Read { at: now, changes });
    Ok(settings)
}

/// The saved settings as the database holds them now.
async fn load_stored(state: &Services) -> AppResult<StoredSettings> {
    Ok(match state.db.oidc_settings_json().await? {
        Some(json) => serde_json::from_str(&json).map_err(AppError::internal)?,
        None => StoredSettings::default(),
    })
}

pub fn effective_of(state: &Services, settings: StoredSettings) -> Effective {
    let enabled =
        !state.config.force_disable_oidc && settings.oidc_enabled && settings.configured();
    Effective {
        force_only: enabled && settings.oidc_force_only_mode,
        enabled,
        settings,
    }
}

pub async fn effective(state: &Services) -> AppResult<Effective> {
    Ok(effective_of(state, load(state).await?))
}

pub async fn public(state: &Services) -> AppResult<PublicSettings> {
    let e = effective(state).await?;
    Ok(PublicSettings {
        oidc_enabled: e.enabled,
        oidc_provider_name: if e.enabled {
            e.settings.provider_name.clone()
        } else {
            String::new()
        },
        oidc_force_only_mode: e.force_only,
        local_login_available: !e.force_only,
    })
}

pub async fn get(state: &Services) -> AppResult<OidcSettingsDto> {
    let settings = load(state).await?;
    let secret_set = state.db.oidc_client_secret().await?.is_some();
    let linked = state.db.identities_at(&settings.issuer_uri).await?;
    Ok(OidcSettingsDto {
        settings,
        client_secret_set: secret_set,
        force_disabled_by_env: state.config.force_disable_oidc,
        linked_users: linked,
    })
}

/// Validates and saves a patch; nothing is saved when any field is refused. Saving also fixes
/// the origin of the redirect URIs to the one the admin's request came to (`own_origin`), as
/// the reference panel showed it, unless a public URL is configured (see
/// [`reference::redirect_base`]).
pub async fn save(
    state: &Services,
    actor: &User,
    ip: &str,
    own_origin: Option<&str>,
    patch: SettingsPatch,
) -> AppResult<OidcSettingsDto> {
    // From the database, not the replica's memory: a patch applied to a copy another replica
    // has just changed would undo that change.
    let current = load_stored(state).await?;
    let secret_stored = state.db.oidc_client_secret().await?.is_some();
    let mut fields = Fields::new();
    let Applied { settings, secret } = apply(&current, &patch, secret_stored, &mut fields);
    if let Some(ids) = &patch.default_library_ids {
        if let Some(id) = state.db.unknown_library_ids(ids).await?.first() {
            fields.add("defaultLibraryIds", &format!("Unknown library: {id}."));
        }
    }
    let turning_on_force_only = settings.oidc_force_only_mode && !current.oidc_force_only_mode;
    if turning_on_force_only && state.db.admins_with_password().await? == 0 {
        fields.add("oidcForceOnlyMode", NO_LOCAL_ADMIN);
    }
    fields.finish()?;
    let mut changed = changed_fields(&current, &settings, &secret);
    let fixed = state.db.oidc_redirect_origin().await?;
    let origin = reference::origin_to_fix(&state.config, own_origin)
        .filter(|origin| fixed.as_ref() != Some(origin));
    if origin.is_some() {
        changed.push("redirectOrigin".to_owned());
    }
    if changed.is_empty() {
        return get(state).await;
    }
    let now = state.clock.now();
    let mut audits = vec![AuditEntry::new(AuditEvent::OidcConfigChanged, now)
        .actor(actor.id)
        .ip(ip)
        .detail("fields", changed)];
    if settings.oidc_force_only_mode != current.oidc_force_only_mode {
        audits.push(
            AuditEntry::new(AuditEvent::OidcForceOnlyModeChanged, now)
                .actor(actor.id)
                .ip(ip)
                .detail("enabled", settings.oidc_force_only_mode),
        );
    }
    let move_links = (patch.move_links == Some(true)
        && settings.issuer_uri != current.issuer_uri
        && !current.issuer_uri.is_empty())
    .then(|| (current.issuer_uri.clone(), settings.issuer_uri.clone()));
    if let Some((from, to)) = &move_links {
        audits.push(
            AuditEntry::new(AuditEvent::OidcLinksMoved, now)
                .actor(actor.id)
                .ip(ip)
                .detail("from", from.as_str())
                .detail("to", to.as_str()),
        );
    }
    let sealed = match &secret {
        SecretPlan::Keep => SecretChange::Keep,
        SecretPlan::Clear => SecretChange::Clear,
        SecretPlan::Replace(plain) => SecretChange::Replace(state.secrets.seal(
            plain,
            Binding::ClientSecret {
                issuer: &settings.issuer_uri,
                client_id: &settings.client_id,
            },
        )),
    };
    let json = serde_json::to_string(&settings).map_err(AppError::internal)?;
    // Another issuer or client: fetch its discovery and keys afresh.
    state.oidc.forget_providers();
    state
        .db
        .save_oidc_settings(
            SettingsWrite {
                json: &json,
                secret: &sealed,
                redirect_origin: origin.as_deref(),
            },
            move_links.as_ref(),
            now,
            state.config.force_disable_oidc,
            audits,
        )
        .await
        .map_err(|e| match e {
            crate::db::StoreError::Invariant(_) if turning_on_force_only => {
                AppError::field("oidcForceOnlyMode", NO_LOCAL_ADMIN)
            }
            other => other.into(),
        })?;
    // What is answered next is read afresh, also within this request.
    state.recent.changed();
    get(state).await
}
