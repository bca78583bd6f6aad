//! Sign-in against a provider that rotates its keys, names another issuer, is down, or signs
//! its userinfo badly.

use crate::common::Engine;
use crate::oidc_settings::{status_of, test_with};
use crate::oidc_sign_in::{refused, rs256, signed_in, Flow, BROWSER, CLIENT};
use crate::on_both_engines;
use crate::signer::{rsa_jwk, sign, Key};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

on_both_engines!(
    key_rotation_seconds_after_the_first_sign_in,
    a_discovery_document_for_another_issuer_is_refused,
    a_failed_discovery_is_remembered_briefly,
    a_badly_signed_userinfo_fails_the_sign_in,
);

async fn key_rotation_seconds_after_the_first_sign_in(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-1", "una"), Some("rsa-1"), 0))
            .await,
    );
    // The provider rotates its key a few seconds after Grimmory first fetched the old one.
    flow.idp
        .set(|b| b.jwks = json!({"keys": [rsa_jwk(1, "rsa-2")]}));
    flow.app.clock.advance_ms(5_000);
    let fetches = flow.idp.seen().jwks_fetches;
    signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-2", "ugo"), Some("rsa-2"), 1))
            .await,
    );
    assert_eq!(flow.idp.seen().jwks_fetches, fetches + 1);
    // Made-up key ids right after do not make Grimmory fetch the keys again and again.
    for _ in 0..3 {
        let r = flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-3", "ulf"), Some("made-up"), 1))
            .await;
        refused(&r, "invalid_token");
        assert_eq!(flow.last_failure().await.as_deref(), Some("unknown_kid"));
    }
    assert_eq!(flow.idp.seen().jwks_fetches, fetches + 1);
    // A minute later an unknown key is looked for once more.
    flow.app.clock.advance_ms(61_000);
    refused(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-3", "ulf"), Some("made-up"), 1))
            .await,
        "invalid_token",
    );
    assert_eq!(flow.idp.seen().jwks_fetches, fetches + 2);
}

async fn authorize_from(flow: &Flow) -> (StatusCode, Option<String>) {
    let req = Request::get("/api/v1/auth/oidc/authorize")
        .header("cookie", format!("grimmory_browser={BROWSER}"))
        .body(Body::empty())
        .unwrap();
    let r = flow.app.send(req).await;
    (r.status, r.location().map(str::to_owned))
}

async fn a_discovery_document_for_another_issuer_is_refused(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // A sign-in under way when the document changes fails at the callback, before the code is
    // exchanged.
    let started = flow.authorize(BROWSER, "").await;
    flow.answer_with(&rs256(
        &flow.claims(&started.nonce, "sub-1", "una"),
        Some("rsa-1"),
        0,
    ));
    flow.idp
        .set(|b| b.discovery["issuer"] = json!("https://someone-else.example.com/"));
    flow.app.state.oidc.forget_providers();
    let exchanges = flow.idp.seen().token_requests.len();
    let r = flow
        .callback(BROWSER, &format!("code=c&state={}", started.state), None)
        .await;
    refused(&r, "exchange_failed");
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("issuer_mismatch")
    );
    assert_eq!(flow.idp.seen().token_requests.len(), exchanges);
    // A new sign-in is not sent to the document's authorization endpoint at all.
    flow.app.clock.advance_ms(31_000);
    let (status, location) = authorize_from(&flow).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some("/login?oidcError=exchange_failed")
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("issuer_mismatch")
    );
}

async fn a_failed_discovery_is_remembered_briefly(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    flow.idp.set(|b| b.discovery_status = 503);
    flow.app.state.oidc.forget_providers();
    let fetches = flow.idp.seen().discovery_fetches;
    let unreachable = Some("/login?oidcError=provider_unreachable".to_owned());
    assert_eq!(authorize_from(&flow).await.1, unreachable);
    assert_eq!(flow.idp.seen().discovery_fetches, fetches + 1);
    // Within 30 seconds the outage is known: no request to the provider.
    flow.app.clock.advance_ms(20_000);
    assert_eq!(authorize_from(&flow).await.1, unreachable);
    assert_eq!(flow.idp.seen().discovery_fetches, fetches + 1);
    // Test Connection always asks the provider.
    let checks = test_with(
        &flow.app,
        &flow.admin,
        json!({"clientId": CLIENT, "issuerUri": flow.idp.issuer}),
    )
    .await;
    assert_eq!(status_of(&checks, "Discovery Document").0, "FAIL");
    assert_eq!(flow.idp.seen().discovery_fetches, fetches + 2);
    // After the 30 seconds, sign-in tries again, and works once the provider is back.
    flow.idp.set(|b| b.discovery_status = 200);
    flow.app.clock.advance_ms(11_000);
    let started = flow.authorize(BROWSER, "").await;
    assert!(started.location.starts_with(&flow.idp.issuer));
    assert_eq!(flow.idp.seen().discovery_fetches, fetches + 3);
}

async fn a_badly_signed_userinfo_fails_the_sign_in(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let users = flow.user_count().await;
    let claims = json!({"sub": "sub-u", "name": "Forged", "iss": flow.idp.issuer, "aud": CLIENT});
    let cases = [
        ("signed with another key", rs256(&claims, Some("rsa-1"), 1)),
        (
            "signed by nobody",
            sign(&json!({"alg": "none"}), &claims, Key::Unsigned),
        ),
        (
            "for another client",
            rs256(
                &json!({"sub": "sub-u", "iss": flow.idp.issuer, "aud": "someone-else"}),
                Some("rsa-1"),
                0,
            ),
        ),
    ];
    for (name, jwt) in cases {
        flow.idp.set(move |b| b.userinfo_jwt = Some(jwt));
        let r = flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-u", "uma"), Some("rsa-1"), 0))
            .await;
        assert_eq!(
            r.location(),
            Some("/login?oidcError=invalid_token"),
            "{name}"
        );
        assert!(r.session_cookie().is_none(), "{name}");
        assert_eq!(
            flow.last_failure().await.as_deref(),
            Some("userinfo_invalid"),
            "{name}"
        );
    }
    assert_eq!(flow.user_count().await, users);
    // A userinfo endpoint that is down still lets the sign-in go on with the ID token.
    flow.idp.set(|b| {
        b.userinfo_jwt = None;
        b.userinfo_status = 503;
    });
    signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-u", "uma"), Some("rsa-1"), 0))
            .await,
    );
}
