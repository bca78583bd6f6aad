//! Who a proven OIDC identity is in Grimmory (spec section 5): match by (issuer, subject),
//! link, claim or provision, sync groups, and start the session. The order and the refusals
//! are deliberate: they close the takeover and lockout bugs of the original product.

use super::session::SessionToken;
use crate::db::oidc_users::{Grants, SignInPlan, Target};
use crate::db::{AuditEntry, AuditEvent, NewSession, NewUser, OidcSession, StoreError, User};
use crate::error::AppError;
use crate::oidc::flow::{Authenticated, Failure, Intent};
use crate::oidc_settings::StoredSettings;
use crate::AppState;
use app::domain::{GroupMappingDto, DEFAULT_SESSION_HOURS, PERMISSIONS};
use serde_json::Value;
use std::collections::BTreeSet;

/// The claims the settings map, read as spec section 4 step 6 says.
pub struct Claims {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `None` when the claim is absent altogether (then group sync changes nothing).
    pub groups: Option<Vec<String>>,
}

fn lookup<'a>(token: &'a Value, userinfo: Option<&'a Value>, claim: &str) -> Option<&'a Value> {
    token
        .get(claim)
        .filter(|v| !v.is_null())
        .or_else(|| userinfo.and_then(|u| u.get(claim)))
        .filter(|v| !v.is_null())
}

/// The configured claim, else (only when the configured one is absent everywhere) the default.
fn mapped<'a>(
    token: &'a Value,
    userinfo: Option<&'a Value>,
    configured: &str,
    default: &str,
) -> Option<&'a Value> {
    lookup(token, userinfo, configured).or_else(|| lookup(token, userinfo, default))
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub fn claims(auth: &Authenticated, s: &StoredSettings) -> Claims {
    claims_of(&auth.token.claims, auth.userinfo.as_ref(), s)
}

/// The mapped claims from an ID token's claims and, where it lacks them, userinfo's.
pub fn claims_of(token: &Value, userinfo: Option<&Value>, s: &StoredSettings) -> Claims {
    let m = &s.claim_mapping;
    let groups = mapped(token, userinfo, &m.groups, "groups").map(|v| match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::String(one) => vec![one.clone()],
        _ => Vec::new(),
    });
    Claims {
        username: text(mapped(token, userinfo, &m.username, "preferred_username")),
        email: text(mapped(token, userinfo, &m.email, "email")),
        name: text(mapped(token, userinfo, &m.name, "name")),
        groups,
    }
}

/// What the mappings for `groups` grant, merged: admin if any does, permissions and
/// libraries as unions.
fn merged(mappings: &[GroupMappingDto], groups: &[String]) -> Grants {
    let hits: Vec<&GroupMappingDto> = mappings
        .iter()
        .filter(|m| groups.contains(&m.group_claim))
        .collect();
    Grants {
        is_admin: hits.iter().any(|m| m.is_admin),
        permissions: PERMISSIONS
            .iter()
            .map(|p| {
                hits.iter()
                    .any(|m| m.permissions.iter().any(|k| k == p.key))
            })
            .collect(),
        library_ids: hits
            .iter()
            .flat_map(|m| m.library_ids.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// Group sync (spec section 5.4): Replace sets exactly the merge; Additive only adds.
pub fn sync(
    mode: &str,
    mappings: &[GroupMappingDto],
    groups: Option<&[String]>,
    current: &Grants,
) -> Option<Grants> {
    let groups = groups?;
    let merge = merged(mappings, groups);
    match mode {
        "ON_LOGIN" => Some(merge),
        "ON_LOGIN_ADDITIVE" => Some(Grants {
            is_admin: current.is_admin || merge.is_admin,
            permissions: current
                .permissions
                .iter()
                .zip(&merge.permissions)
                .map(|(a, b)| *a || *b)
                .collect(),
            library_ids: current
                .library_ids
                .iter()
                .chain(&merge.library_ids)
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }),
        _ => None,
    }
}

/// What changed between two grants, for PERMISSIONS_SYNCED.
fn changes(before: &Grants, after: &Grants) -> Value {
    let names = |g: &Grants| -> BTreeSet<&'static str> {
        PERMISSIONS
            .iter()
            .zip(&g.permissions)
            .filter(|(_, on)| **on)
            .map(|(p, _)| p.key)
            .collect()
    };
    let (b, a) = (names(before), names(after));
    let (bl, al): (BTreeSet<i64>, BTreeSet<i64>) = (
        before.library_ids.iter().copied().collect(),
        after.library_ids.iter().copied().collect(),
    );
    serde_json::json!({
        "isAdmin": [before.is_admin, after.is_admin],
        "permissionsAdded": a.difference(&b).collect::<Vec<_>>(),
        "permissionsRemoved": b.difference(&a).collect::<Vec<_>>(),
        "librariesAdded": al.difference(&bl).collect::<Vec<_>>(),
        "librariesRemoved": bl.difference(&al).collect::<Vec<_>>(),
    })
}

pub struct SignedIn {
    pub user: User,
    pub token: SessionToken,
    pub return_to: String,
}

fn failure_for(e: StoreError) -> Failure {
    match e {
        StoreError::Conflict("username", _) => Failure::new("link_refused", "link_refused"),
        other => AppError::from(other).into(),
    }
}

/// Decides who the identity is and applies it; retried once when a concurrent first sign-in
/// of the same identity won the race (then the link exists and is used).
pub async fn complete(
    state: &AppState,
    auth: &Authenticated,
    s: &StoredSettings,
    previous_session: Option<&str>,
    ip: &str,
) -> Result<SignedIn, Failure> {
    let mut tries = 0;
    loop {
        match attempt(state, auth, s, ip).await {
            Err(AttemptError::Retry) if tries == 0 => tries += 1,
            Err(AttemptError::Retry) => {
                return Err(Failure::new("unexpected", "identity_conflict"))
            }
            Err(AttemptError::Failed(f)) => return Err(f),
            Ok(user) => return start_session(state, auth, s, user, previous_session).await,
        }
    }
}

enum AttemptError {
    Retry,
    Failed(Failure),
}

impl From<Failure> for AttemptError {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}

impl From<sqlx::Error> for AttemptError {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(AppError::from(e).into())
    }
}

async fn attempt(
    state: &AppState,
    auth: &Authenticated,
    s: &StoredSettings,
    ip: &str,
) -> Result<User, AttemptError> {
    let issuer = auth.pending.issuer.clone();
    let sub = auth.token.sub.clone();
    let c = claims(auth, s);
    let now = state.clock.now();
    let intent = match auth.pending.link_user_id {
        Some(id) if auth.pending.intent == "link" => Intent::Link(id),
        _ => Intent::Login,
    };
    let mappings = state.db.group_mappings().await?;
    let mut audits = Vec::new();
    let linked = state.db.user_by_identity(&issuer, &sub).await?;
    let mut claim_check = None;
    let (target, link, existing): (Target, bool, Option<User>) = if let Some(user) = linked {
        if let Intent::Link(id) = intent {
            if id != user.id {
                return Err(Failure::new("link_refused", "link_refused").into());
            }
        }
        (Target::Existing(user.id), false, Some(user))
    } else if let Intent::Link(id) = intent {
        if state.db.has_identity(id).await? {
            return Err(Failure::new("link_refused", "link_refused").into());
        }
        let user = state
            .db
            .user_by_id(id)
            .await?
            .ok_or_else(|| Failure::new("link_refused", "link_refused"))?;
        audits.push(
            AuditEntry::new(AuditEvent::OidcAccountLinked, now)
                .actor(id)
                .ip(ip)
                .detail("issuer", issuer.as_str())
                .detail("via", "profile"),
        );
        (Target::Existing(id), true, Some(user))
    } else if let Some(user) = match &c.username {
        Some(u) => state.db.user_by_username(u).await?,
        None => None,
    } {
        if state.db.has_identity(user.id).await? {
            // Linked to this very identity since the lookup above (a concurrent first
            // sign-in): decide again, and find the link.
            if state.db.identity_owner(&issuer, &sub).await? == Some(user.id) {
                return Err(AttemptError::Retry);
            }
            return Err(Failure::new("link_refused", "link_refused").into());
        }
        // Admins are never linked by username, with or without a password: they link
        // themselves from /profile.
        let claimable =
            !user.is_admin && (user.password_hash.is_none() || s.allow_local_account_linking);
        if !claimable {
            return Err(Failure::new("link_refused", "link_refused").into());
        }
        audits.push(
            AuditEntry::new(AuditEvent::OidcAccountLinked, now)
                .ip(ip)
                .detail("issuer", issuer.as_str())
                .detail(
                    "via",
                    if user.password_hash.is_none() {
                        "claimed"
                    } else {
                        "username"
                    },
                ),
        );
        claim_check = Some(s.allow_local_account_linking);
        (Target::Existing(user.id), true, Some(user))
    } else if s.auto_provisioning {
        // The fallbacks only name a new user; they never match an existing one.
        let username = c
            .username
            .clone()
            .or_else(|| c.email.clone())
            .unwrap_or_else(|| sub.clone());
        let username = crate::validation::username(Some(&username)).unwrap_or_else(|_| {
            sub.chars()
                .filter(|ch| !ch.is_whitespace())
                .take(64)
                .collect()
        });
        let defaults: Vec<bool> = PERMISSIONS
            .iter()
            .map(|p| s.default_permissions.iter().any(|k| k == p.key))
            .collect();
        let libraries = {
            let unknown = state.db.unknown_library_ids(&s.default_library_ids).await?;
            s.default_library_ids
                .iter()
                .copied()
                .filter(|id| !unknown.contains(id))
                .collect()
        };
        let new = NewUser {
            name: c.name.clone().unwrap_or_else(|| username.clone()),
            username,
            email: c
                .email
                .clone()
                .filter(|e| crate::validation::email(Some(e)).is_ok()),
            password_hash: None,
            is_admin: false,
            permissions: defaults,
        };
        audits.push(
            AuditEntry::new(AuditEvent::OidcUserProvisioned, now)
                .ip(ip)
                .detail("issuer", issuer.as_str())
                .detail("username", new.username.as_str()),
        );
        (Target::New(new, libraries), true, None)
    } else {
        let username = c.username.clone().unwrap_or_default();
        return Err(Failure::new("not_provisioned", "not_provisioned")
            .with_username(username)
            .into());
    };

    let current = existing.as_ref().map(|u| Grants {
        is_admin: u.is_admin,
        permissions: u.permissions.clone(),
        library_ids: Vec::new(),
    });
    let current_libraries = match &existing {
        Some(u) if !u.is_admin => state
            .db
            .libraries_of(u.id, false)
            .await?
            .into_iter()
            .map(|l| l.id)
            .collect(),
        _ => Vec::new(),
    };
    let before = match (current, &target) {
        (Some(g), _) => Grants {
            library_ids: current_libraries,
            ..g
        },
        (None, Target::New(new, libs)) => Grants {
            is_admin: false,
            permissions: new.permissions.clone(),
            library_ids: libs.clone(),
        },
        (None, Target::Existing(_)) => return Err(Failure::new("unexpected", "no_user").into()),
    };
    let grants = sync(&s.group_sync_mode, &mappings, c.groups.as_deref(), &before);
    if s.group_sync_mode != "DISABLED" {
        match &grants {
            Some(after) if *after != before => audits.push(
                AuditEntry::new(AuditEvent::PermissionsSynced, now)
                    .ip(ip)
                    .detail("changes", changes(&before, after)),
            ),
            Some(_) => {}
            None => audits.push(
                AuditEntry::new(AuditEvent::PermissionsSynced, now)
                    .ip(ip)
                    .detail("skipped", "the groups claim is absent; nothing changed"),
            ),
        }
    }
    let mut success = AuditEntry::new(AuditEvent::OidcLoginSuccess, now)
        .ip(ip)
        .detail("issuer", issuer.as_str())
        .detail("subject", sub.as_str());
    if let Some(w) = &auth.userinfo_warning {
        success = success.detail("warning", w.as_str());
    }
    audits.push(success);
    let plan = SignInPlan {
        // Refresh only for a user matched by the link: a newly provisioned one has them already.
        email: c
            .email
            .clone()
            .filter(|_| existing.is_some())
            .filter(|e| crate::validation::email(Some(e)).is_ok()),
        name: c.name.clone().filter(|_| existing.is_some()),
        target,
        link: link.then(|| (issuer.clone(), sub.clone())),
        claim_check,
        grants,
        audits,
    };
    match state
        .db
        .apply_sign_in(plan, now, state.config.force_disable_oidc)
        .await
    {
        Ok(user) => Ok(user),
        Err(StoreError::Conflict("identity", _)) => Err(AttemptError::Retry),
        Err(e) => Err(failure_for(e).into()),
    }
}

async fn start_session(
    state: &AppState,
    auth: &Authenticated,
    s: &StoredSettings,
    user: User,
    previous: Option<&str>,
) -> Result<SignedIn, Failure> {
    let now = state.clock.now();
    if let Some(old) = previous {
        state.db.delete_session(old).await.map_err(AppError::from)?;
    }
    let token = SessionToken::generate();
    let hours = s.session_duration_hours.unwrap_or(DEFAULT_SESSION_HOURS);
    let sid = auth.token.claims.get("sid").and_then(Value::as_str);
    state
        .db
        .insert_session(&NewSession {
            id_hash: &token.hash(),
            user_id: user.id,
            auth_method: "oidc",
            now,
            expires_at: now + hours * 3_600_000,
            oidc: Some(OidcSession {
                issuer: &auth.pending.issuer,
                subject: &auth.token.sub,
                sid,
                id_token: &auth.id_token,
                refresh_token_sealed: auth.refresh_token.as_deref().map(|t| state.secrets.seal(t)),
                access_expires_at: auth.access_expires_at,
            }),
        })
        .await
        .map_err(AppError::from)?;
    // Back-channel logout tokens are checked with the algorithm the provider signs ours with.
    state
        .db
        .put_setting(
            &format!("oidc_alg:{}", auth.pending.issuer),
            &auth.token.alg,
            now,
        )
        .await
        .map_err(AppError::from)?;
    Ok(SignedIn {
        user,
        token,
        return_to: auth.pending.return_to.clone(),
    })
}

/// Applies the claims of a refreshed ID token to its user: email, display name and groups,
/// under the same rules as at sign-in.
pub async fn resync(
    state: &AppState,
    user_id: i64,
    token_claims: &Value,
    s: &StoredSettings,
) -> Result<(), AppError> {
    let c = claims_of(token_claims, None, s);
    let Some(user) = state.db.user_by_id(user_id).await? else {
        return Ok(());
    };
    let now = state.clock.now();
    let mappings = state.db.group_mappings().await?;
    let library_ids = if user.is_admin {
        Vec::new()
    } else {
        state
            .db
            .libraries_of(user.id, false)
            .await?
            .into_iter()
            .map(|l| l.id)
            .collect()
    };
    let before = Grants {
        is_admin: user.is_admin,
        permissions: user.permissions.clone(),
        library_ids,
    };
    let grants = sync(&s.group_sync_mode, &mappings, c.groups.as_deref(), &before);
    let mut audits = Vec::new();
    if let Some(after) = grants.as_ref().filter(|after| **after != before) {
        audits.push(
            AuditEntry::new(AuditEvent::PermissionsSynced, now)
                .detail("changes", changes(&before, after))
                .detail("via", "refresh"),
        );
    }
    let plan = SignInPlan {
        target: Target::Existing(user_id),
        link: None,
        claim_check: None,
        email: c
            .email
            .filter(|e| crate::validation::email(Some(e)).is_ok()),
        name: c.name,
        grants,
        audits,
    };
    state
        .db
        .apply_sign_in(plan, now, state.config.force_disable_oidc)
        .await?;
    Ok(())
}
