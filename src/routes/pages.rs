//! The server-rendered pages, and where a request for one goes when it cannot be shown yet.

use crate::error::AppError;
use crate::http::session::SignedIn;
use crate::AppState;
use app::domain::PageContext;
use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos_axum::{generate_route_list, LeptosRoutes};

/// Pages anyone may open; the rest need a session.
const PUBLIC_PAGES: &[&str] = &["/login", "/setup"];

pub fn router(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(app::App);
    let options = state.leptos.clone();
    Router::new()
        .leptos_routes(state, routes, move || app::shell(options.clone()))
        .layer(from_fn_with_state(state.clone(), guard))
}

/// Until setup is done every page goes to /setup; after it, /setup goes to /login. Pages that
/// need a session send strangers to /login, remembering where they were going.
async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Owned copies: a borrowed `Request` cannot be held across an await (its body is not Sync).
    let signed_in = req.extensions().get::<SignedIn>().cloned();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    match decide(
        &state,
        req.uri().path().to_owned(),
        &target,
        signed_in.is_some(),
    )
    .await
    {
        Ok(Some(location)) => Redirect::to(&location).into_response(),
        Ok(None) => match page_context(&state, signed_in).await {
            Ok(ctx) => {
                req.extensions_mut().insert(ctx);
                next.run(req).await
            }
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

async fn decide(
    state: &AppState,
    path: String,
    target: &str,
    signed_in: bool,
) -> Result<Option<String>, AppError> {
    let path = path.as_str();
    let setup_done = state.db.setup_completed().await?;
    Ok(if !setup_done {
        (path != "/setup").then(|| "/setup".to_owned())
    } else if path == "/setup" {
        Some("/login".to_owned())
    } else if path == "/login" && signed_in {
        Some("/".to_owned())
    } else if !signed_in && !PUBLIC_PAGES.contains(&path) {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("returnTo", target)
            .finish();
        Some(format!("/login?{query}"))
    } else {
        None
    })
}

async fn page_context(
    state: &AppState,
    signed_in: Option<SignedIn>,
) -> Result<PageContext, AppError> {
    let user = match signed_in {
        Some(s) => Some(state.db.user_dto(&s.user).await?),
        None => None,
    };
    Ok(PageContext {
        user,
        setup_token_required: state.setup_token.is_some(),
    })
}
