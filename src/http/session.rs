//! Finds the signed-in user from the session cookie, once per request.

use super::cookies;
use crate::auth::session::{self as sessions, hash_token};
use crate::db::{SessionRecord, User};
use crate::error::AppError;
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The hash of the session cookie this request carried, live or not.
#[derive(Debug, Clone)]
pub struct SessionCookie(pub Option<String>);

/// The user of a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
}

pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/pkg/") {
        return next.run(req).await;
    }
    let https = req
        .extensions()
        .get::<super::client::Client>()
        .is_some_and(|c| c.https);
    let hash = cookies::find(req.headers(), cookies::SESSION, https)
        .filter(|v| !v.is_empty())
        .map(hash_token);
    if let Some(hash) = &hash {
        match sessions::live(&state, hash).await {
            Ok(Some((user, session))) => {
                req.extensions_mut().insert(SignedIn { user });
                refresh_if_due(&state, hash, &session);
            }
            Ok(None) => {}
            Err(e) => return AppError::from(e).into_response(),
        }
    }
    req.extensions_mut().insert(SessionCookie(hash));
    // After the change is stored, this replica's earlier reads no longer count: when the
    // answer is ready, or when the request is dropped half way (the client went away, the
    // database was given up on), since its writes may have committed all the same. A refusal
    // (4xx) changed nothing, so a flood of refused posts cannot keep the memory empty.
    let mut forget = ForgetOnDrop {
        recent: &state.recent,
        armed: may_change(&req),
    };
    let response = next.run(req).await;
    if response.status().is_client_error() {
        forget.armed = false;
    }
    drop(forget);
    response
}

struct ForgetOnDrop<'a> {
    recent: &'a crate::auth::recent::Recent,
    armed: bool,
}

impl Drop for ForgetOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.recent.changed();
        }
    }
}

/// The sign-in callbacks: reads by their method, but they sign in, provision users and sync
/// their groups.
const SIGN_IN_CALLBACKS: [&str; 2] = ["/oauth2-callback", "/api/v1/auth/oidc/redirect"];

/// Whether a request may change a session, a user or what a user may see: anything but a
/// read, and the sign-in callbacks.
fn may_change(req: &Request) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD)
        || SIGN_IN_CALLBACKS.contains(&req.uri().path())
}

/// An active user whose provider access token is about to go stale gets a refresh in the
/// background; the request never waits for it.
fn refresh_if_due(state: &AppState, hash: &str, session: &SessionRecord) {
    if !crate::auth::refresh::due(session, state.clock.now()) {
        return;
    }
    let (state, hash) = (state.clone(), hash.to_owned());
    tokio::spawn(async move {
        match crate::auth::refresh::refresh_session(&state, &hash).await {
            Ok(crate::auth::refresh::Outcome::Skipped) => {}
            // A refresh renews the session, syncs the user's groups or ends the session; a
            // failed one may have ended it.
            Ok(_) => state.recent.changed(),
            Err(e) => {
                e.body();
                state.recent.changed();
            }
        }
    });
}

/// Marks a request that came with an app credential (`http::app_auth`) in place of a
/// session: whatever needs a session refuses it with 403, not 401 — the caller is known, but
/// apps never reach admin, settings or grant management (spec section 11.1), so a stolen app
/// token cannot change sign-in settings or mint more tokens.
#[derive(Debug, Clone, Copy)]
pub struct AppCredential;

pub const APP_CREDENTIAL_REFUSED: &str =
    "Apps and app passwords cannot do this. Sign in to Grimmory in a browser instead.";

impl SignedIn {
    /// The signed-in user `resolve` found for a request, from its extensions.
    pub fn from_extensions(extensions: &Extensions) -> Result<Self, AppError> {
        if extensions.get::<AppCredential>().is_some() {
            return Err(AppError::Forbidden(APP_CREDENTIAL_REFUSED.to_owned()));
        }
        extensions
            .get::<SignedIn>()
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("You are not signed in.".to_owned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        Self::from_extensions(&parts.extensions)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionCookie {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        Ok(parts
            .extensions
            .get::<SessionCookie>()
            .cloned()
            .unwrap_or(SessionCookie(None)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for super::client::Client {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or_else(|| AppError::internal("client middleware missing"))
    }
}
