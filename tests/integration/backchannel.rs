//! Back-channel and RP-initiated logout.

use crate::common::Engine;
use crate::oidc_sign_in::{rs256, signed_in, Flow, BROWSER, CLIENT};
use crate::on_both_engines;
use crate::signer::{rsa_jwk, sign, Key};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use grimmory::auth::limits::BACKCHANNEL_FAILURES;
use serde_json::{json, Value};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Signs in `sub` with provider session `sid`; answers the session cookie.
async fn session(flow: &Flow, sub: &str, sid: &str) -> String {
    let (sub, sid) = (sub.to_owned(), sid.to_owned());
    let r = flow
        .sign_in(move |f, nonce| {
            let mut c = f.claims(nonce, &sub, &sub);
            c["sid"] = json!(sid);
            rs256(&c, Some("rsa-1"), 0)
        })
        .await;
    signed_in(&r)
}

/// Signs in `sub` with an ID token that names no provider session; answers the cookie.
async fn session_without_sid(flow: &Flow, sub: &str) -> String {
    let sub = sub.to_owned();
    let r = flow
        .sign_in(move |f, nonce| rs256(&f.claims(nonce, &sub, &sub), Some("rsa-1"), 0))
        .await;
    signed_in(&r)
}

fn logout_claims(flow: &Flow) -> Value {
    json!({
        "iss": flow.idp.issuer, "aud": CLIENT, "iat": flow.now(), "exp": flow.now() + 120,
        "jti": format!("jti-{}", rand_suffix()), "events": {EVENT: {}},
    })
}

fn rand_suffix() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

async fn post_token(flow: &Flow, body: String) -> (StatusCode, Value, Option<String>) {
    let req = Request::post("/api/v1/auth/oidc/backchannel-logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://provider.example")
        .body(Body::from(body))
        .unwrap();
    let r = flow.app.send(req).await;
    let cache = r
        .headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        cache,
    )
}

async fn deliver(flow: &Flow, token: &str) -> StatusCode {
    post_token(flow, format!("logout_token={token}")).await.0
}

async fn alive(flow: &Flow, cookie: &str) -> bool {
    flow.app.get("/api/v1/auth/me", Some(cookie)).await.status == StatusCode::OK
}

on_both_engines!(
    bad_logout_tokens_end_nothing,
    good_logout_tokens_end_the_right_sessions,
    a_sid_token_also_ends_the_subjects_sessions_without_sid,
    sign_out_goes_through_the_provider,
    sign_out_revokes_the_refresh_token,
    over_the_limit_a_valid_token_still_ends_the_session,
    forged_signatures_under_a_known_key_do_not_use_up_the_refetch,
);

async fn bad_logout_tokens_end_nothing(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let a = session(&flow, "sub-a", "sid-a").await;
    let b = session(&flow, "sub-b", "sid-b").await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = logout_claims(&flow);
        c["sid"] = json!("sid-a");
        change(&mut c);
        c
    };
    let rs = |c: &Value| rs256(c, Some("rsa-1"), 0);
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            sign(&json!({"alg": "none"}), &with(&|_| {}), Key::Unsigned),
        ),
        (
            "another algorithm than the remembered one",
            sign(
                &json!({"alg": "ES256", "kid": "ec-1"}),
                &with(&|_| {}),
                Key::Ec,
            ),
        ),
        ("bad signature", {
            let t = rs(&with(&|_| {}));
            let other = rs(&with(&|c| c["sid"] = json!("x")));
            format!(
                "{}.{}",
                t.rsplit_once('.').unwrap().0,
                other.rsplit_once('.').unwrap().1
            )
        }),
        (
            "wrong iss",
            rs(&with(&|c| c["iss"] = json!("https://evil.example/"))),
        ),
        (
            "wrong aud",
            rs(&with(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "an untrusted audience beside ours",
            rs(&with(&|c| c["aud"] = json!([CLIENT, "someone-else"]))),
        ),
        (
            "no events",
            rs(&with(&|c| {
                c.as_object_mut().unwrap().remove("events");
            })),
        ),
        (
            "wrong event",
            rs(&with(&|c| {
                c["events"] = json!({"http://schemas.openid.net/event/other": {}})
            })),
        ),
        ("nonce", rs(&with(&|c| c["nonce"] = json!("n")))),
        (
            "no sid and no sub",
            rs(&with(&|c| {
                c.as_object_mut().unwrap().remove("sid");
            })),
        ),
        (
            "expired",
            rs(&with(&|c| c["exp"] = json!(flow.now() - 300))),
        ),
        (
            "iat too old",
            rs(&with(&|c| c["iat"] = json!(flow.now() - 600))),
        ),
        (
            "typ",
            sign(
                &json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
                &with(&|_| {}),
                Key::Rsa(0),
            ),
        ),
    ];
    for (name, token) in cases {
        assert_eq!(
            deliver(&flow, &token).await,
            StatusCode::BAD_REQUEST,
            "{name}"
        );
        assert!(
            alive(&flow, &a).await && alive(&flow, &b).await,
            "{name} ended a session"
        );
    }
    let (status, body, cache) = post_token(&flow, "not a form at all%%%".to_owned()).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}))
    );
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(
        post_token(&flow, "something=else".to_owned()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post_token(&flow, format!("logout_token={}", "a".repeat(70 * 1024)))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    // A replayed jti: the first delivery works, the second is refused.
    let c = with(&|c| c["sid"] = json!("sid-unknown"));
    let token = rs(&c);
    assert_eq!(deliver(&flow, &token).await, StatusCode::OK);
    assert_eq!(deliver(&flow, &token).await, StatusCode::BAD_REQUEST);
    assert!(alive(&flow, &a).await && alive(&flow, &b).await);
}

async fn good_logout_tokens_end_the_right_sessions(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let a1 = session(&flow, "sub-a", "sid-a1").await;
    let a2 = session(&flow, "sub-a", "sid-a2").await;
    let b = session(&flow, "sub-b", "sid-b").await;
    // By sid: exactly that session. Unknown claims, an application/ typ and extra form fields
    // are fine.
    let mut c = logout_claims(&flow);
    c["sid"] = json!("sid-a1");
    c["something_new"] = json!(true);
    let token = sign(
        &json!({"alg": "RS256", "kid": "rsa-1", "typ": "application/logout+jwt"}),
        &c,
        Key::Rsa(0),
    );
    let (status, _, cache) = post_token(&flow, format!("logout_token={token}&extra=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert!(!alive(&flow, &a1).await);
    assert!(alive(&flow, &a2).await && alive(&flow, &b).await);
    // By sub, without exp (some providers omit it): every session of that user, no one else's.
    let mut c = logout_claims(&flow);
    c.as_object_mut().unwrap().remove("exp");
    c["sub"] = json!("sub-a");
    assert_eq!(
        deliver(&flow, &rs256(&c, Some("rsa-1"), 0)).await,
        StatusCode::OK
    );
    assert!(!alive(&flow, &a2).await);
    assert!(alive(&flow, &b).await);
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "BACKCHANNEL_LOGOUT"));
}

async fn sign_out_goes_through_the_provider(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let cookie = session(&flow, "sub-a", "sid-a").await;
    let r = flow
        .app
        .post_json("/api/v1/auth/logout", json!({}), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let url = url::Url::parse(r.json()["logoutUrl"].as_str().unwrap()).unwrap();
    assert!(url
        .as_str()
        .starts_with(&format!("{}end-session/", flow.idp.issuer)));
    let q = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert!(q("id_token_hint").unwrap().starts_with("eyJ"));
    assert_eq!(q("client_id").as_deref(), Some(CLIENT));
    assert!(q("post_logout_redirect_uri")
        .unwrap()
        .ends_with("/login?signedOut=1"));
    assert!(q("state").is_some_and(|s| s.len() >= 32));
    // The local session ended first.
    assert!(!alive(&flow, &cookie).await);
}

async fn a_sid_token_also_ends_the_subjects_sessions_without_sid(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let a_sid = session(&flow, "sub-a", "sid-a").await;
    let a_other_sid = session(&flow, "sub-a", "sid-a2").await;
    let a_no_sid = session_without_sid(&flow, "sub-a").await;
    let b_no_sid = session_without_sid(&flow, "sub-b").await;
    // A token with only the sid cannot say whose sid-less sessions to end.
    let mut c = logout_claims(&flow);
    c["sid"] = json!("sid-unknown");
    assert_eq!(
        deliver(&flow, &rs256(&c, Some("rsa-1"), 0)).await,
        StatusCode::OK
    );
    assert!(alive(&flow, &a_no_sid).await && alive(&flow, &b_no_sid).await);
    // With the sub too: the provider session, and the subject's sessions that named none.
    let mut c = logout_claims(&flow);
    c["sid"] = json!("sid-a");
    c["sub"] = json!("sub-a");
    assert_eq!(
        deliver(&flow, &rs256(&c, Some("rsa-1"), 0)).await,
        StatusCode::OK
    );
    assert!(!alive(&flow, &a_sid).await);
    assert!(!alive(&flow, &a_no_sid).await);
    // Another provider session of the same user, and someone else's, live on.
    assert!(alive(&flow, &a_other_sid).await);
    assert!(alive(&flow, &b_no_sid).await);
}

async fn sign_out_revokes_the_refresh_token(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let started = flow.authorize(BROWSER, "").await;
    let token = rs256(
        &flow.claims(&started.nonce, "sub-a", "ada"),
        Some("rsa-1"),
        0,
    );
    flow.idp.set(move |b| {
        b.token_status = 200;
        b.token_body = json!({"access_token": "at-1", "token_type": "Bearer", "id_token": token, "refresh_token": "rt-secret", "expires_in": 300});
    });
    let cookie = signed_in(&flow.callback(BROWSER, &started.grant.query(), None).await);
    // The provider's revocation endpoint may be slow or down: sign-out does not wait for it.
    let r = flow
        .app
        .post_json("/api/v1/auth/logout", json!({}), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!alive(&flow, &cookie).await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while flow.idp.seen().revocation_requests.is_empty() && std::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    let requests = flow.idp.seen().revocation_requests;
    assert_eq!(requests.len(), 1);
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&requests[0].1).unwrap();
    for pair in [
        ("token", "rt-secret"),
        ("token_type_hint", "refresh_token"),
        ("client_id", CLIENT),
    ] {
        assert!(
            form.iter().any(|(k, v)| (k.as_str(), v.as_str()) == pair),
            "{pair:?} in {form:?}"
        );
    }
}

async fn over_the_limit_a_valid_token_still_ends_the_session(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let cookie = session(&flow, "sub-a", "sid-a").await;
    // Junk from the provider's address, past its limit of refusals.
    for _ in 0..BACKCHANNEL_FAILURES {
        assert_eq!(deliver(&flow, "not.a.token").await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        deliver(&flow, "not.a.token").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The provider's genuine logout is still honoured.
    let mut claims = logout_claims(&flow);
    claims["sid"] = json!("sid-a");
    assert_eq!(
        deliver(&flow, &rs256(&claims, Some("rsa-1"), 0)).await,
        StatusCode::OK
    );
    assert!(
        !alive(&flow, &cookie).await,
        "the session outlived its logout"
    );
}

async fn forged_signatures_under_a_known_key_do_not_use_up_the_refetch(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let cookie = session(&flow, "sub-a", "sid-a").await;
    let mut claims = logout_claims(&flow);
    claims["sid"] = json!("sid-a");
    // Signed by a key that is not the provider's, naming the provider's key.
    let forged = rs256(&claims, Some("rsa-1"), 1);
    let fetches = flow.idp.seen().jwks_fetches;
    for _ in 0..3 {
        assert_eq!(deliver(&flow, &forged).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(flow.idp.seen().jwks_fetches, fetches, "no keys fetched");
    assert!(alive(&flow, &cookie).await);
    // Seconds later the provider rotates its key: its logout token is accepted.
    flow.idp
        .set(|b| b.jwks = json!({"keys": [rsa_jwk(1, "rsa-2")]}));
    flow.app.clock.advance_ms(5_000);
    let mut claims = logout_claims(&flow);
    claims["sid"] = json!("sid-a");
    assert_eq!(
        deliver(&flow, &rs256(&claims, Some("rsa-2"), 1)).await,
        StatusCode::OK
    );
    assert!(!alive(&flow, &cookie).await);
}
