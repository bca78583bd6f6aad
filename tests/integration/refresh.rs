//! Background refresh of OIDC sessions with the provider's refresh token.

use crate::common::{Engine, TestApp};
use crate::oidc_sign_in::{rs256, signed_in, Flow, BROWSER};
use crate::on_both_engines;
use crate::signer::rsa_jwk;
use axum::http::StatusCode;
use grimmory::auth::refresh::{refresh_session, Outcome, RETRY_REFUSED_MS, RETRY_UNAVAILABLE_MS};
use grimmory::auth::session::hash_token;
use grimmory::clock::Clock;
use grimmory::db::RefreshResult;
use grimmory::AppState;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, Semaphore};

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
    let r = flow.callback(BROWSER, &started.grant.query(), None).await;
    let cookie = signed_in(&r);
    let hash = hash_token(cookie.split_once('=').unwrap().1);
    if expires_in < 120 {
        // The server holds a lifetime at two minutes at least; a test asking for a shorter
        // one wants the refresh due at once, seconds after the sign-in.
        let at = flow.app.clock.now() + expires_in * 1000;
        let sql = format!("UPDATE sessions SET access_expires_at = {at} WHERE id_hash = '{hash}'");
        assert_eq!(flow.app.execute(&sql).await, 1);
    }
    (cookie, hash)
}

async fn setup(engine: Engine) -> (Flow, i64, i64) {
    setup_on(TestApp::new(engine).await).await
}

async fn setup_on(app: TestApp) -> (Flow, i64, i64) {
    let flow = Flow::on(app, json!({"autoProvisioning": true, "groupSyncMode": "ON_LOGIN", "scopes": "openid profile email groups offline_access"})).await;
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
    refreshed_id_token_by(flow, sub, groups, "rsa-1", 0)
}

/// A refreshed ID token signed with RSA key `key` under `kid`.
fn refreshed_id_token_by(flow: &Flow, sub: &str, groups: Value, kid: &str, key: usize) -> String {
    let mut c = json!({"iss": flow.idp.issuer, "aud": "grimmory", "sub": sub, "iat": flow.now(), "exp": flow.now() + 300, "preferred_username": "ruth"});
    c["groups"] = groups;
    rs256(&c, Some(kid), key)
}

async fn alive(flow: &Flow, cookie: &str) -> bool {
    flow.app.get("/api/v1/auth/me", Some(cookie)).await.status == StatusCode::OK
}

fn refresh_calls(flow: &Flow) -> usize {
    flow.idp.seen().refresh_requests.len()
}

on_both_engines!(
    a_refresh_resyncs_groups,
    a_refused_refresh_token_ends_the_session,
    one_refresh_at_a_time_across_two_servers,
    a_refreshed_token_for_someone_else_is_refused,
    providers_that_send_less_keep_the_session,
    activity_triggers_the_refresh,
    a_refresh_across_a_rotated_key_succeeds,
    an_unknown_key_at_refresh_keeps_the_session,
    a_provider_answering_500_is_not_asked_again_before_the_back_off,
    a_provider_that_hangs_is_not_asked_again_before_the_back_off,
    invalid_client_is_backed_off_and_keeps_the_session,
    only_the_lease_holder_stores_or_releases,
    a_200_that_is_no_token_response_keeps_the_session_and_backs_off,
    a_tiny_or_textual_expires_in_does_not_refresh_on_every_request,
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

/// Two servers on one database find the same session due at once: one refresh at a time per
/// session, across replicas (spec section 7). The provider holds the first refresh request
/// it gets; while that one is provably in flight, the other server's refresh runs to its end
/// without asking the provider. Then the first is let go and stores its tokens.
async fn one_refresh_at_a_time_across_two_servers(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 300).await;
    let other = TestApp::on_database(engine, &flow.app.database_url, |_| {}).await;
    let gate = Arc::new(Semaphore::new(0));
    let held = gate.clone();
    flow.idp.set(move |bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2", "expires_in": 300});
        bh.refresh_gate = Some(held);
    });
    flow.app.clock.advance_ms(250_000);
    other.clock.advance_ms(250_000);
    let barrier = Arc::new(Barrier::new(2));
    let run = |state: AppState| {
        let (barrier, hash) = (barrier.clone(), hash.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            refresh_session(&state, &hash).await.unwrap()
        })
    };
    let mut runs = vec![run(flow.app.state.clone()), run(other.state.clone())];
    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        assert!(
            refresh_calls(&flow) < 2,
            "both servers asked the provider to refresh the session"
        );
        if refresh_calls(&flow) == 1 {
            if let Some(i) = runs.iter().position(|r| r.is_finished()) {
                break runs.remove(i).await.unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no refresh reached the provider while the other ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(finished, Outcome::Skipped);
    let holder = runs.remove(0);
    assert!(
        !holder.is_finished(),
        "the other refresh is still held at the provider"
    );
    gate.add_permits(1);
    assert_eq!(holder.await.unwrap(), Outcome::Refreshed);
    assert_eq!(refresh_calls(&flow), 1);
    for app in [&flow.app, &other] {
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&cookie)).await.status,
            StatusCode::OK
        );
    }
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

async fn a_refresh_across_a_rotated_key_succeeds(engine: Engine) {
    let (flow, a, b) = setup(engine).await;
    // A short-lived access token: the refresh is due at once, seconds after the sign-in
    // fetched the provider's keys.
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    flow.idp
        .set(|bh| bh.jwks = json!({"keys": [rsa_jwk(1, "rsa-2")]}));
    flow.app.clock.advance_ms(5_000);
    let token = refreshed_id_token_by(&flow, "sub-r", json!(["readers", "writers"]), "rsa-2", 1);
    flow.idp.set(move |bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "id_token": token, "refresh_token": "rt-2", "expires_in": 300});
    });
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json()["libraryIds"],
        json!([a, b])
    );
}

async fn an_unknown_key_at_refresh_keeps_the_session(engine: Engine) {
    let (flow, a, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    let token = refreshed_id_token_by(&flow, "sub-r", json!(["readers", "writers"]), "nobody", 1);
    flow.idp.set(move |bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "id_token": token, "refresh_token": "rt-2", "expires_in": 300});
    });
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    // The session lives on with the claims it had; the new refresh token was kept, so the
    // next refresh does not present a used-up one.
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json()["libraryIds"],
        json!([a])
    );
    flow.idp.set(|bh| {
        bh.refresh_body = json!({"access_token": "at-3", "token_type": "Bearer", "expires_in": 300})
    });
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    assert!(flow.idp.seen().refresh_requests[1].contains("refresh_token=rt-2"));
}

async fn a_provider_answering_500_is_not_asked_again_before_the_back_off(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    flow.idp.set(|bh| {
        bh.refresh_status = 500;
        bh.refresh_body = json!({"error": "server_error"});
    });
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert_eq!(refresh_calls(&flow), 1);
    // Every request during the outage: the session works and the provider is left alone.
    for _ in 0..3 {
        assert!(alive(&flow, &cookie).await);
        assert_eq!(
            refresh_session(&flow.app.state, &hash).await.unwrap(),
            Outcome::Skipped
        );
        flow.app.clock.advance_ms(RETRY_UNAVAILABLE_MS / 4);
    }
    assert_eq!(refresh_calls(&flow), 1);
    flow.app.clock.advance_ms(RETRY_UNAVAILABLE_MS / 4);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert_eq!(refresh_calls(&flow), 2);
    assert!(alive(&flow, &cookie).await);
}

async fn a_provider_that_hangs_is_not_asked_again_before_the_back_off(engine: Engine) {
    let app = TestApp::with_outbound_timeout(engine, Duration::from_secs(1)).await;
    let (flow, _, _) = setup_on(app).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    flow.idp.set(|bh| bh.refresh_hangs = true);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert_eq!(refresh_calls(&flow), 1);
    assert!(alive(&flow, &cookie).await);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped
    );
    flow.app.clock.advance_ms(RETRY_UNAVAILABLE_MS - 1_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped
    );
    assert_eq!(refresh_calls(&flow), 1);
    // After the wait, a provider that answers again refreshes the session.
    flow.idp.set(|bh| {
        bh.refresh_hangs = false;
        bh.refresh_status = 200;
        bh.refresh_body =
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
    });
    flow.app.clock.advance_ms(1_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    assert_eq!(refresh_calls(&flow), 2);
}

async fn invalid_client_is_backed_off_and_keeps_the_session(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    flow.idp.set(|bh| {
        bh.refresh_status = 401;
        bh.refresh_body = json!({"error": "invalid_client"});
    });
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert!(alive(&flow, &cookie).await);
    // Settings must change for this to pass: not asked again for a good while.
    flow.app.clock.advance_ms(RETRY_REFUSED_MS - 1_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped
    );
    assert_eq!(refresh_calls(&flow), 1);
    flow.app.clock.advance_ms(1_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert_eq!(refresh_calls(&flow), 2);
    assert!(alive(&flow, &cookie).await);
}

async fn only_the_lease_holder_stores_or_releases(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (_, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    let db = &flow.app.state.db;
    let now = flow.app.clock.now();
    let lease = |token: &'static str, now: i64| {
        let hash = hash.clone();
        async move {
            db.lease_refresh(&hash, token, now, now + 60_000, 55_000)
                .await
                .unwrap()
                .is_some()
        }
    };
    let result = RefreshResult {
        refresh_sealed: "sealed",
        id_token: "id",
        access_expires_at: Some(now),
    };
    assert!(lease("first", now).await);
    assert!(!lease("second", now + 54_000).await);
    // The first holder outlived its lease; the second took over. The first can neither
    // store over the second nor release its lease.
    assert!(lease("second", now + 56_000).await);
    assert!(!db.store_refresh(&hash, "first", &result).await.unwrap());
    db.release_refresh(&hash, "first", now).await.unwrap();
    assert!(!lease("third", now + 57_000).await);
    assert!(db.store_refresh(&hash, "second", &result).await.unwrap());
}

async fn a_200_that_is_no_token_response_keeps_the_session_and_backs_off(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (cookie, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    flow.idp.set(|bh| {
        bh.refresh_status = 200;
        bh.refresh_body = json!("<html>Service temporarily unavailable</html>");
    });
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Kept
    );
    assert!(alive(&flow, &cookie).await);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped,
        "waits before asking again"
    );
    assert_eq!(refresh_calls(&flow), 1);
}

async fn a_tiny_or_textual_expires_in_does_not_refresh_on_every_request(engine: Engine) {
    let (flow, _, _) = setup(engine).await;
    let (_, hash) = sign_in(&flow, json!(["readers"]), 30).await;
    for expires_in in [json!(1), json!("1")] {
        flow.idp.set(move |bh| {
            bh.refresh_status = 200;
            bh.refresh_body =
                json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": expires_in});
        });
        assert_eq!(
            refresh_session(&flow.app.state, &hash).await.unwrap(),
            Outcome::Refreshed
        );
        // The next requests, seconds later: the token is not due again yet.
        flow.app.clock.advance_ms(5_000);
        assert_eq!(
            refresh_session(&flow.app.state, &hash).await.unwrap(),
            Outcome::Skipped
        );
        // A minute on, it is.
        flow.app.clock.advance_ms(60_000);
    }
    flow.idp.set(|bh| {
        bh.refresh_body =
            json!({"access_token": "at-3", "token_type": "Bearer", "expires_in": "3599"});
    });
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    flow.app.clock.advance_ms(30 * 60_000);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped,
        "an hour-long token given as text is not refreshed after half an hour"
    );
    assert_eq!(refresh_calls(&flow), 3);
}
