//! Signing in with OIDC, end to end (spec sections 4 and 5). The protocol (`oidc::flow`)
//! proves who the provider says the user is; `decision` decides, without I/O, who that is
//! here; the database applies it in one transaction; then the session starts. Every failure
//! is audited and counted here, so the HTTP handlers only translate.

mod claims;
pub mod decision;
pub mod dry_run;
mod facts;
mod failure;
pub mod group_sync;
pub mod mobile;
mod pending;
mod report;

pub use claims::{claims_of, Claims};
pub use failure::Failure;
pub use pending::{Intent, Started};

use super::session::SessionToken;
use crate::crypto::Binding;
use crate::db::pending_logins::PendingLogin;
use crate::db::{AuditEntry, AuditEvent, NewSession, OidcSession, StoreError};
use crate::error::{AppError, AppResult};
use crate::oidc::flow::{self, CallbackQuery, CodeFlow, EndSession, Proven};
use crate::oidc_settings::{self as settings, Effective, StoredSettings};
use crate::state::Services;
use app::domain::{safe_return_to, DEFAULT_SESSION_HOURS};
use decision::Refusal;
use group_sync::SyncMode;
use serde_json::Value;

/// What the provider's redirect back brought, and from whom.
pub struct Callback<'a> {
    pub query: CallbackQuery,
    /// The per-browser id that owns pending sign-ins.
    pub browser_id: Option<&'a str>,
    /// The hash of the session this browser already has: it is replaced.
    pub previous_session: Option<&'a str>,
    pub ip: &'a str,
}

/// A proven identity: the provider that proved it, what the sign-in is for, and what the
/// provider gave along.
pub struct Authenticated {
    pub issuer: String,
    pub intent: Intent,
    pub proven: Proven,
}

/// A proven identity and the user it is here, the sign-in applied.
pub struct Identified {
    pub auth: Authenticated,
    pub user_id: i64,
}

pub struct SignedIn {
    pub token: SessionToken,
    /// Where to send the browser: the sign-in's `returnTo` when safe, else `/`.
    pub return_to: String,
}

/// How a callback ended well.
pub enum Finished {
    SignedIn(SignedIn),
    /// A dry run (Try Sign-in): its report is stored under this id, and nothing else changed.
    Tried {
        report_id: String,
    },
    /// A round trip with intent `grant`: recorded on the browser's session, which stays as
    /// it is; the browser goes back to `return_to`.
    Confirmed {
        return_to: String,
    },
}

/// Starts a sign-in (spec section 4, step 1) and answers where to send the browser; a
/// failure is audited.
pub async fn start(
    state: &Services,
    oidc: &Effective,
    ip: &str,
    browser_id: &str,
    return_to: &str,
    intent: Intent,
    redirect_uri: &str,
) -> Result<Started, Failure> {
    let client = super::limits::key_of(ip);
    let begun = pending::begin(
        state,
        pending::Purpose::SignIn(&oidc.settings, intent),
        &client,
        browser_id,
        return_to,
        redirect_uri,
    );
    let failure = match begun.await {
        Ok(started) => return Ok(started),
        Err(f) => f,
    };
    audit_failure(state, ip, &failure, None).await;
    Err(failure)
}

/// Finishes a sign-in at `/oauth2-callback` (spec section 4, steps 2 to 7): a new session,
/// or a failure that is already audited and counted; or, for a dry run, its report.
pub async fn callback(state: &Services, request: Callback<'_>) -> Result<Finished, Failure> {
    let ip = request.ip;
    match finish(state, request).await {
        Ok(Finished::SignedIn(signed_in)) => {
            state.metrics.record_sign_in("oidc", "success");
            Ok(Finished::SignedIn(signed_in))
        }
        Ok(tried) => Ok(tried),
        Err((failure, user)) => {
            state.metrics.record_sign_in("oidc", "failure");
            audit_failure(state, ip, &failure, user).await;
            Err(failure)
        }
    }
}

/// The callback's steps. A failure comes with the user who asked to link, when known, as
/// the target of its audit entry. A dry run goes its own way once its pending sign-in is
/// found: it runs with the form it started with, whether OIDC is on or not.
async fn finish(
    state: &Services,
    request: Callback<'_>,
) -> Result<Finished, (Failure, Option<i64>)> {
    let oidc = settings::effective(state)
        .await
        .map_err(|e| (Failure::internal(e), None))?;
    let taken = pending::take(state, request.browser_id, request.query.state.as_deref()).await;
    let taken = match taken {
        Ok(mut pending) => match pending.trial.take() {
            Some(trial) => {
                return dry_run::finish(state, pending, trial, request)
                    .await
                    .map(|report_id| Finished::Tried { report_id })
                    .map_err(|f| (f, None))
            }
            None => Ok(pending),
        },
        Err(f) => Err(f),
    };
    if !oidc.enabled {
        return Err((Failure::OidcDisabled, None));
    }
    let pending = taken.map_err(|f| (f, None))?;
    let link_user_id = pending.link_user_id;
    if !pending::same_provider(&pending, &oidc.settings) {
        return Err((flow::Failure::StateMismatch.into(), link_user_id));
    }
    let concerns = |f: Failure| (f, link_user_id);
    let secret = client_secret(state, &oidc.settings.issuer_uri, &oidc.settings.client_id)
        .await
        .map_err(|e| concerns(Failure::internal(e)))?;
    let flow = pending::code_flow(&pending, secret.as_deref());
    let intent = pending::intent_of(&pending);
    if let Intent::Grant(user_id) = intent {
        let proven = state
            .oidc
            .redeem(&flow, request.query)
            .await
            .map_err(|f| concerns(f.into()))?;
        return confirm_grant(state, &pending, user_id, &proven, request.previous_session)
            .await
            .map_err(concerns);
    }
    let answer = Answer::Redirect(request.query);
    let identified = sign_in_identity(state, &flow, answer, intent, &oidc.settings, request.ip)
        .await
        .map_err(concerns)?;
    start_session(
        state,
        &identified,
        &oidc.settings,
        &pending.return_to,
        request.previous_session,
    )
    .await
    .map(Finished::SignedIn)
    .map_err(|e| concerns(Failure::internal(e)))
}

/// How the provider's answer to an authorization request reached us.
pub enum Answer {
    /// The browser's redirect to `/oauth2-callback`, checked as RFC 9207 asks.
    Redirect(CallbackQuery),
    /// A code the mobile app received at its own redirect URI.
    Code(String),
}

/// What every sign-in through the provider shares, the browser's and the mobile app's: the
/// code exchange and every ID-token check of section 4 (`OidcClient`), then who the identity
/// is here under section 5 (match, link or provision; group sync), decided and applied.
async fn sign_in_identity(
    state: &Services,
    flow: &CodeFlow<'_>,
    answer: Answer,
    intent: Intent,
    s: &StoredSettings,
    ip: &str,
) -> Result<Identified, Failure> {
    let proven = match answer {
        Answer::Redirect(query) => state.oidc.redeem(flow, query).await?,
        Answer::Code(code) => state.oidc.redeem_code(flow, &code).await?,
    };
    let auth = Authenticated {
        issuer: flow.issuer.to_owned(),
        intent,
        proven,
    };
    let user_id = identify(state, &auth, s, ip).await?;
    // Back-channel logout tokens are checked with the algorithm the provider signs ours with.
    state
        .db
        .put_setting(
            &format!("oidc_alg:{}", auth.issuer),
            &auth.proven.token.alg,
            state.clock.now(),
        )
        .await
        .map_err(Failure::internal)?;
    Ok(Identified { auth, user_id })
}

/// Records a round trip with intent `grant` on the session of the user who started it, if
/// the identity that came back is the one linked to them: a grant is approved through the
/// user's own identity, never another one signed in at the provider in this browser.
async fn confirm_grant(
    state: &Services,
    pending: &PendingLogin,
    user_id: i64,
    proven: &Proven,
    session: Option<&str>,
) -> Result<Finished, Failure> {
    let (issuer, sub) = (&pending.issuer, &proven.token.sub);
    let owner = state
        .db
        .identity_owner(issuer, sub)
        .await
        .map_err(Failure::internal)?;
    if owner != Some(user_id) {
        return Err(Refusal::LinkRefused.into());
    }
    let session = session.ok_or(flow::Failure::StateMismatch)?;
    let confirmation = crate::db::grants::Confirmation {
        confirmed_at: state.clock.now(),
        issuer: issuer.clone(),
        subject: sub.clone(),
        sid: proven.token.sid().map(str::to_owned),
        refresh_sealed: proven.refresh_token.as_deref().map(|t| {
            state
                .secrets
                .seal(t, Binding::GrantConfirmation { session })
        }),
        access_expires_at: proven.access_expires_at,
    };
    let recorded = state
        .db
        .record_grant_confirmation(session, user_id, &confirmation)
        .await
        .map_err(Failure::internal)?;
    if !recorded {
        // Signed out, or another user signed in, in this browser meanwhile.
        return Err(flow::Failure::StateMismatch.into());
    }
    Ok(Finished::Confirmed {
        return_to: safe_return_to(&pending.return_to).unwrap_or("/").to_owned(),
    })
}

/// The client secret, opened, when one is stored (a confidential client). It opens only for
/// the issuer and client ID it was entered for.
pub async fn client_secret(
    state: &Services,
    issuer: &str,
    client_id: &str,
) -> AppResult<Option<String>> {
    match state.db.oidc_client_secret().await? {
        Some(sealed) => Ok(Some(
            state
                .secrets
                .open(&sealed, Binding::ClientSecret { issuer, client_id })
                .map_err(AppError::internal)?,
        )),
        None => Ok(None),
    }
}

/// Where to send the browser after its local session ended: the provider's end-session page
/// (RP-initiated logout) when the session came from the provider in force and it has one.
pub async fn end_session_url(
    state: &Services,
    oidc: &Effective,
    issuer: &str,
    id_token: &str,
    public_base: &str,
) -> Option<String> {
    if !oidc.enabled || issuer != oidc.settings.issuer_uri {
        return None;
    }
    state
        .oidc
        .end_session_url(&EndSession {
            issuer,
            client_id: &oidc.settings.client_id,
            id_token,
            post_logout_redirect_uri: &format!("{public_base}/login?signedOut=1"),
        })
        .await
}

/// Decides who the identity is and applies it. Decided once more when a concurrent first
/// sign-in of the same identity won the race: then the link exists and is used.
async fn identify(
    state: &Services,
    auth: &Authenticated,
    s: &StoredSettings,
    ip: &str,
) -> Result<i64, Failure> {
    for _ in 0..2 {
        let now = state.clock.now();
        let facts = facts::load(&state.db, auth, s, ip)
            .await
            .map_err(Failure::internal)?;
        let plan = decision::decide(&facts)?.into_plan(&facts, now);
        match state
            .db
            .apply_sign_in(plan, now, state.config.force_disable_oidc)
            .await
        {
            Ok(user) => return Ok(user.id),
            Err(StoreError::Conflict("identity", _)) => continue,
            // The username match changed since it was read and may no longer be claimed; or
            // the new user's name is taken (a fallback name never claims an account).
            Err(StoreError::Conflict("username", _)) => return Err(Refusal::LinkRefused.into()),
            Err(e) => return Err(Failure::internal(e)),
        }
    }
    Err(Failure::IdentityConflict)
}

async fn start_session(
    state: &Services,
    identified: &Identified,
    s: &StoredSettings,
    return_to: &str,
    previous: Option<&str>,
) -> AppResult<SignedIn> {
    let (auth, user_id) = (&identified.auth, identified.user_id);
    let now = state.clock.now();
    if let Some(old) = previous {
        state.db.delete_session(old).await?;
    }
    let token = SessionToken::generate();
    let id_hash = token.hash();
    let hours = s.session_duration_hours.unwrap_or(DEFAULT_SESSION_HOURS);
    let sid = auth.proven.token.sid();
    state
        .db
        .insert_session(&NewSession {
            id_hash: &id_hash,
            user_id,
            auth_method: "oidc",
            now,
            expires_at: now + hours * 3_600_000,
            oidc: Some(OidcSession {
                issuer: &auth.issuer,
                subject: &auth.proven.token.sub,
                sid,
                id_token: &auth.proven.id_token,
                refresh_token_sealed: auth.proven.refresh_token.as_deref().map(|t| {
                    state
                        .secrets
                        .seal(t, Binding::RefreshToken { session: &id_hash })
                }),
                access_expires_at: auth.proven.access_expires_at,
            }),
        })
        .await?;
    Ok(SignedIn {
        token,
        return_to: safe_return_to(return_to).unwrap_or("/").to_owned(),
    })
}

async fn audit_failure(state: &Services, ip: &str, failure: &Failure, user: Option<i64>) {
    let mut entry = AuditEntry::new(AuditEvent::OidcLoginFailed, state.clock.now())
        .ip(ip)
        .detail("reason", failure.reason());
    if let Some(username) = failure.username() {
        entry = entry.detail("username", username);
    }
    if let Some(id) = user {
        entry = entry.target(id);
    }
    if let Err(e) = state.db.audit(entry).await {
        tracing::warn!(error = %e, "could not write the audit log");
    }
    tracing::info!(reason = %failure, "OIDC sign-in failed");
}

/// Applies the claims of a refreshed ID token to its user: email, display name and groups,
/// under the same rules as at sign-in.
pub async fn resync(
    state: &Services,
    user_id: i64,
    token_claims: &Value,
    s: &StoredSettings,
) -> AppResult<()> {
    let Some(user) = state.db.user_by_id(user_id).await? else {
        return Ok(());
    };
    let now = state.clock.now();
    let plan = decision::refresh_plan(
        user_id,
        &facts::grants_of(&state.db, &user).await?,
        claims_of(token_claims, None, s),
        &state.db.group_mappings().await?,
        SyncMode::parse(&s.group_sync_mode),
        now,
    );
    state
        .db
        .apply_sign_in(plan, now, state.config.force_disable_oidc)
        .await?;
    Ok(())
}
