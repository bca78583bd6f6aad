//! The facts of a sign-in decision, read from the database.

use super::claims::claims_of;
use super::decision::{username_to_match, Account, Facts, Policy};
use super::group_sync::SyncMode;
use super::{Authenticated, Intent};
use crate::db::oidc_users::Grants;
use crate::db::{Db, User};
use crate::oidc_settings::StoredSettings;

pub fn policy(s: &StoredSettings) -> Policy {
    Policy {
        auto_provisioning: s.auto_provisioning,
        allow_local_account_linking: s.allow_local_account_linking,
        sync_mode: SyncMode::parse(&s.group_sync_mode),
        default_permissions: s.default_permissions.clone(),
        default_library_ids: s.default_library_ids.clone(),
    }
}

/// A user's admin flag, permissions and libraries. Admins hold no library rows (they see
/// every library), so theirs start empty.
pub async fn grants_of(db: &Db, user: &User) -> Result<Grants, sqlx::Error> {
    let library_ids = if user.is_admin {
        Vec::new()
    } else {
        db.libraries_of(user.id, false)
            .await?
            .into_iter()
            .map(|l| l.id)
            .collect()
    };
    Ok(Grants {
        is_admin: user.is_admin,
        permissions: user.permissions.clone(),
        library_ids,
    })
}

async fn account(db: &Db, user: Option<User>) -> Result<Option<Account>, sqlx::Error> {
    let Some(user) = user else {
        return Ok(None);
    };
    Ok(Some(Account {
        id: user.id,
        is_admin: user.is_admin,
        has_password: user.password_hash.is_some(),
        email: user.email.clone(),
        linked: db.has_identity(user.id).await?,
        grants: grants_of(db, &user).await?,
    }))
}

/// What the decision reads about this proven identity.
pub async fn load(
    db: &Db,
    auth: &Authenticated,
    s: &StoredSettings,
    ip: &str,
) -> Result<Facts, sqlx::Error> {
    let (issuer, subject) = (&auth.issuer, &auth.proven.token.sub);
    let claims = claims_of(&auth.proven.token.claims, auth.proven.userinfo.as_ref(), s);
    let intent = auth.intent;
    // The accounts the identity may claim are read before the identity's own link: an
    // identity that a concurrent first sign-in links meanwhile is then found linked, not
    // refused as "linked to another identity".
    let (username_match, link_target) = match intent {
        // A round trip with intent `grant` ends at the callback, before any facts.
        Intent::Login | Intent::Grant(_) => match username_to_match(&claims) {
            Some(username) => (
                account(db, db.user_by_username(username).await?).await?,
                None,
            ),
            None => (None, None),
        },
        Intent::Link(id) => (None, account(db, db.user_by_id(id).await?).await?),
    };
    let linked = match db.user_by_identity(issuer, subject).await? {
        // A returning user usually is the username match too: read once.
        Some(user) if username_match.as_ref().is_some_and(|m| m.id == user.id) => {
            username_match.clone()
        }
        other => account(db, other).await?,
    };
    // Libraries matter only to drop default libraries that no longer exist.
    let libraries = if s.default_library_ids.is_empty() {
        Default::default()
    } else {
        db.libraries().await?.into_iter().map(|l| l.id).collect()
    };
    Ok(Facts {
        intent,
        issuer: issuer.clone(),
        subject: subject.clone(),
        claims,
        linked,
        link_target,
        username_match,
        mappings: db.group_mappings().await?,
        libraries,
        policy: policy(s),
        ip: ip.to_owned(),
        userinfo_warning: auth.proven.userinfo_warning.clone(),
    })
}
