//! The code exchange against a provider as strict as a real one (`fake_idp`): PKCE, the
//! redirect URI, client authentication and single-use codes are checked at its token endpoint,
//! the `iss` parameter when it advertises it; and a provider that hangs, answers slowly or
//! points at the cloud metadata service.

use crate::common::{Engine, TestApp};
use crate::oidc_settings::{status_of, test_with};
use crate::oidc_sign_in::{refused, rs256, signed_in, Flow, BROWSER, CLIENT};
use crate::on_both_engines;
use crate::replicas::client;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use grimmory::oidc::outbound::Outbound;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

on_both_engines!(
    a_code_needs_the_verifier_of_its_own_challenge,
    a_code_needs_the_redirect_uri_it_was_issued_for,
    a_code_is_good_for_one_exchange,
    a_confidential_client_authenticates_as_the_provider_advertises,
    a_missing_iss_is_refused_when_the_provider_advertises_it,
    a_token_endpoint_that_hangs_fails_the_sign_in_in_bounded_time,
    userinfo_that_hangs_or_is_slow_does_not_stop_the_sign_in,
    link_local_and_metadata_addresses_are_never_asked,
    a_name_that_resolves_to_a_link_local_address_is_never_asked,
);

/// A token for the sign-in whose nonce is `nonce`, for `sub`.
fn token_for(flow: &Flow, nonce: &str, sub: &str) -> String {
    rs256(&flow.claims(nonce, sub, sub), Some("rsa-1"), 0)
}

/// Test Connection for the test client at `issuer`: the status and message of its check `name`.
async fn check_at(flow: &Flow, issuer: &str, name: &str) -> (String, String) {
    let checks = test_with(
        &flow.app,
        &flow.admin,
        json!({"clientId": CLIENT, "issuerUri": issuer}),
    )
    .await;
    let (status, message) = status_of(&checks, name);
    (status.to_owned(), message.to_owned())
}

async fn a_code_needs_the_verifier_of_its_own_challenge(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // Two sign-ins of one browser: the code of the first injected into the second's callback
    // is exchanged with the second's verifier, which does not match the first's challenge.
    let first = flow.authorize(BROWSER, "").await;
    let second = flow.authorize(BROWSER, "").await;
    flow.answer_with(&token_for(&flow, &second.nonce, "sub-pkce"));
    let injected = format!("code={}&state={}", first.grant.code, second.state);
    refused(
        &flow.callback(BROWSER, &injected, None).await,
        "exchange_failed",
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("token_error:invalid_grant")
    );
    let (_, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    assert!(body.contains("code_verifier="), "{body}");
    assert_eq!(flow.user_count().await, 1, "only the admin");
}

async fn a_code_needs_the_redirect_uri_it_was_issued_for(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let started = flow.authorize(BROWSER, "").await;
    // The code was issued for an authorization request sent elsewhere (an attacker's copy of
    // ours), then put into our callback: our exchange names our redirect URI and is refused.
    let mut elsewhere = url::Url::parse(&started.location).unwrap();
    let pairs: Vec<(String, String)> = elsewhere
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "https://attacker.example/oauth2-callback".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    elsewhere.query_pairs_mut().clear().extend_pairs(pairs);
    let stolen = flow.idp.approve(elsewhere.as_str());
    flow.answer_with(&token_for(&flow, &started.nonce, "sub-redirect"));
    let injected = format!("code={}&state={}", stolen.code, started.state);
    refused(
        &flow.callback(BROWSER, &injected, None).await,
        "exchange_failed",
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("token_error:invalid_grant")
    );
    // The code of our own request, with our redirect URI, signs in.
    let own = flow.authorize(BROWSER, "").await;
    flow.answer_with(&token_for(&flow, &own.nonce, "sub-redirect"));
    let cookie = signed_in(&flow.callback(BROWSER, &own.grant.query(), None).await);
    assert_eq!(flow.who(&cookie).await.1, "sub-redirect");
}

async fn a_code_is_good_for_one_exchange(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let cookie = signed_in(
        &flow
            .sign_in(|f, nonce| token_for(f, nonce, "sub-once"))
            .await,
    );
    assert_eq!(flow.who(&cookie).await.1, "sub-once");
    // The exchange the server made, sent again word for word, is refused.
    let (headers, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    let again = client()
        .post(format!("{}token/", flow.idp.issuer))
        .header("content-type", headers["content-type"].clone())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let answer: serde_json::Value = serde_json::from_str(&again.text().await.unwrap()).unwrap();
    assert_eq!(answer, json!({"error": "invalid_grant"}));
    // And so is the callback itself, replayed: the pending sign-in is gone, so the server
    // does not even try the code again.
    let exchanges = flow.idp.seen().token_requests.len();
    let started = flow.authorize(BROWSER, "").await;
    flow.answer_with(&token_for(&flow, &started.nonce, "sub-once"));
    signed_in(&flow.callback(BROWSER, &started.grant.query(), None).await);
    refused(
        &flow.callback(BROWSER, &started.grant.query(), None).await,
        "state_mismatch",
    );
    assert_eq!(flow.idp.seen().token_requests.len(), exchanges + 1);
}

async fn a_confidential_client_authenticates_as_the_provider_advertises(engine: Engine) {
    let secret = "s3cret: with & odd + characters";
    let flow = Flow::new(
        engine,
        json!({"autoProvisioning": true, "clientSecret": secret}),
    )
    .await;
    flow.idp.set(|b| b.client_secret = Some(secret.to_owned()));
    // Both methods advertised: HTTP Basic, each part form-encoded (RFC 6749 2.3.1).
    let cookie = signed_in(
        &flow
            .sign_in(|f, nonce| token_for(f, nonce, "sub-basic"))
            .await,
    );
    assert_eq!(flow.who(&cookie).await.1, "sub-basic");
    let (headers, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    assert_eq!(
        headers["authorization"].to_str().unwrap(),
        format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT}:{}", encoded(secret)))
        )
    );
    assert!(!body.contains("client_secret"), "{body}");
    // Only client_secret_post advertised: the secret goes in the form, and Basic would be
    // refused.
    flow.idp.set(|b| {
        b.discovery["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"])
    });
    flow.app.state.oidc.forget_providers();
    let cookie = signed_in(
        &flow
            .sign_in(|f, nonce| token_for(f, nonce, "sub-post"))
            .await,
    );
    assert_eq!(flow.who(&cookie).await.1, "sub-post");
    let (headers, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    assert!(headers.get("authorization").is_none());
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    assert!(form.contains(&("client_secret".to_owned(), secret.to_owned())));
    assert!(form.contains(&("client_id".to_owned(), CLIENT.to_owned())));
    // The provider changes the secret: the server's is refused as the client's fault.
    flow.idp
        .set(|b| b.client_secret = Some("rotated at the provider".to_owned()));
    refused(
        &flow
            .sign_in(|f, nonce| token_for(f, nonce, "sub-post"))
            .await,
        "exchange_failed",
    );
    assert_eq!(flow.last_failure().await.as_deref(), Some("invalid_client"));
    // A public client (no secret) where the provider expects one: refused the same way.
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"clearClientSecret": true}),
            Some(&flow.admin),
        )
        .await;
    let r = flow
        .sign_in(|f, nonce| token_for(f, nonce, "sub-post"))
        .await;
    refused(&r, "exchange_failed");
    let (_, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    assert!(!body.contains("client_secret"), "{body}");
    assert_eq!(flow.last_failure().await.as_deref(), Some("invalid_client"));
}

async fn a_missing_iss_is_refused_when_the_provider_advertises_it(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    flow.idp
        .set(|b| b.discovery["authorization_response_iss_parameter_supported"] = json!(true));
    flow.app.state.oidc.forget_providers();
    // The provider names itself in the redirect back (RFC 9207): accepted.
    let started = flow.authorize(BROWSER, "").await;
    assert_eq!(started.grant.iss.as_deref(), Some(flow.idp.issuer.as_str()));
    flow.answer_with(&token_for(&flow, &started.nonce, "sub-iss"));
    let cookie = signed_in(&flow.callback(BROWSER, &started.grant.query(), None).await);
    assert_eq!(flow.who(&cookie).await.1, "sub-iss");
    // The same redirect without it (a mix-up attack strips it): refused before the code is
    // exchanged, and the pending sign-in is used up.
    let started = flow.authorize(BROWSER, "").await;
    flow.answer_with(&token_for(&flow, &started.nonce, "sub-iss"));
    let exchanges = flow.idp.seen().token_requests.len();
    let stripped = format!("code={}&state={}", started.grant.code, started.state);
    refused(
        &flow.callback(BROWSER, &stripped, None).await,
        "state_mismatch",
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("iss_param_mismatch")
    );
    assert_eq!(flow.idp.seen().token_requests.len(), exchanges);
    refused(
        &flow.callback(BROWSER, &started.grant.query(), None).await,
        "state_mismatch",
    );
    assert_eq!(flow.idp.seen().token_requests.len(), exchanges);
}

async fn a_token_endpoint_that_hangs_fails_the_sign_in_in_bounded_time(engine: Engine) {
    let timeout = Duration::from_millis(500);
    let app = TestApp::with_outbound_timeout(engine, timeout).await;
    let flow = Flow::on(app, json!({"autoProvisioning": true})).await;
    flow.idp.set(|b| b.token_hangs = true);
    let began = Instant::now();
    let r = flow
        .sign_in(|f, nonce| token_for(f, nonce, "sub-hang"))
        .await;
    let took = began.elapsed();
    refused(&r, "provider_unreachable");
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("provider_unreachable")
    );
    assert!(took >= timeout, "answered in {took:?}, before the timeout");
    assert!(took < timeout * 10, "took {took:?}");
    assert_eq!(flow.idp.seen().userinfo_calls, 0);
    // The provider answers again: the next sign-in goes through.
    flow.idp.set(|b| b.token_hangs = false);
    let cookie = signed_in(
        &flow
            .sign_in(|f, nonce| token_for(f, nonce, "sub-hang"))
            .await,
    );
    assert_eq!(flow.who(&cookie).await.1, "sub-hang");
}

async fn userinfo_that_hangs_or_is_slow_does_not_stop_the_sign_in(engine: Engine) {
    let timeout = Duration::from_secs(2);
    let app = TestApp::with_outbound_timeout(engine, timeout).await;
    let flow = Flow::on(app, json!({"autoProvisioning": true})).await;
    let without_name = |f: &Flow, nonce: &str| {
        let mut c = f.claims(nonce, "sub-ui", "uma");
        c.as_object_mut().unwrap().remove("name");
        rs256(&c, Some("rsa-1"), 0)
    };
    // Slow, within the timeout: its claims count.
    flow.idp.set(|b| {
        b.userinfo_status = 200;
        b.userinfo = json!({"sub": "sub-ui", "name": "Uma from userinfo"});
        b.userinfo_delay = Duration::from_millis(200);
    });
    let cookie = signed_in(&flow.sign_in(without_name).await);
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["name"], "Uma from userinfo");
    // Hanging: after the timeout the ID token's claims are enough, and the audit log says
    // why userinfo was left out.
    flow.idp.set(|b| b.userinfo_hangs = true);
    let calls = flow.idp.seen().userinfo_calls;
    let began = Instant::now();
    let cookie = signed_in(&flow.sign_in(without_name).await);
    let took = began.elapsed();
    assert!(took >= timeout && took < timeout * 5, "took {took:?}");
    assert_eq!(flow.idp.seen().userinfo_calls, calls + 1);
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["username"], "uma");
    let success = flow
        .app
        .audit_events()
        .await
        .into_iter()
        .find(|e| e["event"] == "OIDC_LOGIN_SUCCESS")
        .unwrap();
    assert_eq!(
        success["details"]["warning"],
        "userinfo unavailable: timed out after 2 s"
    );
}

/// Spec section 9: link-local and cloud-metadata addresses are refused, written plainly or in
/// disguise, and also when the provider's own discovery document points there.
async fn link_local_and_metadata_addresses_are_never_asked(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let refusal = "refused: the address is link-local or a cloud metadata service";
    for issuer in [
        "https://169.254.169.254/",
        // The same address as one number, and inside an IPv4-mapped IPv6 address.
        "https://2852039166/",
        "https://[::ffff:169.254.169.254]/",
        "https://[fe80::1]/",
        "https://100.100.100.200/",
    ] {
        let (status, message) = check_at(&flow, issuer, "Discovery Document").await;
        assert_eq!(status, "FAIL", "{issuer}");
        assert!(message.contains(refusal), "{issuer}: {message}");
    }
    // A provider whose discovery document sends the keys and the code exchange there.
    flow.idp.set(|b| {
        b.discovery["jwks_uri"] = json!("http://169.254.169.254/latest/meta-data/keys");
        b.discovery["token_endpoint"] = json!("http://169.254.169.254/latest/api/token");
    });
    flow.app.state.oidc.forget_providers();
    let (status, message) = check_at(&flow, &flow.idp.issuer, "JWKS Keys").await;
    assert_eq!(status, "FAIL");
    assert!(message.contains(refusal), "{message}");
    let before = flow.idp.seen().token_requests.len();
    refused(
        &flow
            .sign_in(|f, nonce| token_for(f, nonce, "sub-meta"))
            .await,
        "provider_unreachable",
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("provider_unreachable")
    );
    assert_eq!(flow.idp.seen().token_requests.len(), before);
    // Saved as the issuer, it never gets a sign-in started.
    let r = flow
        .app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"issuerUri": "https://169.254.169.254/"}),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = flow
        .app
        .get(
            "/api/v1/auth/oidc/authorize",
            Some(flow.browser_cookie(BROWSER).as_str()),
        )
        .await;
    assert_eq!(r.location(), Some("/login?oidcError=provider_unreachable"));
}

/// Spec section 9 for names too: a name that resolves only to the metadata service is refused
/// when resolved, and a name with a usable address besides is asked only at that one.
async fn a_name_that_resolves_to_a_link_local_address_is_never_asked(engine: Engine) {
    let metadata = IpAddr::from([169, 254, 169, 254]);
    let names = HashMap::from([
        ("metadata.google.internal".to_owned(), vec![metadata]),
        (
            "idp.internal".to_owned(),
            vec![metadata, IpAddr::from([127, 0, 0, 1])],
        ),
    ]);
    let app = TestApp::with_outbound(engine, Outbound::with_pinned_names(names)).await;
    let flow = Flow::on(app, json!({})).await;
    let at = |host: &str| flow.idp.issuer.replacen("127.0.0.1", host, 1);
    let fetched = flow.idp.seen().discovery_fetches;

    let (status, message) =
        check_at(&flow, &at("metadata.google.internal"), "Discovery Document").await;
    assert_eq!(status, "FAIL");
    assert!(
        message.contains("refused: the address is link-local or a cloud metadata service"),
        "{message}"
    );
    assert_eq!(flow.idp.seen().discovery_fetches, fetched);

    // The same provider under a name that also has a link-local address: asked at 127.0.0.1
    // only, so discovery passes (the link-local address would not answer at all).
    let issuer = at("idp.internal");
    flow.idp.set(|b| b.discovery["issuer"] = json!(issuer));
    let (status, message) = check_at(&flow, &issuer, "Discovery Document").await;
    assert_eq!(status, "PASS", "{message}");
    assert!(flow.idp.seen().discovery_fetches > fetched);
}
