//! OIDC-only mode and its escape hatches (spec section 6).

use crate::common::{capture_logs, Engine, TestApp};
use crate::fake_idp::FakeIdp;
use crate::oidc_sign_in::{rs256, signed_in, Flow, CLIENT};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

on_both_engines!(
    local_sign_in_is_for_admins_only,
    the_login_page_sends_everyone_to_the_provider_without_looping,
    force_disable_oidc_wins
);

async fn oidc_only(app: &TestApp, admin: &str, idp: &FakeIdp) {
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"providerName": "Fake", "clientId": "grimmory", "issuerUri": idp.issuer, "oidcEnabled": true, "oidcForceOnlyMode": true}),
            Some(admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn local_sign_in_is_for_admins_only(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    app.create_user(
        &admin,
        json!({"username": "bob", "password": "bob password"}),
    )
    .await;
    let idp = FakeIdp::start().await;
    oidc_only(&app, &admin, &idp).await;
    let refused = app.login("bob", "bob password").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json()["message"],
        "Local login is disabled. Use OIDC to sign in."
    );
    assert!(refused.session_cookie().is_none());
    // A wrong password and an unknown user get the usual, identical answer.
    let wrong = app.login("bob", "not it").await;
    let unknown = app.login("nobody", "not it").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json(), unknown.json());
    // Admins still get in (what /login?local=true is for).
    assert_eq!(
        app.login("admin", "correct horse battery").await.status,
        StatusCode::OK
    );
    // Refused correct passwords count towards the limit too.
    for _ in 0..3 {
        app.login("bob", "bob password").await;
    }
    assert_eq!(
        app.login("bob", "bob password").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.get("/api/v1/public-settings", None).await.json()["localLoginAvailable"],
        false
    );
    // Existing sessions are not ended by turning the mode on.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&admin)).await.status,
        StatusCode::OK
    );
}

async fn login_page(app: &TestApp, query: &str, attempts: Option<u32>) -> crate::common::Reply {
    let mut req = Request::get(format!("/login{query}"));
    if let Some(n) = attempts {
        req = req.header("cookie", format!("grimmory_oidc_attempts={n}"));
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

async fn the_login_page_sends_everyone_to_the_provider_without_looping(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let r = flow
        .app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcForceOnlyMode": true}),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Straight to the provider, counting the trips, keeping where the user was going.
    let first = login_page(&flow.app, "?returnTo=%2Fprofile", None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(
        first.location(),
        Some("/api/v1/auth/oidc/authorize?returnTo=%2Fprofile")
    );
    assert!(first
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("grimmory_oidc_attempts=1;"));
    let second = login_page(&flow.app, "", Some(2)).await;
    assert!(second
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("grimmory_oidc_attempts=3;"));
    // After three it stops and says so, with the way to the local form.
    let stopped = login_page(&flow.app, "", Some(3)).await;
    assert_eq!(stopped.status, StatusCode::OK);
    assert!(stopped
        .text()
        .contains("Unable to reach the identity provider. Please contact your administrator."));
    assert!(stopped.text().contains("/login?local=true"));
    // Each marker shows the page instead: no bouncing back after a sign-out or an error.
    for marker in [
        "?signedOut=1",
        "?oidcError=not_provisioned",
        "?reason=session_revoked",
        "?local=true",
    ] {
        let r = login_page(&flow.app, marker, None).await;
        assert_eq!(r.status, StatusCode::OK, "{marker}");
    }
    // A successful sign-in resets the count.
    let r = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-o", "olga"), Some("rsa-1"), 0))
        .await;
    signed_in(&r);
    assert!(r.headers.get_all("set-cookie").iter().any(|c| c
        .to_str()
        .unwrap()
        .starts_with("grimmory_oidc_attempts=;")
        && c.to_str().unwrap().contains("Max-Age=0")));
}

async fn force_disable_oidc_wins(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.force_disable_oidc = Some("true".to_owned())
    })
    .await;
    let admin = app.setup_admin().await;
    app.create_user(
        &admin,
        json!({"username": "bob", "password": "bob password"}),
    )
    .await;
    let idp = FakeIdp::start().await;
    oidc_only(&app, &admin, &idp).await;
    // Saved as on, in force as off.
    assert_eq!(
        app.get("/api/v1/public-settings", None).await.json(),
        json!({"oidcEnabled": false, "oidcProviderName": "", "oidcForceOnlyMode": false, "localLoginAvailable": true})
    );
    assert_eq!(
        app.login("bob", "bob password").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/auth/oidc/authorize", None)
            .await
            .location(),
        Some("/login?oidcError=oidc_disabled")
    );
    assert_eq!(
        app.get("/oauth2-callback?code=x&state=y", None)
            .await
            .location(),
        Some("/login?oidcError=oidc_disabled")
    );
    // A logout token the provider signed, that the same database without the variable
    // accepts, is refused: it is the variable that refuses it.
    let now = {
        use grimmory::clock::Clock;
        app.clock.now() / 1000
    };
    let token = rs256(
        &json!({"iss": idp.issuer, "aud": CLIENT, "iat": now, "exp": now + 120, "sub": "sub-bob",
            "jti": "jti-forced", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
        Some("k1"),
        0,
    );
    let logout = || {
        Request::post("/api/v1/auth/oidc/backchannel-logout")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("logout_token={token}")))
            .unwrap()
    };
    let (logs, guard) = capture_logs();
    let bc = app.send(logout()).await;
    drop(guard);
    assert_eq!(bc.status, StatusCode::BAD_REQUEST);
    assert_eq!(bc.json(), json!({"error": "invalid_request"}));
    assert!(
        logs.text()
            .contains("back-channel logout refused reason=\"OIDC is off\""),
        "{}",
        logs.text()
    );
    let unforced = TestApp::on_database(engine, &app.database_url, |_| {}).await;
    assert_eq!(unforced.send(logout()).await.status, StatusCode::OK);
    assert_eq!(login_page(&app, "", None).await.status, StatusCode::OK);
    assert!(!login_page(&app, "", None)
        .await
        .text()
        .contains("Sign in with"));
}

on_both_engines!(locked_out_admin_recovers_from_the_command_line);

/// OIDC-only on, the provider down, the admin's password forgotten: the recovery command
/// sets a new one and the admin signs in locally.
async fn locked_out_admin_recovers_from_the_command_line(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    let idp = FakeIdp::start().await;
    oidc_only(&app, &admin, &idp).await;
    drop(idp);
    assert_eq!(
        app.login("admin", "what was it again").await.status,
        StatusCode::UNAUTHORIZED
    );
    let (ok, _, err) = app.cli(&["admin", "reset-password", "admin"], "back in business\n");
    assert!(ok, "{err}");
    // The login page with local=true shows the form; the admin gets in.
    assert_eq!(
        login_page(&app, "?local=true", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("admin", "back in business").await.status,
        StatusCode::OK
    );
}
