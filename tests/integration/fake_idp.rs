//! A small identity provider of our own that misbehaves on request: it serves whatever
//! discovery document, keys and token answers a test sets, on a free loopback port. Its token
//! endpoint is as strict as a real provider's (RFC 6749 section 5.2): a code is good once, for
//! the client it was issued to, with the `redirect_uri` of its authorization request and the
//! PKCE verifier of its S256 challenge (RFC 7636 4.6), from a client that authenticates the way
//! the discovery document advertises; anything else gets `invalid_grant` or `invalid_client`.

#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PATH: &str = "/application/o/fake/";

#[derive(Clone)]
pub struct Behaviour {
    pub discovery: Value,
    /// Any other status than 200 makes discovery answer it with an error body.
    pub discovery_status: u16,
    pub jwks: Value,
    /// The client the provider knows: its ID, and its secret when it is confidential (a
    /// public client has none and authenticates with `none`: its ID in the form).
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The answer to a code exchange that passes every check.
    pub token_status: u16,
    pub token_body: Value,
    /// The answer to every code exchange from an authenticated client, before the code is
    /// looked at: a provider's own refusal (Glewlwyd answers `unauthorized_client` for a
    /// redirect URI it does not know).
    pub token_refusal: Option<(u16, Value)>,
    pub redirect_discovery: bool,
    pub oversized_discovery: bool,
    pub userinfo: Value,
    pub userinfo_status: u16,
    /// When set, userinfo answers with this JWT (`application/jwt`) instead of JSON.
    pub userinfo_jwt: Option<String>,
    /// Token answers by authorization code; codes not listed get `token_body`.
    pub tokens_by_code: HashMap<String, Value>,
    /// The answer to refresh_token grants.
    pub refresh_status: u16,
    pub refresh_body: Value,
    /// Refresh requests get no answer at all.
    pub refresh_hangs: bool,
    /// Refresh requests, once seen, wait for a permit of this semaphore before they are
    /// answered: a test holds a refresh in flight at the provider and lets it go.
    pub refresh_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Code exchanges, once seen, wait at this barrier before they are answered: two sign-ins
    /// provably at the provider at once go on together.
    pub token_barrier: Option<Arc<tokio::sync::Barrier>>,
    /// Authorization code exchanges get no answer at all.
    pub token_hangs: bool,
    /// Userinfo gets no answer at all.
    pub userinfo_hangs: bool,
    /// How long userinfo takes to answer.
    pub userinfo_delay: Duration,
}

/// What an authorization request asked for, kept with the code issued for it.
#[derive(Clone, Debug)]
struct Issued {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
}

/// The provider's redirect back to the client after a user approved a request.
#[derive(Clone, Debug)]
pub struct Grant {
    pub code: String,
    pub state: String,
    /// Set when the provider advertises `authorization_response_iss_parameter_supported`.
    pub iss: Option<String>,
}

impl Grant {
    /// The query string of the redirect back (`code`, `state`, and `iss` when advertised).
    pub fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("code", &self.code)
            .append_pair("state", &self.state);
        if let Some(iss) = &self.iss {
            q.append_pair("iss", iss);
        }
        q.finish()
    }
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
    /// Codes issued and not yet redeemed.
    issued: Arc<Mutex<HashMap<String, Issued>>>,
}

pub struct FakeIdp {
    pub base: String,
    pub issuer: String,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Seen>>,
    issued: Arc<Mutex<HashMap<String, Issued>>>,
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
            jwks: json!({"keys": [crate::signer::rsa_jwk(0, "k1")]}),
            client_id: "grimmory".to_owned(),
            client_secret: None,
            token_status: 400,
            token_body: json!({"error": "invalid_grant"}),
            token_refusal: None,
            redirect_discovery: false,
            oversized_discovery: false,
            userinfo: json!({}),
            userinfo_status: 503,
            userinfo_jwt: None,
            tokens_by_code: Default::default(),
            refresh_status: 400,
            refresh_body: json!({"error": "invalid_grant"}),
            refresh_hangs: false,
            refresh_gate: None,
            token_barrier: None,
            token_hangs: false,
            userinfo_hangs: false,
            userinfo_delay: Duration::ZERO,
        }));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let issued = Arc::new(Mutex::new(HashMap::new()));
        let shared = Shared {
            behaviour: behaviour.clone(),
            seen: seen.clone(),
            issued: issued.clone(),
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
            issued,
            task,
        }
    }

    /// The user approves the authorization request `authorize_url` (the app's redirect to the
    /// provider): checked as a provider that requires PKCE S256 checks it, it gets a fresh
    /// code, good for one exchange. Panics on a request a provider would refuse: the app
    /// sent it.
    pub fn approve(&self, authorize_url: &str) -> Grant {
        let url = url::Url::parse(authorize_url).expect("an authorization URL");
        let param = |k: &str| {
            let mut values = url.query_pairs().filter(|(n, _)| n == k);
            let value = values.next().map(|(_, v)| v.into_owned());
            assert!(values.next().is_none(), "{k} sent twice: {authorize_url}");
            value
        };
        let b = self.behaviour.lock().unwrap().clone();
        assert_eq!(
            param("response_type").as_deref(),
            Some("code"),
            "{authorize_url}"
        );
        assert_eq!(
            param("client_id"),
            Some(b.client_id.clone()),
            "{authorize_url}"
        );
        assert_eq!(
            param("code_challenge_method").as_deref(),
            Some("S256"),
            "{authorize_url}"
        );
        let issued = Issued {
            client_id: b.client_id,
            redirect_uri: param("redirect_uri").expect("a redirect_uri"),
            code_challenge: param("code_challenge").expect("a code_challenge"),
        };
        let code = random_code();
        self.issued.lock().unwrap().insert(code.clone(), issued);
        let advertises_iss = b
            .discovery
            .get("authorization_response_iss_parameter_supported")
            == Some(&json!(true));
        Grant {
            code,
            state: param("state").expect("a state"),
            iss: advertises_iss.then(|| self.issuer.clone()),
        }
    }

    /// The user approved an authorization request the client ran itself (a mobile app asks
    /// the provider directly): `code` is issued for `redirect_uri` and the S256 challenge of
    /// `verifier`, good for one exchange.
    pub fn issue_code(&self, code: &str, redirect_uri: &str, verifier: &str) {
        let client_id = self.behaviour.lock().unwrap().client_id.clone();
        let issued = Issued {
            client_id,
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        };
        self.issued.lock().unwrap().insert(code.to_owned(), issued);
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
    if b.userinfo_hangs {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(b.userinfo_delay).await;
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
        .push((headers.clone(), body.clone()));
    let b = s.behaviour.lock().unwrap().clone();
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("grant_type") == Some("refresh_token") {
        s.seen.lock().unwrap().refresh_requests.push(body.clone());
        if b.refresh_hangs {
            std::future::pending::<()>().await;
        }
        if let Some(gate) = &b.refresh_gate {
            let _pass = gate.acquire().await;
        }
        if let Some(refusal) = client_refusal(&b, &headers, &form) {
            return refusal;
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
    if let Some(barrier) = &b.token_barrier {
        barrier.wait().await;
    }
    if let Some(refusal) = client_refusal(&b, &headers, &form) {
        return refusal;
    }
    if field("grant_type") != Some("authorization_code") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if let Some((status, body)) = b.token_refusal {
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    let Some(code) = field("code") else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    // Taken out whatever follows: a code is good for one try (RFC 6749 4.1.2).
    let Some(issued) = s.issued.lock().unwrap().remove(code) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier_matches = field("code_verifier").is_some_and(|v| {
        URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == issued.code_challenge
    });
    if issued.client_id != b.client_id
        || field("redirect_uri") != Some(issued.redirect_uri.as_str())
        || !verifier_matches
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let answer = b.tokens_by_code.get(code).cloned().unwrap_or(b.token_body);
    (StatusCode::from_u16(b.token_status).unwrap(), Json(answer)).into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// RFC 6749 2.3: the client authenticates with exactly one method, one the provider
/// advertises (OIDC Discovery's default is `client_secret_basic`); a public client sends its
/// ID alone (`none`). Answers the refusal of a client that fails: 401 `invalid_client` (with
/// a challenge when it tried HTTP Basic).
fn client_refusal(
    b: &Behaviour,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<Response> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|encoded| {
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .unwrap_or_default();
            let (id, secret) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
            // RFC 6749 2.3.1: each part was form-encoded before the two were joined.
            let plain = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (plain(id), plain(secret))
        });
    let posted = form.get("client_secret");
    let (method, id, secret) = match (&basic, posted) {
        (Some(_), Some(_)) => return Some(oauth_error(StatusCode::BAD_REQUEST, "invalid_request")),
        (Some((id, secret)), None) => ("client_secret_basic", Some(id), Some(secret)),
        (None, Some(secret)) => ("client_secret_post", form.get("client_id"), Some(secret)),
        (None, None) => ("none", form.get("client_id"), None),
    };
    let advertised = b
        .discovery
        .get("token_endpoint_auth_methods_supported")
        .cloned()
        .unwrap_or_else(|| json!(["client_secret_basic"]));
    let allowed = match (&b.client_secret, secret) {
        (Some(registered), Some(given)) => {
            given == registered
                && advertised
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(method)))
        }
        (None, None) => true,
        _ => false,
    };
    let same_client =
        id == Some(&b.client_id) && form.get("client_id").is_none_or(|f| f == &b.client_id);
    if allowed && same_client {
        return None;
    }
    let mut refusal = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    if basic.is_some() {
        refusal
            .headers_mut()
            .insert("www-authenticate", "Basic realm=\"fake\"".parse().unwrap());
    }
    Some(refusal)
}

fn random_code() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
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
