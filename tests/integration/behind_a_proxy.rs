//! Running behind a reverse proxy or under https: the warning about a proxy that is not
//! trusted, the cookie names and flags, and redirect URIs no `Host` header can move.

use crate::common::{capture_logs, Engine, Reply, TestApp};
use crate::oidc_sign_in::{rs256, signed_in, Flow, BROWSER};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

on_both_engines!(
    an_untrusted_proxy_on_this_host_is_warned_about_once,
    cookies_are_host_prefixed_and_secure_under_an_https_public_url,
    a_trusted_proxy_reporting_https_makes_cookies_secure,
    redirect_uris_keep_the_origin_the_settings_were_saved_from,
    the_public_url_wins_over_any_origin,
);

const WARNING: &str = "is not in GRIMMORY_TRUSTED_PROXIES";

fn proxied(path: &str, header: (&str, &str)) -> Request<Body> {
    Request::get(path)
        .header(header.0, header.1)
        .body(Body::empty())
        .unwrap()
}

async fn an_untrusted_proxy_on_this_host_is_warned_about_once(engine: Engine) {
    let (logs, _guard) = capture_logs();
    let app = TestApp::new(engine).await;
    app.get("/api/v1/setup/status", None).await;
    assert!(!logs.text().contains(WARNING), "no proxy yet");
    for header in [
        ("x-forwarded-for", "203.0.113.7"),
        ("forwarded", "for=203.0.113.8;proto=https"),
    ] {
        let r = app.send(proxied("/api/v1/setup/status", header)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let text = logs.text();
    assert_eq!(text.matches(WARNING).count(), 1, "{text}");
    assert!(text.contains("every client looks like 127.0.0.1"), "{text}");
    assert!(
        text.contains("Set GRIMMORY_TRUSTED_PROXIES=127.0.0.1"),
        "{text}"
    );

    // A trusted proxy, or one on another host (whose address is its own), is no mistake.
    let (logs, _guard) = capture_logs();
    let trusted = TestApp::with_settings(engine, |raw| {
        raw.trusted_proxies = Some("127.0.0.1".to_owned())
    })
    .await;
    for _ in 0..2 {
        let req = proxied("/api/v1/setup/status", ("x-forwarded-for", "203.0.113.7"));
        trusted.send(req).await;
    }
    let remote = TestApp::new(engine).await;
    let req = proxied("/api/v1/setup/status", ("x-forwarded-for", "203.0.113.7"));
    remote.send_from(req, "198.51.100.2").await;
    assert!(!logs.text().contains(WARNING), "{}", logs.text());
}

/// The `Set-Cookie` of `reply` for cookie `name` (without prefix), whole.
fn set_cookie(reply: &Reply, name: &str) -> String {
    reply
        .set_cookies()
        .into_iter()
        .find(|c| c.split('=').next().is_some_and(|n| n.ends_with(name)))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", reply.set_cookies()))
}

#[track_caller]
fn host_prefixed_and_secure(cookie: &str) {
    assert!(cookie.starts_with("__Host-"), "{cookie}");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
}

async fn cookies_are_host_prefixed_and_secure_under_an_https_public_url(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.public_url = Some("https://books.example.com".to_owned())
    })
    .await;
    let flow = Flow::on(app, json!({"autoProvisioning": true})).await;
    assert!(flow.admin.starts_with("__Host-grimmory_session="));
    let me = flow.app.get("/api/v1/auth/me", Some(&flow.admin)).await;
    assert_eq!(me.status, StatusCode::OK);
    // Read by the name it was set under: the unprefixed name is a stranger's cookie here.
    let value = flow.admin.trim_start_matches("__Host-");
    let plain = flow.app.get("/api/v1/auth/me", Some(value)).await;
    assert_eq!(plain.status, StatusCode::UNAUTHORIZED);

    let started = flow.app.get("/api/v1/auth/oidc/authorize", None).await;
    assert_eq!(started.status, StatusCode::FOUND);
    host_prefixed_and_secure(&set_cookie(&started, "grimmory_browser"));

    // The callback finds the browser by the prefixed name, and answers with prefixed cookies.
    let r = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-h", "hana"), Some("rsa-1"), 0))
        .await;
    let session = signed_in(&r);
    host_prefixed_and_secure(&set_cookie(&r, "grimmory_session"));
    host_prefixed_and_secure(&set_cookie(&r, "grimmory_oidc_attempts"));
    let me = flow.app.get("/api/v1/auth/me", Some(&session)).await;
    assert_eq!(me.json()["username"], "hana");

    let out = flow
        .app
        .post_json("/api/v1/auth/logout", json!({}), Some(&session))
        .await;
    let cleared = set_cookie(&out, "grimmory_session");
    host_prefixed_and_secure(&cleared);
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

fn login_via_proxy(proto: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/auth/login")
        .header("content-type", "application/json")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", proto)
        .body(Body::from(
            json!({"username": "admin", "password": "correct horse battery"}).to_string(),
        ))
        .unwrap()
}

fn me_via_proxy(proto: &str, cookie: &str) -> Request<Body> {
    Request::get("/api/v1/auth/me")
        .header("x-forwarded-proto", proto)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap()
}

async fn a_trusted_proxy_reporting_https_makes_cookies_secure(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.trusted_proxies = Some("10.0.0.0/8".to_owned())
    })
    .await;
    app.setup_admin().await;
    let r = app.send_from(login_via_proxy("https"), "10.0.0.2").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let cookie = set_cookie(&r, "grimmory_session");
    host_prefixed_and_secure(&cookie);
    let session = r.session_cookie().unwrap();
    let me = app
        .send_from(me_via_proxy("https", &session), "10.0.0.2")
        .await;
    assert_eq!(me.status, StatusCode::OK);

    // Plain http through the same proxy keeps the plain name, without Secure.
    let r = app.send_from(login_via_proxy("http"), "10.0.0.2").await;
    let cookie = set_cookie(&r, "grimmory_session");
    assert!(cookie.starts_with("grimmory_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");

    // Anyone else claiming https is not believed.
    let r = app.send_from(login_via_proxy("https"), "203.0.113.9").await;
    let cookie = set_cookie(&r, "grimmory_session");
    assert!(cookie.starts_with("grimmory_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

/// The `redirect_uri` of the provider URL a sign-in started with `Host: host` goes to.
async fn redirect_uri_of_a_sign_in_via(flow: &Flow, host: &str) -> String {
    let req = Request::get("/api/v1/auth/oidc/authorize")
        .header("host", host)
        .header("cookie", flow.browser_cookie(BROWSER))
        .body(Body::empty())
        .unwrap();
    let r = flow.app.send(req).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    url::Url::parse(r.location().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn save_settings_via(flow: &Flow, host: &str) {
    let body = json!({"providerName": "Fake"}).to_string();
    let req = Request::put("/api/v1/settings/oidc")
        .header("host", host)
        .header("content-type", "application/json")
        .header("cookie", &flow.admin)
        .body(Body::from(body))
        .unwrap();
    let r = flow.app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn reference_via(flow: &Flow, host: &str) -> serde_json::Value {
    let req = Request::get("/api/v1/settings/oidc/reference")
        .header("host", host)
        .header("cookie", &flow.admin)
        .body(Body::empty())
        .unwrap();
    flow.app.send(req).await.json()
}

async fn redirect_uris_keep_the_origin_the_settings_were_saved_from(engine: Engine) {
    let flow = Flow::on(
        TestApp::new(engine).await,
        json!({"autoProvisioning": true}),
    )
    .await;
    // The admin saves from the address users reach Grimmory at (nothing else changes).
    save_settings_via(&flow, "books.example:3000").await;
    let saved_at = "http://books.example:3000";

    // A request sent with another Host moves nothing: not the sign-in, not the panel.
    let redirect_uri = redirect_uri_of_a_sign_in_via(&flow, "attacker.example").await;
    assert_eq!(redirect_uri, format!("{saved_at}/oauth2-callback"));
    let changed = flow
        .app
        .audit_events()
        .await
        .into_iter()
        .find(|e| e["event"] == "OIDC_CONFIG_CHANGED")
        .unwrap();
    assert_eq!(changed["details"]["fields"], json!(["redirectOrigin"]));
    let reference = reference_via(&flow, "attacker.example").await;
    assert_eq!(
        reference["redirectUri"],
        format!("{saved_at}/oauth2-callback")
    );
    assert!(reference["warnings"].to_string().contains(saved_at));

    // The token request and the provider logout use it too.
    let r = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-o", "otto"), Some("rsa-1"), 0))
        .await;
    let session = signed_in(&r);
    let (_, token_request) = flow.idp.seen().token_requests.last().cloned().unwrap();
    let sent: Vec<(String, String)> = serde_urlencoded::from_str(&token_request).unwrap();
    assert!(sent.contains(&(
        "redirect_uri".to_owned(),
        format!("{saved_at}/oauth2-callback")
    )));
    let mut logout = crate::common::json_request(
        Method::POST,
        "/api/v1/auth/logout",
        &json!({}),
        Some(&session),
    );
    logout
        .headers_mut()
        .insert("host", "attacker.example".parse().unwrap());
    let url = flow.app.send(logout).await.json()["logoutUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let post_logout = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "post_logout_redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        post_logout.as_deref(),
        Some("http://books.example:3000/login?signedOut=1")
    );

    // Saving again from another address is the admin's choice, and moves it.
    save_settings_via(&flow, "127.0.0.1:3000").await;
    let redirect_uri = redirect_uri_of_a_sign_in_via(&flow, "attacker.example").await;
    assert_eq!(redirect_uri, "http://127.0.0.1:3000/oauth2-callback");
}

async fn the_public_url_wins_over_any_origin(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.public_url = Some("https://books.example.com".to_owned())
    })
    .await;
    let flow = Flow::on(app, json!({})).await;
    save_settings_via(&flow, "127.0.0.1:3000").await;
    let redirect_uri = redirect_uri_of_a_sign_in_via(&flow, "attacker.example").await;
    assert_eq!(redirect_uri, "https://books.example.com/oauth2-callback");
    let reference = reference_via(&flow, "127.0.0.1:3000").await;
    assert_eq!(
        reference["redirectUri"],
        "https://books.example.com/oauth2-callback"
    );
}
