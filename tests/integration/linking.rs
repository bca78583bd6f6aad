//! Linking, unlinking and claiming accounts: the ways an identity could end up in someone
//! else's account, or stay in one after it was unlinked.

use crate::common::{json_request, Engine, Reply};
use crate::oidc_settings::link_identity_to;
use crate::oidc_sign_in::{refused, rs256, signed_in, Flow, BROWSER};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use grimmory::auth::refresh::{refresh_session, Outcome};
use grimmory::clock::Clock;
use serde_json::{json, Value};

on_both_engines!(
    a_get_never_starts_linking,
    linking_starts_with_a_post_that_asks_for_a_fresh_sign_in,
    dot_segments_in_return_paths_are_refused,
    unlinking_ends_the_sessions_of_that_identity,
    a_session_whose_link_is_gone_ends_at_the_next_refresh,
    a_pre_created_account_is_claimed_only_with_its_email,
    unlinking_ends_sessions_from_before_the_links_moved,
    a_refresh_result_is_not_stored_once_the_link_is_gone,
);

const LINK: &str = "/api/v1/auth/oidc/link";

/// Paula, with a password, signed in locally; answers her session cookie.
async fn paula(flow: &Flow) -> String {
    flow.app
        .create_user(
            &flow.admin,
            json!({"username": "paula", "password": "paula password"}),
        )
        .await;
    flow.app.cookie_for("paula", "paula password").await
}

fn query_param(location: &str, name: &str) -> Vec<String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// Starts linking with a form post from /profile and finishes it at the provider as `sub`;
/// answers the callback's reply (its session came through the identity).
async fn link_as(flow: &Flow, cookie: &str, sub: &str) -> Reply {
    let r = flow
        .app
        .post_form(
            LINK,
            &[],
            Some(&format!("grimmory_browser={BROWSER}; {cookie}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.location().unwrap();
    let (state, nonce) = (
        query_param(location, "state").remove(0),
        query_param(location, "nonce").remove(0),
    );
    flow.answer_with(&rs256(&flow.claims(&nonce, sub, sub), Some("rsa-1"), 0));
    let grant = flow.idp.approve(location);
    assert_eq!(grant.state, state);
    flow.callback(BROWSER, &grant.query(), None).await
}

async fn a_get_never_starts_linking(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    let paula = paula(&flow).await;
    // Signed in, same-site, no Fetch Metadata: a link or redirect to this GET still cannot
    // start linking.
    let req = Request::get("/api/v1/auth/oidc/authorize?intent=link&returnTo=%2Fprofile")
        .header("cookie", format!("grimmory_browser={BROWSER}; {paula}"))
        .header("sec-fetch-site", "same-site")
        .body(Body::empty())
        .unwrap();
    let r = flow.app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.location());
    assert!(r.json()["message"].as_str().unwrap().contains("profile"));
    // A plain sign-in link still works.
    let started = flow.authorize(BROWSER, "?returnTo=%2Fprofile").await;
    assert!(query_param(&started.location, "prompt").is_empty());
}

async fn linking_starts_with_a_post_that_asks_for_a_fresh_sign_in(engine: Engine) {
    // The admin's own `prompt` gives way to `prompt=login` when linking.
    let flow = Flow::new(engine, json!({"extraAuthParams": "prompt=consent"})).await;
    let paula = paula(&flow).await;
    let cookie = format!("grimmory_browser={BROWSER}; {paula}");
    // A form post from /profile: 303 to the provider, asking for a fresh sign-in.
    let r = flow.app.post_form(LINK, &[], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.location().unwrap().to_owned();
    assert!(location.starts_with(&flow.idp.issuer), "{location}");
    assert_eq!(query_param(&location, "prompt"), ["login"]);
    // The script's way: JSON with the same URL.
    let r = flow
        .app
        .send(json_request(Method::POST, LINK, &json!({}), Some(&cookie)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["url"].as_str().unwrap().to_owned();
    assert_eq!(query_param(&url, "prompt"), ["login"]);
    // Another site cannot post it: by its Origin, or by Fetch Metadata without one.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let req = Request::post(LINK)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie)
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            flow.app.send(req).await.status,
            StatusCode::FORBIDDEN,
            "{name}"
        );
    }
    // Not signed in: the form goes to the login page, JSON gets 401.
    let r = flow.app.post_form(LINK, &[], None).await;
    assert_eq!(r.location(), Some("/login?returnTo=%2Fprofile"));
    let r = flow
        .app
        .send(json_request(Method::POST, LINK, &json!({}), None))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The round trip links paula and lands on /profile.
    let done = link_as(&flow, &paula, "sub-paula").await;
    assert_eq!(done.location(), Some("/profile"));
    let me = flow
        .app
        .get("/api/v1/auth/me", Some(&signed_in(&done)))
        .await
        .json();
    assert_eq!(me["username"], "paula");
    assert_eq!(me["oidcLink"]["subject"], "sub-paula");
}

async fn dot_segments_in_return_paths_are_refused(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    paula(&flow).await;
    // Local sign-in: the browser would resolve these to /api/…, which is never a target.
    for bad in [
        "/../api/v1/auth/oidc/authorize?intent=link",
        "/%2e%2e/api/v1/auth/me",
        "/./x",
        "/a/../b",
    ] {
        let r = flow
            .app
            .post_form(
                "/api/v1/auth/login",
                &[
                    ("username", "paula"),
                    ("password", "paula password"),
                    ("returnTo", bad),
                ],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{bad}");
        assert_eq!(r.location(), Some("/"), "{bad}");
    }
    let r = flow
        .app
        .post_form(
            "/api/v1/auth/login",
            &[
                ("username", "paula"),
                ("password", "paula password"),
                ("returnTo", "/admin/users"),
            ],
            None,
        )
        .await;
    assert_eq!(r.location(), Some("/admin/users"));
    // OIDC sign-in: the same rule.
    let started = flow.authorize(BROWSER, "?returnTo=%2Fa%2F..%2Fb").await;
    flow.answer_with(&rs256(
        &flow.claims(&started.nonce, "sub-o", "olga"),
        Some("rsa-1"),
        0,
    ));
    let r = flow.callback(BROWSER, &started.grant.query(), None).await;
    signed_in(&r);
    assert_eq!(r.location(), Some("/"));
}

async fn unlinking_ends_the_sessions_of_that_identity(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    let local = paula(&flow).await;
    let me = |cookie: String| {
        let app = &flow.app;
        async move { app.get("/api/v1/auth/me", Some(&cookie)).await }
    };
    let id = me(local.clone()).await.json()["id"].as_i64().unwrap();
    // Paula's identity is linked; she also signs in through it.
    let through_oidc = || async {
        link_identity_to(&flow.app, id, &flow.idp.issuer, "sub-paula").await;
        let r = flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-paula", "paula"), Some("rsa-1"), 0))
            .await;
        signed_in(&r)
    };
    let session = through_oidc().await;
    assert_eq!(me(session.clone()).await.status, StatusCode::OK);
    // Her own unlink from /profile ends the session that came through the identity, not her
    // password session.
    let r = flow
        .app
        .delete("/api/v1/auth/oidc-link", Some(&local))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        me(session).await.status,
        StatusCode::UNAUTHORIZED,
        "the identity's session outlived the link"
    );
    assert_eq!(me(local.clone()).await.status, StatusCode::OK);
    let unlinked = flow
        .app
        .audit_events()
        .await
        .into_iter()
        .find(|e| e["event"] == "OIDC_ACCOUNT_UNLINKED")
        .unwrap();
    assert_eq!(unlinked["details"]["sessionsEnded"], 1);
    // An admin's unlink does the same.
    let again = through_oidc().await;
    let r = flow
        .app
        .delete(
            &format!("/api/v1/admin/users/{id}/oidc-link"),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(me(again).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me(local).await.status, StatusCode::OK);
}

async fn a_session_whose_link_is_gone_ends_at_the_next_refresh(engine: Engine) {
    let flow = Flow::new(
        engine,
        json!({"autoProvisioning": true, "scopes": "openid profile email offline_access"}),
    )
    .await;
    let (cookie, hash) = crate::refresh::sign_in(&flow, json!([]), 300).await;
    // The provider would refresh it happily.
    flow.idp.set(|b| {
        b.refresh_status = 200;
        b.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2", "expires_in": 300});
    });
    // The link goes away behind the server's back (another replica, an operator).
    assert_eq!(
        flow.app
            .execute("DELETE FROM oidc_identities WHERE subject = 'sub-r'")
            .await,
        1
    );
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Ended
    );
    assert!(flow.idp.seen().refresh_requests.is_empty());
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(flow.app.audit_events().await.iter().any(|e| {
        e["event"] == "SESSION_REFRESH_FAILED" && e["details"]["reason"] == "identity_unlinked"
    }));
}

async fn a_pre_created_account_is_claimed_only_with_its_email(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    let sign_in = |sub: &'static str, username: &'static str, email: Value, verified: Value| {
        move |f: &Flow, nonce: &str| {
            let mut c = f.claims(nonce, sub, username);
            c["email"] = email;
            if !verified.is_null() {
                c["email_verified"] = verified;
            }
            rs256(&c, Some("rsa-1"), 0)
        }
    };
    for (username, email) in [
        ("erin", Some("erin@example.org")),
        ("frank", Some("frank@example.org")),
        ("gina", Some("gina@example.org")),
        ("alice", None),
    ] {
        let mut body = json!({"username": username});
        if let Some(e) = email {
            body["email"] = json!(e);
        }
        flow.app.create_user(&flow.admin, body).await;
    }
    // The provider's verified email is the account's: claimed.
    let r = flow
        .sign_in(sign_in(
            "sub-erin",
            "erin",
            json!("erin@example.org"),
            json!(true),
        ))
        .await;
    let me = flow
        .app
        .get("/api/v1/auth/me", Some(&signed_in(&r)))
        .await
        .json();
    assert_eq!(me["username"], "erin");
    // Another email: someone who picked the username at the provider.
    let r = flow
        .sign_in(sign_in(
            "sub-frank",
            "frank",
            json!("mallory@example.org"),
            Value::Null,
        ))
        .await;
    refused(&r, "link_refused");
    // The right email, but the provider says it is not verified.
    let r = flow
        .sign_in(sign_in(
            "sub-gina",
            "gina",
            json!("gina@example.org"),
            json!(false),
        ))
        .await;
    refused(&r, "link_refused");
    // "alice " is not "alice": no match, and provisioning is off.
    let r = flow
        .sign_in(sign_in(
            "sub-alice",
            "alice ",
            json!("alice@example.org"),
            json!(true),
        ))
        .await;
    refused(&r, "not_provisioned");
    let users = flow
        .app
        .get("/api/v1/admin/users", Some(&flow.admin))
        .await
        .json();
    for user in users.as_array().unwrap() {
        let linked = !user["oidcLink"].is_null();
        assert_eq!(linked, user["username"] == "erin", "{}", user["username"]);
    }
}

async fn unlinking_ends_sessions_from_before_the_links_moved(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let session = signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-mo", "mo"), Some("rsa-1"), 0))
            .await,
    );
    let id = flow.app.get("/api/v1/auth/me", Some(&session)).await.json()["id"]
        .as_i64()
        .unwrap();
    // The provider moved: the admin moved the links along (as "Move existing links" does);
    // Mo's session still names the old issuer.
    let moved =
        "UPDATE oidc_identities SET issuer = 'https://sso.example.com/application/o/grimmory/'";
    assert_eq!(flow.app.execute(moved).await, 1);
    let r = flow
        .app
        .delete(
            &format!("/api/v1/admin/users/{id}/oidc-link"),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&session)).await.status,
        StatusCode::UNAUTHORIZED,
        "a session from before the move outlived the unlink"
    );
}

/// The unlink lands while a refresh is at the provider: its result is not stored (nor its
/// groups synced) into the account.
async fn a_refresh_result_is_not_stored_once_the_link_is_gone(engine: Engine) {
    let flow = Flow::new(
        engine,
        json!({"autoProvisioning": true, "scopes": "openid profile email offline_access"}),
    )
    .await;
    let (_, hash) = crate::refresh::sign_in(&flow, json!([]), 30).await;
    let db = &flow.app.state.db;
    let now = flow.app.clock.now();
    assert!(db
        .lease_refresh(&hash, "holder", now, now + 60_000, 55_000)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        flow.app
            .execute("DELETE FROM oidc_identities WHERE subject = 'sub-r'")
            .await,
        1
    );
    let result = grimmory::db::RefreshResult {
        refresh_sealed: "sealed",
        id_token: "id-token",
        access_expires_at: Some(now + 300_000),
    };
    assert!(!db.store_refresh(&hash, "holder", &result).await.unwrap());
}
