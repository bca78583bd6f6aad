//! Confidential clients against the real provider (end2end/provider, npm oidc-provider):
//! sign-in with the client secret sent the way the provider advertises (HTTP Basic, or in the
//! form when that is all it lists), a refresh that rotates the refresh token, and a rotated
//! token presented again, which makes the provider revoke the grant and so ends the session
//! at its next refresh (spec section 7).

use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use crate::real_idp::RealIdp;
use crate::replicas::client;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use grimmory::auth::refresh::{refresh_session, Outcome, MARGIN_MS};
use grimmory::auth::session::hash_token;
use grimmory::crypto::Binding;
use grimmory::oidc_settings::reference::redirect_base;
use serde_json::{json, Value};

const BROWSER: &str = "grimmory_browser=real-provider-0123456789abcdefghijklmnop";
/// The provider's access tokens live this long: the shortest lifetime the server believes,
/// so a refresh is due a minute after the sign-in.
const ACCESS_TTL_MS: i64 = 120_000;

#[derive(Clone, Copy)]
enum SecretMethod {
    Basic,
    Post,
}

struct SignedIn {
    app: TestApp,
    idp: RealIdp,
    client_id: String,
    cookie: String,
    hash: String,
}

on_both_engines!(
    client_secret_basic_signs_in_refreshes_and_a_reused_token_ends_the_session,
    client_secret_post_signs_in_refreshes_and_a_reused_token_ends_the_session,
);

async fn client_secret_basic_signs_in_refreshes_and_a_reused_token_ends_the_session(
    engine: Engine,
) {
    journey(engine, SecretMethod::Basic).await;
}

async fn client_secret_post_signs_in_refreshes_and_a_reused_token_ends_the_session(engine: Engine) {
    journey(engine, SecretMethod::Post).await;
}

/// Alice signs in through the provider's login form with the confidential client of `method`.
/// The provider refuses a client that authenticates another way than it was registered with,
/// so a sign-in proves the method.
async fn sign_in(engine: Engine, method: SecretMethod) -> SignedIn {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let redirect_uri = format!(
        "{}/oauth2-callback",
        redirect_base(&app.state).await.unwrap()
    );
    let ttl = (ACCESS_TTL_MS / 1000).to_string();
    let mut options = vec!["--access-token-ttl", ttl.as_str()];
    if let SecretMethod::Post = method {
        // Only post listed: the server, which prefers basic, must send the secret in the form.
        options.extend(["--secret-method", "client_secret_post"]);
    }
    let idp = RealIdp::start_with(&redirect_uri, &options);
    let client_id = match method {
        SecretMethod::Basic => idp.confidential_client.clone(),
        SecretMethod::Post => idp.confidential_post_client.clone(),
    }
    .expect("the provider registers a client for the method");
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({
                "providerName": "Test IdP", "clientId": client_id,
                "clientSecret": idp.confidential_secret, "issuerUri": idp.issuer,
                "oidcEnabled": true, "autoProvisioning": true,
                "scopes": "openid profile email groups offline_access",
            }),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    let authorize = Request::get("/api/v1/auth/oidc/authorize")
        .header("cookie", BROWSER)
        .body(Body::empty())
        .unwrap();
    let r = app.send(authorize).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    let back = idp
        .sign_in(r.location().unwrap(), "alice", "alice-password")
        .await;
    let callback = Request::get(format!("/oauth2-callback?{back}"))
        .header("cookie", BROWSER)
        .body(Body::empty())
        .unwrap();
    let r = app.send(callback).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.location(), Some("/"), "signed in without an error");
    let cookie = r.session_cookie().expect("a session");
    let hash = hash_token(cookie.split_once('=').unwrap().1);
    SignedIn {
        app,
        idp,
        client_id,
        cookie,
        hash,
    }
}

/// The provider's refresh token stored for the session, unsealed.
async fn refresh_token_of(s: &SignedIn) -> String {
    let sealed = s
        .app
        .text(&format!(
            "SELECT refresh_token_enc FROM sessions WHERE id_hash = '{}'",
            s.hash
        ))
        .await;
    s.app
        .state
        .secrets
        .open(&sealed, Binding::RefreshToken { session: &s.hash })
        .unwrap()
}

async fn me(s: &SignedIn) -> (StatusCode, Value) {
    let r = s.app.get("/api/v1/auth/me", Some(&s.cookie)).await;
    let body = if r.status == StatusCode::OK {
        r.json()
    } else {
        Value::Null
    };
    (r.status, body)
}

async fn journey(engine: Engine, method: SecretMethod) {
    let s = sign_in(engine, method).await;
    let (status, user) = me(&s).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["username"], "alice");
    let first = refresh_token_of(&s).await;

    // Not due yet: the provider is not asked.
    assert_eq!(
        refresh_session(&s.app.state, &s.hash).await.unwrap(),
        Outcome::Skipped
    );
    s.app.clock.advance_ms(ACCESS_TTL_MS - MARGIN_MS + 1_000);
    assert_eq!(
        refresh_session(&s.app.state, &s.hash).await.unwrap(),
        Outcome::Refreshed
    );
    let second = refresh_token_of(&s).await;
    assert_ne!(first, second, "the provider rotated the refresh token");
    assert_eq!(me(&s).await.0, StatusCode::OK);

    // A copy of the rotated token presented again, as a thief would: the provider refuses it
    // and revokes the grant it belongs to, with the session's current token.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first.as_str()),
    ];
    let replay = client().post(s.idp.token_endpoint());
    let replay = match method {
        SecretMethod::Basic => replay
            .basic_auth(&s.client_id, Some(&s.idp.confidential_secret))
            .form(&form),
        SecretMethod::Post => replay.form(
            &[
                &form[..],
                &[
                    ("client_id", s.client_id.as_str()),
                    ("client_secret", s.idp.confidential_secret.as_str()),
                ],
            ]
            .concat(),
        ),
    };
    let replay = replay.send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let refusal: Value = serde_json::from_str(&replay.text().await.unwrap()).unwrap();
    assert_eq!(refusal["error"], "invalid_grant", "{refusal}");

    // The next refresh meets invalid_grant with the current token: the session ends.
    s.app.clock.advance_ms(ACCESS_TTL_MS);
    assert_eq!(
        refresh_session(&s.app.state, &s.hash).await.unwrap(),
        Outcome::Ended
    );
    assert_eq!(me(&s).await.0, StatusCode::UNAUTHORIZED);
    let events = s.app.audit_events().await;
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "SESSION_REFRESH_FAILED"
                && e["details"]["reason"] == "invalid_grant"),
        "{events:?}"
    );
}
