//! The server-rendered pages, and where a request for one goes when it cannot be shown yet.

use super::admin::{audit_filter, AuditQuery};
use crate::api_types::all;
use crate::auth::setup;
use crate::auth::sign_in::dry_run;
use crate::db::{AuditFilter, User};
use crate::error::AppError;
use crate::grants::{self, device};
use crate::http::client::Client;
use crate::http::cookies;
use crate::http::headers::content_security_policy;
use crate::http::session::SignedIn;
use crate::oidc_settings::{self as settings, reference};
use crate::AppState;
use app::domain::{
    AppPasswordDraft, AuditData, DashboardData, DeviceData, LibrariesData, LoginData,
    OidcSettingsData, PageContext, PageData, ProfileData, SetupData, UsersData,
};
use app::page::{Access, Page};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::nonce::use_nonce;
use leptos::prelude::use_context;
use leptos_axum::{generate_route_list_with_exclusions, LeptosRoutes, ResponseOptions};

pub fn router(state: &AppState) -> Router<AppState> {
    // Leptos would also mount every server function; `server_fns` mounts them instead, with
    // the backend they need, beside the REST handlers.
    let server_fns = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    let routes = generate_route_list_with_exclusions(app::App, Some(server_fns));
    let options = state.leptos.clone();
    Router::new()
        .leptos_routes_with_context(state, routes, page_policy, move || {
            app::shell(options.clone())
        })
        .layer(from_fn_with_state(state.clone(), guard))
}

/// Sets the page's Content-Security-Policy with the nonce Leptos gives this render's inline
/// scripts (a new one for every response).
pub(super) fn page_policy() {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let policy = content_security_policy(Some(&nonce));
    response.insert_header(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).expect("a base64url nonce keeps the policy ASCII"),
    );
}

/// Until setup is done every page goes to /setup; after it, /setup goes to /login. Pages that
/// need a session send strangers to /login, remembering where they were going. Paths that are
/// no page of the table pass through.
async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(page) = Page::at(req.uri().path()) else {
        return next.run(req).await;
    };
    // Owned copies: a borrowed `Request` cannot be held across an await (its body is not Sync).
    let signed_in = req.extensions().get::<SignedIn>().cloned();
    let client = req.extensions().get::<Client>().cloned();
    let https = client.as_ref().is_some_and(|c| c.https);
    let query = req.uri().query().map(str::to_owned);
    let path = req.uri().path().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let attempts = auto_attempts(req.headers(), https);
    let outcome = async {
        if let Some(redirect) = oidc_only_redirect(
            &state,
            page,
            query.as_deref(),
            signed_in.is_some(),
            attempts,
            https,
        )
        .await?
        {
            return Ok(Err(redirect));
        }
        match decide(&state, page, &target, signed_in.is_some()).await? {
            Some(location) => Ok(Err(Redirect::to(&location).into_response())),
            None => {
                let user = signed_in.map(|SignedIn { user }| user);
                let data = page_data(
                    &state,
                    page,
                    user.as_ref(),
                    PageRequest {
                        path: &path,
                        query: query.as_deref(),
                        client: client.as_ref(),
                    },
                )
                .await?;
                let user = match &user {
                    Some(user) => Some(crate::auth::session::view(&state, user).await?.into()),
                    None => None,
                };
                Ok(Ok(PageContext { user, data }))
            }
        }
    }
    .await;
    match outcome {
        Ok(Ok(ctx)) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        Ok(Err(response)) => response,
        Err(e) => AppError::into_response(e),
    }
}

/// Automatic trips to the provider before the login page stops and says so.
const MAX_AUTO_ATTEMPTS: u32 = 3;

fn auto_attempts(headers: &axum::http::HeaderMap, https: bool) -> u32 {
    cookies::find(headers, cookies::OIDC_ATTEMPTS, https)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// In OIDC-only mode the login page sends the browser to the provider at once, except when
/// the query says why it is here (an error, a revoked session, a sign-out, or the local form
/// asked for), so signing out never signs you straight back in and a refused account does
/// not loop. A cookie counts the trips; after three it stops (the page then says so).
async fn oidc_only_redirect(
    state: &AppState,
    page: Page,
    query: Option<&str>,
    signed_in: bool,
    attempts: u32,
    https: bool,
) -> Result<Option<Response>, AppError> {
    if page != Page::Login || signed_in || attempts >= MAX_AUTO_ATTEMPTS {
        return Ok(None);
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let has = |k: &str| {
        pairs
            .iter()
            .any(|(name, value)| name == k && !(k == "local" && value != "true"))
    };
    if ["oidcError", "reason", "signedOut", "local"]
        .iter()
        .any(|k| has(k))
    {
        return Ok(None);
    }
    if !settings::effective(state).await?.force_only || !state.db.setup_completed().await? {
        return Ok(None);
    }
    let mut location = app::api::paths::OIDC_AUTHORIZE.to_owned();
    if let Some((_, r)) = pairs.iter().find(|(k, _)| k == "returnTo") {
        if let Some(safe) = app::domain::safe_return_to(r) {
            location.push_str("?returnTo=");
            location.push_str(
                &url::form_urlencoded::byte_serialize(safe.as_bytes()).collect::<String>(),
            );
        }
    }
    let cookie = cookies::oidc_attempts(attempts + 1, https);
    Ok(Some(
        (
            [(axum::http::header::SET_COOKIE, cookie)],
            Redirect::to(&location),
        )
            .into_response(),
    ))
}

async fn decide(
    state: &AppState,
    page: Page,
    target: &str,
    signed_in: bool,
) -> Result<Option<String>, AppError> {
    let setup_done = state.db.setup_completed().await?;
    Ok(if !setup_done {
        (page != Page::Setup).then(|| Page::Setup.path().to_owned())
    } else if page == Page::Setup {
        Some(Page::Login.path().to_owned())
    } else if page == Page::Login && signed_in && !target.contains("oidcError=") {
        // A signed-in user whose OIDC linking failed lands here with the error: show it.
        Some(Page::Dashboard.path().to_owned())
    } else if !signed_in && page.access() != Access::Public {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("returnTo", target)
            .finish();
        Some(format!("{}?{query}", Page::Login.path()))
    } else {
        None
    })
}

/// What a page's data may depend on besides the user.
struct PageRequest<'a> {
    path: &'a str,
    query: Option<&'a str>,
    client: Option<&'a Client>,
}

/// Loads what `page` shows, by the page table: admin pages only for admins (others get the
/// 403 page), and a page needing a session only with one (the guard made sure of it).
async fn page_data(
    state: &AppState,
    page: Page,
    user: Option<&User>,
    PageRequest {
        path,
        query,
        client,
    }: PageRequest<'_>,
) -> Result<PageData, AppError> {
    let own_origin = client.and_then(|c| c.own_origin.as_deref());
    let signed_in = || user.ok_or_else(|| AppError::Unauthorized("You are not signed in.".into()));
    if page.access() == Access::Admin && !signed_in()?.is_admin {
        return Ok(PageData::Forbidden);
    }
    Ok(match page {
        Page::Dashboard => {
            let user = signed_in()?;
            PageData::Dashboard(DashboardData {
                libraries: all(state.db.libraries_of(user.id, user.is_admin).await?),
            })
        }
        Page::Login => PageData::Login(LoginData {
            public_settings: settings::public(state).await?,
            // Admins see why the last OIDC sign-in failed, from the audit log.
            last_oidc_failure: match user {
                Some(user) if user.is_admin => last_oidc_failure(state).await?,
                _ => None,
            },
        }),
        Page::Setup => PageData::Setup(SetupData {
            setup_token_required: setup::token_needed(
                state,
                client.is_some_and(|c| c.on_this_host),
            ),
        }),
        Page::Profile => PageData::Profile(ProfileData {
            oidc_enabled: settings::public(state).await?.oidc_enabled,
            grants: grants::list(state, signed_in()?).await?,
            app_password_draft: app_password_draft(query),
        }),
        Page::Users => PageData::Users(UsersData {
            users: all(state.db.user_views().await?),
            libraries: all(state.db.libraries().await?),
            grants: grants::by_user(state).await?,
        }),
        Page::Device => {
            let ip = client.map(Client::ip_string).unwrap_or_default();
            PageData::Device(device_page(state, signed_in()?, &ip, query).await?)
        }
        Page::Libraries => PageData::Libraries(LibrariesData {
            libraries: all(state.db.libraries().await?),
        }),
        Page::Audit => {
            // A hand-edited bad filter shows the newest entries rather than an error page.
            let q: AuditQuery = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
            let filter = audit_filter(&q).unwrap_or(AuditFilter {
                limit: 50,
                ..AuditFilter::default()
            });
            PageData::Audit(AuditData {
                entries: all(state.db.audit_entries(&filter).await?),
                users: all(state.db.user_views().await?),
            })
        }
        Page::OidcSettings => PageData::OidcSettings(Box::new(OidcSettingsData {
            reference: reference::for_admin(state, own_origin).await?,
            settings: settings::get(state).await?,
            group_mappings: all(state.db.group_mappings().await?),
            libraries: all(state.db.libraries().await?),
        })),
        // Someone else's or an expired report is not found, as at its API.
        Page::TrySignIn => {
            let id = page.param_in(path).unwrap_or_default();
            match dry_run::report(state, signed_in()?, id).await {
                Ok(report) => PageData::TrySignIn(Box::new(report)),
                Err(AppError::NotFound(_)) => PageData::NotFound,
                Err(e) => return Err(e),
            }
        }
    })
}

/// The value of `name` in a page's query string.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The app password form of `/profile` as it was when its approval went to the provider.
fn app_password_draft(query: Option<&str>) -> Option<AppPasswordDraft> {
    Some(AppPasswordDraft {
        name: query_value(query, "appPassword").filter(|n| !n.is_empty())?,
        scope: query_value(query, "scope").unwrap_or_else(|| "full".to_owned()),
    })
}

/// `/device`, with a code (`?code=`, or RFC 8628's `?user_code=`): the client it names, under
/// the wrong-code limits of an approval, or why not.
async fn device_page(
    state: &AppState,
    user: &User,
    ip: &str,
    query: Option<&str>,
) -> Result<DeviceData, AppError> {
    let needs_password = !state.db.has_identity(user.id).await?;
    let typed = query_value(query, "code").or_else(|| query_value(query, "user_code"));
    let Some(typed) = typed.filter(|c| !c.trim().is_empty()) else {
        return Ok(DeviceData {
            code: String::new(),
            client_name: None,
            error: None,
            needs_password,
        });
    };
    let code = device::normalize_user_code(&typed)
        .map(|c| device::display_user_code(&c))
        .unwrap_or_else(|| typed.chars().take(32).collect());
    let (client_name, error) = match device::describe(state, user, ip, Some(&typed)).await {
        Ok(name) => (Some(name), None),
        Err(AppError::Validation(errors)) => (None, errors.into_iter().next().map(|e| e.message)),
        Err(AppError::TooManyRequests(message)) => (None, Some(message)),
        Err(e) => return Err(e),
    };
    Ok(DeviceData {
        code,
        client_name,
        error,
        needs_password,
    })
}

/// The reason code of the last failed OIDC sign-in.
async fn last_oidc_failure(state: &AppState) -> Result<Option<String>, AppError> {
    let last_failure = AuditFilter {
        event: Some("OIDC_LOGIN_FAILED".to_owned()),
        limit: 1,
        ..AuditFilter::default()
    };
    Ok(state
        .db
        .audit_entries(&last_failure)
        .await?
        .first()
        .and_then(|e| e.details.get("reason"))
        .and_then(|r| r.as_str())
        .map(str::to_owned))
}
