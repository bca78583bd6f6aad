//! Try Sign-in (spec section 12): a real authorization-code flow with the admin's unsaved
//! form, for any test user at the provider, that ends in a report instead of a session. The
//! callback runs the sign-in's own steps (the protocol's checks, the claims, the facts and the
//! pure decision) and applies nothing: no session, user, link or group change; the admin's
//! own session stays as it is.

use super::pending::{self, DryRun, Purpose};
use super::report::{self, Names};
use super::{decision, facts, Authenticated, Callback, Failure, Intent};
use crate::auth::limits;
use crate::auth::session::hash_token;
use crate::crypto::Binding;
use crate::db::pending_logins::{PendingLogin, TrialForm};
use crate::db::{AuditEntry, AuditEvent, User};
use crate::error::{AppError, AppResult};
use crate::oidc::client::random_value;
use crate::oidc::flow;
use crate::oidc_settings::{reference, unsaved, StoredSettings};
use crate::state::Services;
use app::domain::{SettingsPatch, SignInTrialReport, TrySignInStarted};

/// Where a dry run's report is shown.
pub fn report_path(id: &str) -> String {
    format!("/settings/oidc/try/{id}")
}

/// Who starts a dry run, and from where.
pub struct Starter<'a> {
    pub admin: &'a User,
    /// The hash of the admin's session: the provider's redirect must come back to it.
    pub session_hash: Option<&'a str>,
    pub browser_id: &'a str,
    pub ip: &'a str,
    /// The origin the admin's request came to.
    pub own_origin: Option<&'a str>,
}

/// Starts a dry run with the unsaved form `patch` (the secret rule of Test Connection):
/// answers the provider's sign-in URL with `prompt=login`.
pub async fn start(
    state: &Services,
    by: Starter<'_>,
    patch: &SettingsPatch,
) -> AppResult<TrySignInStarted> {
    // The escape hatch means no trip to the provider at all, a dry one included.
    if state.config.force_disable_oidc {
        return Err(AppError::Forbidden(
            "OIDC is turned off by FORCE_DISABLE_OIDC=true, Try Sign-in too.".to_owned(),
        ));
    }
    let form = unsaved::form(state, patch, "try a sign-in").await?;
    let Some(session_hash) = by.session_hash else {
        return Err(AppError::Forbidden(
            "Try Sign-in runs from a browser session.".to_owned(),
        ));
    };
    limits::start(state, by.ip).await?;
    // The redirect URI the form would use once saved from here, as Test Connection sends it:
    // the provider's answer must come back to this browser's cookies.
    let redirect_uri = format!(
        "{}/oauth2-callback",
        reference::public_base(&state.config, by.own_origin)
    );
    let purpose = Purpose::DryRun(DryRun {
        admin_id: by.admin.id,
        session_hash,
        settings: &form.settings,
        client_secret: form.client_secret.as_deref(),
    });
    let client_key = limits::key_of(by.ip);
    let started = pending::begin(
        state,
        purpose,
        &client_key,
        by.browser_id,
        "/settings/oidc",
        &redirect_uri,
    )
    .await
    .map_err(|f| match f {
        Failure::Internal => AppError::internal("starting a dry run failed"),
        other => AppError::BadRequest(format!(
            "Could not start a sign-in at the provider ({other}). Run Test Connection to see why."
        )),
    })?;
    Ok(TrySignInStarted {
        url: started.location,
    })
}

/// Finishes a dry run at the callback: checks everything a sign-in checks, decides as a
/// sign-in decides, stores the report for the admin who started it, audits
/// OIDC_TEST_SIGN_IN, and answers the report's id. A refused check gives a report too.
pub(super) async fn finish(
    state: &Services,
    pending: PendingLogin,
    trial: TrialForm,
    request: Callback<'_>,
) -> Result<String, Failure> {
    let owner = pending.link_user_id.ok_or(Failure::Internal)?;
    let settings: StoredSettings = serde_json::from_str(&trial.settings)
        .map_err(|e| Failure::internal(AppError::internal(e)))?;
    let secret = match &trial.secret {
        Some(sealed) => Some(
            state
                .secrets
                .open(
                    sealed,
                    Binding::TrialSecret {
                        state: &pending.state_hash,
                    },
                )
                .map_err(|e| Failure::internal(AppError::internal(e)))?,
        ),
        None => None,
    };
    // Bound to the admin's session as well as to the browser: another session in this
    // browser gets no report of theirs.
    let proven = if request.previous_session == Some(trial.session_hash.as_str()) {
        state
            .oidc
            .redeem(
                &pending::code_flow(&pending, secret.as_deref()),
                request.query,
            )
            .await
    } else {
        Err(flow::Failure::StateMismatch)
    };
    let now = state.clock.now();
    let issuer = pending.issuer.clone();
    let report = match proven {
        Err(f) => report::failed(&issuer, &f, now),
        Ok(proven) => {
            // A dry run decides as a sign-in would, never as a link.
            let auth = Authenticated {
                issuer: pending.issuer,
                intent: Intent::Login,
                proven,
            };
            let facts = facts::load(&state.db, &auth, &settings, request.ip)
                .await
                .map_err(Failure::internal)?;
            let decided = decision::decide(&facts);
            let names = names(state, &decided).await.map_err(Failure::internal)?;
            report::proven(&auth.proven, &settings, &facts, &decided, &names, now)
        }
    };
    let id = random_value();
    let json =
        serde_json::to_string(&report).map_err(|e| Failure::internal(AppError::internal(e)))?;
    state
        .db
        .insert_sign_in_trial(&hash_token(&id), owner, &json, now)
        .await
        .map_err(Failure::internal)?;
    let entry = AuditEntry::new(AuditEvent::OidcTestSignIn, now)
        .actor(owner)
        .ip(request.ip)
        .detail("issuer", issuer.as_str())
        .detail("subject", report.subject.as_deref())
        .detail("decision", report.decision.as_str());
    state.db.audit(entry).await.map_err(Failure::internal)?;
    Ok(id)
}

/// The names the report shows: the existing user the decision names, and the libraries.
async fn names(
    state: &Services,
    decided: &Result<decision::Decision, decision::Refusal>,
) -> Result<Names, sqlx::Error> {
    use decision::Way;
    let user_id = match decided.as_ref().map(|d| &d.way) {
        Ok(
            Way::Linked(id)
            | Way::Claimed(id)
            | Way::LinkedByUsername(id)
            | Way::LinkedFromProfile(id),
        ) => Some(*id),
        _ => None,
    };
    let user = match user_id {
        Some(id) => state.db.user_by_id(id).await?.map(|u| u.username),
        None => None,
    };
    Ok(Names {
        user,
        libraries: state
            .db
            .libraries()
            .await?
            .into_iter()
            .map(|l| (l.id, l.name))
            .collect(),
    })
}

/// The report `id`, for the admin who started it, within its ten minutes; else 404.
pub async fn report(state: &Services, admin: &User, id: &str) -> AppResult<SignInTrialReport> {
    let found = state
        .db
        .sign_in_trial(&hash_token(id), admin.id, state.clock.now())
        .await?;
    let Some(json) = found else {
        return Err(AppError::NotFound(
            "No such Try Sign-in report: it expired after ten minutes, or another admin started it."
                .to_owned(),
        ));
    };
    serde_json::from_str(&json).map_err(AppError::internal)
}
