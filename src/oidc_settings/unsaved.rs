//! The settings form as the admin has it, unsaved: what Test Connection and Try Sign-in run
//! with. The stored secret is used only while issuer and client ID are the stored ones, so it
//! is never sent to another provider (`patch::apply` decides that).

use super::load;
use super::patch::{apply, SecretPlan};
use super::StoredSettings;
use crate::crypto::Binding;
use crate::error::{AppError, AppResult};
use crate::state::Services;
use crate::validation::Fields;
use app::domain::SettingsPatch;

/// The unsaved form over the stored settings, and the client secret it would use.
pub struct Unsaved {
    pub settings: StoredSettings,
    pub client_secret: Option<String>,
}

/// The form `patch` over the stored settings; refused (400, by field) when a field is invalid
/// or the issuer or client ID is empty. `action` names what runs, for the messages.
pub async fn form(state: &Services, patch: &SettingsPatch, action: &str) -> AppResult<Unsaved> {
    let current = load(state).await?;
    let stored_secret = state.db.oidc_client_secret().await?;
    let mut fields = Fields::new();
    let applied = apply(&current, patch, stored_secret.is_some(), &mut fields);
    let settings = applied.settings;
    if settings.issuer_uri.is_empty() {
        fields.add("issuerUri", &format!("Enter the issuer URI to {action}."));
    }
    if settings.client_id.is_empty() {
        fields.add("clientId", &format!("Enter the client ID to {action}."));
    }
    fields.finish()?;
    let client_secret = match applied.secret {
        SecretPlan::Replace(secret) => Some(secret),
        SecretPlan::Clear => None,
        SecretPlan::Keep => match stored_secret {
            Some(sealed) => Some(
                state
                    .secrets
                    .open(
                        &sealed,
                        // Kept only while the provider is the saved one, whose secret it is.
                        Binding::ClientSecret {
                            issuer: &current.issuer_uri,
                            client_id: &current.client_id,
                        },
                    )
                    .map_err(AppError::internal)?,
            ),
            None => None,
        },
    };
    Ok(Unsaved {
        settings,
        client_secret,
    })
}
