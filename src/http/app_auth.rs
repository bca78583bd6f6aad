//! App credentials on the JSON API (spec section 11.1), beside the session cookie:
//! `Authorization: Bearer <access token>` (mobile and device grants) and `Authorization:
//! Basic` with the username and an app password. One extractor, [`Caller`], says which
//! credential, which user and which scope. Read-only grants may only GET (403 otherwise);
//! bad credentials get 401 with `WWW-Authenticate` for their scheme. App credentials are
//! never ambient (a browser does not add them to another site's requests), so the CSRF guard
//! leaves them alone ([`carries_app_credential`]); and whatever needs a session refuses them
//! (`session::AppCredential`).

use super::client::Client;
use super::session::{AppCredential, SignedIn};
use crate::db::User;
use crate::error::AppError;
use crate::grants::{app_passwords, tokens, Authenticated, Scope};
use crate::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Where a request authenticates by what it posts (OAuth token requests, the device's code
/// request, a provider's logout token, the mobile app's sign-in): an `Authorization` header
/// there is not ours to read.
const OWN_AUTHENTICATION: &[&str] = &[
    "/api/v1/auth/token",
    "/api/v1/auth/device/code",
    "/api/v1/auth/refresh",
    "/api/v1/auth/oidc/backchannel-logout",
    "/api/v1/auth/oidc/state",
    "/api/v1/auth/oidc/mobile/callback",
    "/api/v1/auth/oidc/redirect",
];

/// Which credential a request came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session,
    /// An access token of a mobile or device grant.
    Bearer,
    /// An app password.
    Basic,
}

/// Who calls the JSON API, with which credential and scope.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub credential: Credential,
    pub scope: Scope,
    /// The app grant, for Bearer and Basic.
    pub grant_id: Option<i64>,
}

/// An app's caller, as `resolve` found it.
#[derive(Debug, Clone)]
struct AppCaller(Authenticated, Credential);

enum Presented {
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    /// The scheme is ours but what follows it is not a credential.
    Malformed(Credential),
}

/// The app credential in the `Authorization` header; `None` without one (or with a scheme
/// we do not take, which is then ignored like any unknown header).
fn presented(headers: &HeaderMap) -> Option<Presented> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(if rest.is_empty() {
            Presented::Malformed(Credential::Bearer)
        } else {
            Presented::Bearer(rest.to_owned())
        });
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let pair = decoded.as_deref().and_then(|d| d.split_once(':'));
        return Some(match pair {
            Some((username, password)) if !password.is_empty() => Presented::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            },
            _ => Presented::Malformed(Credential::Basic),
        });
    }
    None
}

/// Whether the request carries an app credential (the CSRF guard does not apply to it).
pub fn carries_app_credential(headers: &HeaderMap) -> bool {
    presented(headers).is_some()
}

/// A 401 that tells the client which scheme to answer with.
fn challenge(credential: Credential, message: String) -> Response {
    let scheme = match credential {
        Credential::Basic => "Basic realm=\"grimmory\", charset=\"UTF-8\"",
        _ => "Bearer realm=\"grimmory\", error=\"invalid_token\"",
    };
    let mut res = AppError::Unauthorized(message).into_response();
    res.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
    res
}

/// Checks the app credential of an API request, if it has one, before any handler: a
/// request with one is that app's, never the session's the browser may also send.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/") || OWN_AUTHENTICATION.contains(&path) {
        return next.run(req).await;
    }
    let Some(presented) = presented(req.headers()) else {
        return next.run(req).await;
    };
    let ip = req
        .extensions()
        .get::<Client>()
        .map(Client::ip_string)
        .unwrap_or_default();
    let (found, credential) = match presented {
        Presented::Bearer(token) => {
            let found = tokens::authenticate(&state, &token, &ip).await;
            let invalid = "The access token is not valid. Refresh it or sign in again.";
            (
                found.and_then(|a| a.ok_or_else(|| AppError::Unauthorized(invalid.to_owned()))),
                Credential::Bearer,
            )
        }
        Presented::Basic { username, password } => (
            app_passwords::authenticate(&state, &username, &password, &ip).await,
            Credential::Basic,
        ),
        Presented::Malformed(credential) => (
            Err(AppError::Unauthorized(
                "The Authorization header could not be read.".to_owned(),
            )),
            credential,
        ),
    };
    let app = match found {
        Ok(app) => app,
        Err(AppError::Unauthorized(message)) => return challenge(credential, message),
        Err(e) => return e.into_response(),
    };
    if app.scope == Scope::Read && !matches!(*req.method(), Method::GET | Method::HEAD) {
        return AppError::Forbidden(
            "This app has read-only access: it can only read, not change anything.".to_owned(),
        )
        .into_response();
    }
    let extensions = req.extensions_mut();
    extensions.remove::<SignedIn>();
    extensions.insert(AppCredential);
    extensions.insert(AppCaller(app, credential));
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        if let Some(AppCaller(app, credential)) = parts.extensions.get::<AppCaller>() {
            return Ok(Self {
                user: app.user.clone(),
                credential: *credential,
                scope: app.scope,
                grant_id: Some(app.grant_id),
            });
        }
        let SignedIn { user } = SignedIn::from_extensions(&parts.extensions)?;
        Ok(Self {
            user,
            credential: Credential::Session,
            scope: Scope::Full,
            grant_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn credentials_are_read_by_scheme() {
        assert!(matches!(presented(&with("Bearer abc")), Some(Presented::Bearer(t)) if t == "abc"));
        assert!(
            matches!(presented(&with("bearer  abc ")), Some(Presented::Bearer(t)) if t == "abc")
        );
        assert!(matches!(
            presented(&with("Bearer")),
            Some(Presented::Malformed(Credential::Bearer))
        ));
        let basic = format!("Basic {}", STANDARD.encode("ada:k7mq2-x9d4w:x"));
        assert!(matches!(
            presented(&with(&basic)),
            Some(Presented::Basic { username, password }) if username == "ada" && password == "k7mq2-x9d4w:x"
        ));
        assert!(matches!(
            presented(&with("Basic !!!")),
            Some(Presented::Malformed(Credential::Basic))
        ));
        let no_password = format!("Basic {}", STANDARD.encode("ada:"));
        assert!(matches!(
            presented(&with(&no_password)),
            Some(Presented::Malformed(Credential::Basic))
        ));
        assert!(presented(&with("Digest x")).is_none());
        assert!(presented(&HeaderMap::new()).is_none());
    }
}
