//! App grants of users with a linked identity (spec section 11.1): approval through a
//! provider round trip of their own (intent `grant`), and the grant ending with that provider
//! sign-in: back-channel logout by `sid` or `sub`, the provider refusing the grant's refresh
//! token, and the identity being unlinked.

use crate::common::{Engine, Reply};
use crate::device::{device_code, oauth_error, poll, refresh_grant};
use crate::grants::{basic, events, get_as, revocation_reasons};
use crate::oidc_sign_in::{rs256, signed_in, Flow, BROWSER, CLIENT};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

on_both_engines!(
    linked_users_confirm_with_their_provider,
    back_channel_logout_ends_the_grants_of_that_provider_session,
    a_provider_refusing_the_refresh_token_ends_the_grant,
    unlinking_ends_the_grants_approved_through_the_identity,
);

const APP_PASSWORDS: &str = "/api/v1/auth/app-passwords";

/// Signs `sub` in through the provider (provider session `sid-web`); answers the cookie.
async fn web_session(flow: &Flow, sub: &str) -> String {
    let sub = sub.to_owned();
    let r = flow
        .sign_in(move |f, nonce| {
            let mut c = f.claims(nonce, &sub, &sub);
            c["sid"] = json!("sid-web");
            rs256(&c, Some("rsa-1"), 0)
        })
        .await;
    signed_in(&r)
}

fn cookies(flow: &Flow, session: &str) -> String {
    format!("{}; {session}", flow.browser_cookie(BROWSER))
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Posts `body` to `path` as the signed-in user, which must answer "Confirm with your
/// provider first."; then makes that round trip as `sub` with provider session `sid` and a
/// provider refresh token. Answers the callback's reply.
async fn round_trip(
    flow: &Flow,
    session: &str,
    path: &str,
    body: Value,
    sub: &str,
    sid: &str,
) -> Reply {
    let r = flow
        .app
        .post_json(path, body, Some(&cookies(flow, session)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["message"], "Confirm with your provider first.");
    let url = r.json()["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}authorize/", flow.idp.issuer)),
        "{url}"
    );
    assert_eq!(
        param(&url, "prompt"),
        None,
        "a normal authorization request"
    );
    let nonce = param(&url, "nonce").unwrap();
    let grant = flow.idp.approve(&url);
    let mut claims = flow.claims(&nonce, sub, sub);
    claims["sid"] = json!(sid);
    let id_token = rs256(&claims, Some("rsa-1"), 0);
    flow.idp.set(move |b| {
        b.token_status = 200;
        b.token_body = json!({
            "access_token": "at-grant", "token_type": "Bearer", "id_token": id_token,
            "expires_in": 300, "refresh_token": "rt-grant-1",
        });
    });
    flow.callback(BROWSER, &grant.query(), Some(session)).await
}

/// An app password approved through the provider as `sub` with `sid`; answers the password.
async fn app_password_via(flow: &Flow, session: &str, sub: &str, sid: &str) -> String {
    let body = json!({"name": format!("OPDS {sid}")});
    let r = round_trip(flow, session, APP_PASSWORDS, body.clone(), sub, sid).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Back to the form, filled in again.
    let back = format!("/profile?appPassword=OPDS+{sid}&scope=full");
    assert_eq!(r.location(), Some(back.as_str()));
    let r = flow
        .app
        .post_json(APP_PASSWORDS, body, Some(&cookies(flow, session)))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["grant"]["viaOidc"], true);
    r.json()["password"].as_str().unwrap().to_owned()
}

async fn linked_users_confirm_with_their_provider(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let session = web_session(&flow, "ada").await;
    // Another identity signed in at the provider in this browser is refused: a grant is
    // approved through the user's own identity only.
    let r = round_trip(
        &flow,
        &session,
        APP_PASSWORDS,
        json!({"name": "OPDS"}),
        "mallory",
        "sid-m",
    )
    .await;
    assert_eq!(r.location(), Some("/login?oidcError=link_refused"));
    let r = flow
        .app
        .post_json(
            APP_PASSWORDS,
            json!({"name": "OPDS"}),
            Some(&cookies(&flow, &session)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "nothing was recorded");

    // The user's own identity: the next approval gets the grant, with a password or not.
    let password = app_password_via(&flow, &session, "ada", "sid-app").await;
    assert_eq!(
        get_as(&flow.app, "/api/v1/libraries", &basic("ada", &password))
            .await
            .status,
        StatusCode::OK
    );
    // One round trip, one grant.
    let r = flow
        .app
        .post_json(
            APP_PASSWORDS,
            json!({"name": "More"}),
            Some(&cookies(&flow, &session)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Five minutes later a round trip no longer counts.
    let r = round_trip(
        &flow,
        &session,
        APP_PASSWORDS,
        json!({"name": "Late"}),
        "ada",
        "sid-late",
    )
    .await;
    assert_eq!(r.location(), Some("/profile?appPassword=Late&scope=full"));
    flow.app.clock.advance_ms(5 * 60_000 + 1);
    let r = flow
        .app
        .post_json(
            APP_PASSWORDS,
            json!({"name": "Late"}),
            Some(&cookies(&flow, &session)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A device's approval comes back to the code being approved.
    let code = device_code(&flow.app, "KOReader").await;
    let user_code = code["user_code"].as_str().unwrap();
    let body = json!({"userCode": user_code, "allow": true});
    let r = round_trip(
        &flow,
        &session,
        "/api/v1/auth/device/approve",
        body.clone(),
        "ada",
        "sid-dev",
    )
    .await;
    assert_eq!(
        r.location(),
        Some(format!("/device?code={user_code}").as_str())
    );
    let r = flow
        .app
        .post_json(
            "/api/v1/auth/device/approve",
            body,
            Some(&cookies(&flow, &session)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["grant"]["viaOidc"], true);
    // The web session is the one it was: the round trip made no new one.
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&session)).await.status,
        StatusCode::OK
    );
    // The provider's refresh token is kept sealed to its grant, never in clear.
    let sealed = "SELECT COUNT(*) FROM app_grants WHERE provider_refresh_enc LIKE '2.%'";
    assert_eq!(
        flow.app.count(sealed).await,
        2,
        "the app password and the device"
    );
    let clear = "SELECT COUNT(*) FROM app_grants WHERE provider_refresh_enc LIKE '%rt-grant%'";
    assert_eq!(flow.app.count(clear).await, 0);
    // Refresh tokens are never written to the audit log.
    assert!(!flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e.to_string().contains("rt-grant")));
}

/// Delivers a back-channel logout token with these extra claims.
async fn logout(flow: &Flow, extra: Value) -> StatusCode {
    let mut claims = json!({
        "iss": flow.idp.issuer, "aud": CLIENT, "iat": flow.now(), "exp": flow.now() + 120,
        "jti": format!("jti-{extra}"),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let token = rs256(&claims, Some("rsa-1"), 0);
    let req = Request::post("/api/v1/auth/oidc/backchannel-logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("logout_token={token}")))
        .unwrap();
    flow.app.send(req).await.status
}

async fn back_channel_logout_ends_the_grants_of_that_provider_session(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let session = web_session(&flow, "ada").await;
    let a = basic(
        "ada",
        &app_password_via(&flow, &session, "ada", "sid-a").await,
    );
    let b = basic(
        "ada",
        &app_password_via(&flow, &session, "ada", "sid-b").await,
    );
    let works = |auth: String| {
        let app = &flow.app;
        async move { get_as(app, "/api/v1/libraries", &auth).await.status == StatusCode::OK }
    };

    // sid: that provider session's grant, nothing else.
    assert_eq!(logout(&flow, json!({"sid": "sid-a"})).await, StatusCode::OK);
    assert!(!works(a.clone()).await);
    assert!(works(b.clone()).await);
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&session)).await.status,
        StatusCode::OK
    );
    let ended = events(&flow.app, "BACKCHANNEL_LOGOUT").await;
    assert_eq!(ended[0]["details"]["grantsRevoked"], 1);

    // sub alone: every session and grant of the identity.
    assert_eq!(logout(&flow, json!({"sub": "ada"})).await, StatusCode::OK);
    assert!(!works(b).await);
    assert_eq!(
        flow.app.get("/api/v1/auth/me", Some(&session)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        revocation_reasons(&flow.app).await,
        vec!["backchannel", "backchannel"]
    );
}

async fn a_provider_refusing_the_refresh_token_ends_the_grant(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let session = web_session(&flow, "ada").await;
    let code = device_code(&flow.app, "Kobo").await;
    let body = json!({"userCode": code["user_code"], "allow": true});
    let r = round_trip(
        &flow,
        &session,
        "/api/v1/auth/device/approve",
        body.clone(),
        "ada",
        "sid-k",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = flow
        .app
        .post_json(
            "/api/v1/auth/device/approve",
            body,
            Some(&cookies(&flow, &session)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = poll(&flow.app, code["device_code"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut refresh = rotated(&r);

    // The provider's access token is fresh: the provider is not asked.
    refresh = rotated(&refresh_grant(&flow.app, &refresh).await);
    assert!(flow.idp.seen().refresh_requests.is_empty());

    // Stale, and the provider is down: the grant is kept.
    flow.app.clock.advance_ms(300_000);
    flow.idp.set(|b| {
        b.refresh_status = 503;
        b.refresh_body = json!({"error": "temporarily_unavailable"});
    });
    refresh = rotated(&refresh_grant(&flow.app, &refresh).await);
    assert_eq!(flow.idp.seen().refresh_requests.len(), 1);
    assert!(flow.idp.seen().refresh_requests[0].contains("rt-grant-1"));

    // The provider renews: its new refresh token is the one used next time.
    flow.idp.set(|b| {
        b.refresh_status = 200;
        b.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300, "refresh_token": "rt-grant-2"});
    });
    refresh = rotated(&refresh_grant(&flow.app, &refresh).await);
    assert_eq!(flow.idp.seen().refresh_requests.len(), 2);

    // The provider no longer knows the user: the grant ends.
    flow.app.clock.advance_ms(300_000);
    flow.idp.set(|b| {
        b.refresh_status = 400;
        b.refresh_body = json!({"error": "invalid_grant"});
    });
    oauth_error(&refresh_grant(&flow.app, &refresh).await, "invalid_grant");
    assert!(flow.idp.seen().refresh_requests[2].contains("rt-grant-2"));
    assert_eq!(
        revocation_reasons(&flow.app).await,
        vec!["provider_refused"]
    );
    assert_eq!(
        flow.app
            .get("/api/v1/auth/grants", Some(&session))
            .await
            .json(),
        json!([])
    );
}

/// The refresh token of a successful token answer.
#[track_caller]
fn rotated(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["refresh_token"].as_str().unwrap().to_owned()
}

async fn unlinking_ends_the_grants_approved_through_the_identity(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let session = web_session(&flow, "ada").await;
    let auth = basic(
        "ada",
        &app_password_via(&flow, &session, "ada", "sid-a").await,
    );
    let users = flow
        .app
        .get("/api/v1/admin/users", Some(&flow.admin))
        .await
        .json();
    let ada = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ada")
        .unwrap()["id"]
        .clone();
    let r = flow
        .app
        .delete(
            &format!("/api/v1/admin/users/{ada}/oidc-link"),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        get_as(&flow.app, "/api/v1/libraries", &auth).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(revocation_reasons(&flow.app).await, vec!["unlinked"]);
    let unlinked = events(&flow.app, "OIDC_ACCOUNT_UNLINKED").await;
    assert_eq!(unlinked[0]["details"]["grantsRevoked"], 1);
}
