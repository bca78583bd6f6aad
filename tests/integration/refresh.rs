//! Background refresh of OIDC sessions with the provider's refresh token.

use crate::common::Engine;
use crate::oidc_sign_in::{rs256, signed_in, Flow, BROWSER};
use crate::on_both_engines;
use axum::http::StatusCode;
use grimmory::auth::refresh::{refresh_session, Outcome};
use grimmory::auth::session::hash_token;
use serde_json::{json, Value};

/// Signs in with groups and a refresh token; answers the cookie and its session hash.
pub async fn sign_in(flow: &Flow, groups: Value, expires_in: i64) -> (String, String) {
    let started = flow.authorize(BROWSER, "").await;
    let mut claims = flow.claims(&started.nonce, "sub-r", "ruth");
    claims["groups"] = groups;
    let token = rs256(&claims, Some("rsa-1"), 0);
    flow.idp.set(move |b| {
        b.token_status = 200;
        b.token_body = json!({"access_token": "at-1", "token_type": "Bearer", "id_token": token, "refresh_token": "rt-1", "expires_in": expires_in});
    });
    let r = flow
        .callback(BROWSER, &format!("code=c&state={}", started.state), None)
        .await;
    let cookie = signed_in(&r);
    let hash = hash_token(cookie.split_once('=').unwrap().1);
    (cookie, hash)
}

async fn setup(engine: Engine) -> (Flow, i64, i64) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true, "groupSyncMode": "ON_LOGIN", "scopes": "openid profile email groups offline_access"})).await;
    let a = flow
        .app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "A"}),
            Some(&flow.admin),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let b = flow
        .app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "B"}),
            Some(&flow.admin),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    flow.app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "readers", "libraryIds": [a]}),
            Some(&flow.admin),
        )
        .await;
    flow.app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "writers", "libraryIds": [b]}),
            Some(&flow.admin),
        )
        .await;
    (flow, a, b)
}

fn refreshed_id_token(flow: &Flow, sub: &str, groups: Value) -> String {
    let mut c = json!({"iss": flow.idp.issuer, "aud": "grimmory", "sub": sub, "iat": flow.now(), "exp": flow.now() + 300, "preferred_username": "ruth"});
    c["groups"] = groups;
    rs256(&c, Some("rsa-1"), 0)
}

on_both_engines!(
    a_refresh_resyncs_groups,
    a_refused_refresh_token_ends_the_session,
    one_refresh_at_a_time,
    a_refreshed_token_for_someone_else_is_refused,
    providers_that_send_less_keep_the_session,
    activity_triggers_the_refresh
);

async fn a_refresh_resyncs_groups(engine: Engine) {
    let (flow, a, b) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers", "writers"]), 300).await;
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json()["libraryIds"],
        json!([a, b])
    );
    let token = refreshed_id_token(&flow, "sub-r", json!(["readers"]));
    flow.idp.set(move |bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "id_token": token, "refresh_token": "rt-2", "expires_in": 300});
    });
    // Not due yet: nothing happens.
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped
    );
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    // Replace mode: leaving the writers group took library B away.
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json()["libraryIds"],
        json!([a])
    );
    // The request used the stored refresh token; the new one replaced it.
    assert!(flow.idp.seen().refresh_requests[0].contains("refresh_token=rt-1"));
    flow.idp
        .set(|bh| bh.refresh_body["refresh_token"] = Value::Null);
    flow.app.clock.advance_ms(250_000);
    refresh_session(&flow.app.state, &hash).await.unwrap();
    assert!(flow.idp.seen().refresh_requests[1].contains("refresh_token=rt-2"));
}

async fn a_refused_refresh_token_ends_the_session(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 300).await;
    // The fake's default answer to a refresh is invalid_grant.
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Ended
    );
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "SESSION_REFRESH_FAILED"));
}

async fn one_refresh_at_a_time(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 300).await;
    flow.idp.set(|bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2", "expires_in": 300});
    });
    flow.app.clock.advance_ms(250_000);
    let state = flow.app.state.clone();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (state, hash) = (state.clone(), hash.clone());
            tokio::spawn(async move { refresh_session(&state, &hash).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in runs {
        outcomes.push(r.await.unwrap());
    }
    assert_eq!(flow.idp.seen().refresh_requests.len(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Refreshed)
            .count(),
        1
    );
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
}

async fn a_refreshed_token_for_someone_else_is_refused(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 300).await;
    let token = refreshed_id_token(&flow, "sub-somebody-else", json!(["readers"]));
    flow.idp.set(move |bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "id_token": token, "expires_in": 300});
    });
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Ended
    );
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn providers_that_send_less_keep_the_session(engine: Engine) {
    let (flow, a, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 300).await;
    // No new refresh token, no new ID token: the session lives on with what it had.
    flow.idp.set(|bh| {
        bh.refresh_status = 200;
        bh.refresh_body =
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
    });
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json()["libraryIds"],
        json!([a])
    );
    // The provider having a bad moment does not end it either.
    flow.idp.set(|bh| {
        bh.refresh_status = 503;
        bh.refresh_body = json!({"error": "temporarily_unavailable"});
    });
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert!(flow
        .idp
        .seen()
        .refresh_requests
        .iter()
        .all(|r| r.contains("refresh_token=rt-1")));
}

async fn activity_triggers_the_refresh(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, _) = sign_in(&flow, json!(["readers"]), 30).await;
    flow.idp.set(|bh| {
        bh.refresh_status = 200;
        bh.refresh_body =
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
    });
    // The access token (30 s) is within the refresh margin: a page view starts a refresh in
    // the background and is answered at once.
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while flow.idp.seen().refresh_requests.is_empty() && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert_eq!(flow.idp.seen().refresh_requests.len(), 1);
}
