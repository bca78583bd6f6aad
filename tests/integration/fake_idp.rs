//! A small identity provider of our own that misbehaves on request: it serves whatever
//! discovery document, keys and token answers a test sets, on a free loopback port.

#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

pub const PATH: &str = "/application/o/fake/";

#[derive(Clone)]
pub struct Behaviour {
    pub discovery: Value,
    /// Any other status than 200 makes discovery answer it with an error body.
    pub discovery_status: u16,
    pub jwks: Value,
    pub token_status: u16,
    pub token_body: Value,
    pub redirect_discovery: bool,
    pub oversized_discovery: bool,
    pub userinfo: Value,
    pub userinfo_status: u16,
    /// When set, userinfo answers with this JWT (`application/jwt`) instead of JSON.
    pub userinfo_jwt: Option<String>,
    /// Token answers by authorization code; codes not listed get `token_body`.
    pub tokens_by_code: std::collections::HashMap<String, Value>,
    /// The answer to refresh_token grants.
    pub refresh_status: u16,
    pub refresh_body: Value,
    /// Refresh requests get no answer at all.
    pub refresh_hangs: bool,
    /// Authorization code exchanges get no answer at all.
    pub token_hangs: bool,
}

#[derive(Default, Clone)]
pub struct Seen {
    pub token_requests: Vec<(HeaderMap, String)>,
    pub userinfo_calls: usize,
    pub refresh_requests: Vec<String>,
    pub jwks_fetches: usize,
    pub discovery_fetches: usize,
    pub revocation_requests: Vec<(HeaderMap, String)>,
}

#[derive(Clone)]
struct Shared {
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Seen>>,
}

pub struct FakeIdp {
    pub base: String,
    pub issuer: String,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeIdp {
    /// Starts with a well-behaved, Authentik-shaped discovery document.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = format!("{base}{PATH}");
        let behaviour = Arc::new(Mutex::new(Behaviour {
            discovery_status: 200,
            discovery: json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}authorize/"),
                "token_endpoint": format!("{issuer}token/"),
                "userinfo_endpoint": format!("{issuer}userinfo/"),
                "jwks_uri": format!("{issuer}jwks/"),
                "end_session_endpoint": format!("{issuer}end-session/"),
                "revocation_endpoint": format!("{issuer}revoke/"),
                "response_types_supported": ["code", "id_token", "code id_token"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "backchannel_logout_supported": true,
                "subject_types_supported": ["public"],
            }),
            jwks: json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1", "n": "sXch", "e": "AQAB"}]}),
            token_status: 400,
            token_body: json!({"error": "invalid_grant"}),
            redirect_discovery: false,
            oversized_discovery: false,
            userinfo: json!({}),
            userinfo_status: 503,
            userinfo_jwt: None,
            tokens_by_code: Default::default(),
            refresh_status: 400,
            refresh_body: json!({"error": "invalid_grant"}),
            refresh_hangs: false,
            token_hangs: false,
        }));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Shared {
            behaviour: behaviour.clone(),
            seen: seen.clone(),
        };
        let app = Router::new()
            .route(
                &format!("{PATH}.well-known/openid-configuration"),
                get(discovery),
            )
            .route(&format!("{PATH}jwks/"), get(jwks))
            .route(&format!("{PATH}token/"), post(token))
            .route(&format!("{PATH}userinfo/"), get(userinfo))
            .route(&format!("{PATH}revoke/"), post(revoke))
            .with_state(shared);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            issuer,
            behaviour,
            seen,
            task,
        }
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(s): State<Shared>) -> Response {
    s.seen.lock().unwrap().discovery_fetches += 1;
    let b = s.behaviour.lock().unwrap().clone();
    if b.discovery_status != 200 {
        let status = StatusCode::from_u16(b.discovery_status).unwrap();
        return (status, "unavailable").into_response();
    }
    if b.redirect_discovery {
        return Redirect::temporary("http://127.0.0.1:9/elsewhere").into_response();
    }
    if b.oversized_discovery {
        let mut doc = b.discovery.clone();
        doc["padding"] = json!("x".repeat(2 * 1024 * 1024));
        return Json(doc).into_response();
    }
    Json(b.discovery).into_response()
}

async fn jwks(State(s): State<Shared>) -> Json<Value> {
    s.seen.lock().unwrap().jwks_fetches += 1;
    Json(s.behaviour.lock().unwrap().jwks.clone())
}

async fn userinfo(State(s): State<Shared>) -> Response {
    s.seen.lock().unwrap().userinfo_calls += 1;
    let b = s.behaviour.lock().unwrap().clone();
    if let Some(jwt) = b.userinfo_jwt {
        return ([("content-type", "application/jwt")], jwt).into_response();
    }
    (
        StatusCode::from_u16(b.userinfo_status).unwrap(),
        Json(b.userinfo),
    )
        .into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    s.seen
        .lock()
        .unwrap()
        .token_requests
        .push((headers, body.clone()));
    let b = s.behaviour.lock().unwrap().clone();
    if body.contains("grant_type=refresh_token") {
        s.seen.lock().unwrap().refresh_requests.push(body.clone());
        if b.refresh_hangs {
            std::future::pending::<()>().await;
        }
        return (
            StatusCode::from_u16(b.refresh_status).unwrap(),
            Json(b.refresh_body),
        )
            .into_response();
    }
    if b.token_hangs {
        std::future::pending::<()>().await;
    }
    let code = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned());
    let answer = code
        .and_then(|c| b.tokens_by_code.get(&c).cloned())
        .unwrap_or(b.token_body);
    (StatusCode::from_u16(b.token_status).unwrap(), Json(answer)).into_response()
}

async fn revoke(State(s): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    s.seen
        .lock()
        .unwrap()
        .revocation_requests
        .push((headers, body));
    StatusCode::OK
}

/// A provider that hangs: it accepts connections and never answers a byte. Counts the
/// connections it holds, so a test can see how many requests wait on it at once.
pub struct HangingIdp {
    pub issuer: String,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HangingIdp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}{PATH}", listener.local_addr().unwrap());
        let held = Arc::new(Mutex::new(Vec::new()));
        let holding = held.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                holding.lock().unwrap().push(conn);
            }
        });
        Self { issuer, held, task }
    }

    /// Connections accepted so far (each held open, unanswered).
    pub fn connections(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for HangingIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}
