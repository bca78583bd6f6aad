//! At start, seals anew, bound to their place, the values an earlier release sealed without a
//! binding, so that nothing saved is lost and afterwards only bound values are ever opened.

use crate::crypto::{Binding, SecretBox};
use crate::db::sealed::SealedSlot;
use crate::db::Db;
use crate::oidc_settings::StoredSettings;

/// Rebinds every unbound value; answers how many. A value that cannot be opened stays as it
/// is (it could not be used before either) and is named in the log.
pub async fn bind_unbound(db: &Db, secrets: &SecretBox) -> Result<usize, sqlx::Error> {
    // The client secret belongs to the provider saved with it.
    let saved: Option<StoredSettings> = match db.oidc_settings_json().await? {
        Some(json) => serde_json::from_str(&json).ok(),
        None => Some(StoredSettings::default()),
    };
    let mut bound = 0;
    for (slot, old) in db.unbound_sealed().await? {
        let binding = match (&slot, &saved) {
            (SealedSlot::ClientSecret, Some(s)) => Binding::ClientSecret {
                issuer: &s.issuer_uri,
                client_id: &s.client_id,
            },
            (SealedSlot::RefreshToken { session }, _) => Binding::RefreshToken { session },
            (SealedSlot::ClientSecret, None) => continue,
        };
        match secrets.legacy_open(&old) {
            Ok(plain) => {
                db.replace_sealed(&slot, &old, &secrets.seal(&plain, binding))
                    .await?;
                bound += 1;
            }
            Err(_) => {
                let place = match slot {
                    SealedSlot::ClientSecret => "the OIDC client secret",
                    SealedSlot::RefreshToken { .. } => "a session's refresh token",
                };
                tracing::warn!(place, "a stored secret cannot be decrypted; left as is");
            }
        }
    }
    if bound > 0 {
        tracing::info!(bound, "bound stored secrets to their place");
    }
    Ok(bound)
}
