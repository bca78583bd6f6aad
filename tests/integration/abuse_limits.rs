//! Limits that must hold against a client with many addresses (an IPv6 /64, a botnet) without
//! locking everyone else, or an account's owner, out.

use crate::common::{json_request, Engine, Reply, TestApp};
use crate::fake_idp::Grant;
use crate::oidc_sign_in::{rs256, signed_in, Flow};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use grimmory::auth::limits::{
    BACKCHANNEL_FAILURES, CALLBACK_FAILURES, CALLBACK_WINDOW_MS, STARTS_PER_MINUTE,
    STARTS_PER_MINUTE_PER_48,
};
use grimmory::auth::local_login::{ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY_MS, TOO_MANY_ATTEMPTS};
use grimmory::clock::Clock;
use grimmory::db::pending_logins::{PER_CLIENT, TOTAL};
use serde_json::json;

on_both_engines!(
    a_flood_from_one_64_does_not_block_sign_in_from_elsewhere,
    the_pending_cap_evicts_the_oldest,
    a_flood_from_many_64s_and_clients_does_not_evict_a_quiet_sign_in,
    an_owner_with_a_known_device_is_never_kept_out,
    login_limits_count_an_ipv6_64_as_one_client,
    guessing_one_account_from_many_addresses_backs_off_briefly,
    failed_callbacks_are_limited_per_client,
    refused_backchannel_requests_are_limited_per_client,
);

fn browser(n: usize) -> String {
    format!("browser-{n:06}-0123456789abcdefghijklmnopqrstuv")
}

async fn authorize_from(flow: &Flow, ip: &str, browser: &str) -> Reply {
    let req = Request::get("/api/v1/auth/oidc/authorize")
        .header("cookie", format!("grimmory_browser={browser}"))
        .body(Body::empty())
        .unwrap();
    flow.app.send_from(req, ip).await
}

/// Pending sign-ins that others started earlier, `n` of them, the oldest created at `from`;
/// `client_key` is the SQL for the key of row `i`.
async fn fill_pending(app: &TestApp, n: i64, from: i64, client_key: &str) {
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO pending_logins (state_hash, browser_hash, nonce, pkce_verifier, issuer, client_id, \
         redirect_uri, return_to, intent, created_at, client_key) \
         SELECT 'earlier-' || i, 'earlier-browser-' || i, 'n', 'v', 'https://idp.example/', 'grimmory', \
         'http://127.0.0.1:3000/oauth2-callback', '/', 'login', {from} - 1 + i, {client_key} FROM n"
    );
    assert_eq!(app.execute(&sql).await, n as u64);
}

async fn pending_count(app: &TestApp, condition: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM pending_logins WHERE {condition}"
    ))
    .await
}

/// A sign-in started from `ip` by `browser` and approved at the provider: the provider's
/// answer and the nonce.
async fn start_from(flow: &Flow, ip: &str, browser: &str) -> (Grant, String) {
    let r = authorize_from(flow, ip, browser).await;
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.location());
    let location = url::Url::parse(r.location().unwrap()).unwrap();
    let nonce = location
        .query_pairs()
        .find(|(n, _)| n == "nonce")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (flow.idp.approve(location.as_str()), nonce)
}

/// The provider sends `browser` back with a token for `sub`.
async fn finish(flow: &Flow, browser: &str, (grant, nonce): (Grant, String), sub: &str) -> Reply {
    flow.answer_with(&rs256(&flow.claims(&nonce, sub, sub), Some("rsa-1"), 0));
    flow.callback(browser, &grant.query(), None).await
}

/// A sign-in from `ip`, from the button to the session.
async fn sign_in_from(flow: &Flow, ip: &str, sub: &str) -> Reply {
    let victim = browser(999_999);
    let started = start_from(flow, ip, &victim).await;
    finish(flow, &victim, started, sub).await
}

async fn a_flood_from_one_64_does_not_block_sign_in_from_elsewhere(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // The server is nearly full of sign-ins others started.
    fill_pending(&flow.app, TOTAL - 40, flow.app.clock.now(), "''").await;
    // One host takes a fresh address of its /64 for every request.
    let mut next = 0;
    let mut flood = |count: usize| {
        let start = next;
        next += count;
        start..next
    };
    let mut limited = 0;
    for n in flood(40) {
        let ip = format!("2001:db8:1:2::{:x}", n + 1);
        match authorize_from(&flow, &ip, &browser(n)).await.status {
            StatusCode::FOUND => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{ip}: {other}"),
        }
    }
    assert_eq!(limited, 40 - STARTS_PER_MINUTE, "the /64 is one client");
    // Minute after minute, the /64 keeps only its share of pending sign-ins.
    for _ in 0..2 {
        flow.app.clock.advance_ms(61_000);
        for n in flood(STARTS_PER_MINUTE as usize) {
            let ip = format!("2001:db8:1:2:{:x}::1", n + 1);
            assert_eq!(
                authorize_from(&flow, &ip, &browser(n)).await.status,
                StatusCode::FOUND
            );
        }
    }
    assert!(pending_count(&flow.app, "client_key = '2001:db8:1:2::/64'").await <= PER_CLIENT);
    // Someone elsewhere signs in all the same.
    signed_in(&sign_in_from(&flow, "203.0.113.7", "sub-victim").await);
}

async fn the_pending_cap_evicts_the_oldest(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // The cap is reached: a flood from many places, five minutes ago and since.
    fill_pending(&flow.app, TOTAL, flow.app.clock.now() - 5 * 60_000, "''").await;
    let victim = browser(999_999);
    let r = authorize_from(&flow, "203.0.113.9", &victim).await;
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.location());
    assert_eq!(pending_count(&flow.app, "1 = 1").await, TOTAL);
    assert_eq!(
        pending_count(&flow.app, "state_hash = 'earlier-1'").await,
        0,
        "the oldest made room"
    );
    assert_eq!(
        pending_count(&flow.app, "state_hash = 'earlier-2'").await,
        1
    );
    // And a whole sign-in goes through.
    signed_in(&sign_in_from(&flow, "203.0.113.9", "sub-victim").await);
}

async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> Reply {
    login_with(app, ip, username, password, None).await
}

async fn login_with(
    app: &TestApp,
    ip: &str,
    username: &str,
    password: &str,
    cookie: Option<&str>,
) -> Reply {
    let body = json!({"username": username, "password": password});
    app.send_from(
        json_request(Method::POST, "/api/v1/auth/login", &body, cookie),
        ip,
    )
    .await
}

async fn login_limits_count_an_ipv6_64_as_one_client(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    // Twenty failures from twenty addresses of one /64, each at another username.
    for n in 1..=20 {
        let ip = format!("2001:db8:5:6::{n:x}");
        let r = login_from(&app, &ip, &format!("user{n}"), "wrong password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{ip}");
    }
    let r = login_from(
        &app,
        "2001:db8:5:6:ffff::1",
        "admin",
        "correct horse battery",
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["message"], TOO_MANY_ATTEMPTS);
    // The neighbouring /64 and IPv4 clients are someone else.
    for ip in ["2001:db8:5:7::1", "198.51.100.1"] {
        let r = login_from(&app, ip, "admin", "correct horse battery").await;
        assert_eq!(r.status, StatusCode::OK, "{ip}");
    }
}

async fn guessing_one_account_from_many_addresses_backs_off_briefly(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    app.create_user(
        &admin,
        json!({"username": "alice", "password": "alice password"}),
    )
    .await;
    // Guesses from many addresses, one each: under every per-address limit.
    let mut addresses = (1..=250).map(|n| format!("198.51.100.{n}"));
    for _ in 0..ACCOUNT_FREE_FAILURES {
        let ip = addresses.next().unwrap();
        let r = login_from(&app, &ip, "alice", "a guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{ip}");
    }
    // From now on each guess waits a moment after the last, from wherever it comes; the wait
    // grows but never beyond the short cap.
    for round in 0..8 {
        let ip = addresses.next().unwrap();
        let r = login_from(&app, &ip, "alice", "a guess").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "round {round}");
        assert_eq!(r.json()["message"], TOO_MANY_ATTEMPTS);
        app.clock.advance_ms(ACCOUNT_MAX_DELAY_MS);
        let r = login_from(&app, &ip, "alice", "a guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "round {round}");
    }
    // The owner, from her own address, waits no longer than that either.
    let r = login_from(&app, "203.0.113.50", "alice", "alice password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance_ms(ACCOUNT_MAX_DELAY_MS);
    let r = login_from(&app, "203.0.113.50", "alice", "alice password").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Other accounts never noticed.
    let r = login_from(&app, "198.51.100.1", "admin", "correct horse battery").await;
    assert_eq!(r.status, StatusCode::OK);
}

fn no_store(r: &Reply) -> bool {
    r.headers
        .get("cache-control")
        .is_some_and(|v| v == "no-store")
}

async fn callback_from(flow: &Flow, ip: &str) -> Reply {
    let req = Request::get("/oauth2-callback?code=x&state=forged")
        .header("cookie", format!("grimmory_browser={}", browser(1)))
        .body(Body::empty())
        .unwrap();
    flow.app.send_from(req, ip).await
}

async fn failed_callbacks_are_limited_per_client(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    for _ in 0..CALLBACK_FAILURES {
        let r = callback_from(&flow, "198.51.100.20").await;
        assert_eq!(r.location(), Some("/login?oidcError=state_mismatch"));
    }
    let audited = flow.app.audit_events().await.len();
    // Over the limit the browser lands on the login page, which says why.
    let r = callback_from(&flow, "198.51.100.20").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), Some("/login?oidcError=rate_limited"));
    assert_eq!(
        flow.app.audit_events().await.len(),
        audited,
        "refused before any work"
    );
    let page = flow.app.get("/login?oidcError=rate_limited", None).await;
    assert!(
        page.text()
            .contains("Too many failed sign-ins. Please try again later."),
        "{}",
        page.text()
    );
    // Another client is not held back; the first one is again after the window.
    let r = callback_from(&flow, "198.51.100.21").await;
    assert_eq!(r.location(), Some("/login?oidcError=state_mismatch"));
    flow.app.clock.advance_ms(CALLBACK_WINDOW_MS + 1);
    let r = callback_from(&flow, "198.51.100.20").await;
    assert_eq!(r.location(), Some("/login?oidcError=state_mismatch"));
}

async fn backchannel_from(flow: &Flow, ip: &str) -> Reply {
    let req = Request::post("/api/v1/auth/oidc/backchannel-logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("logout_token=not.a.token"))
        .unwrap();
    flow.app.send_from(req, ip).await
}

async fn refused_backchannel_requests_are_limited_per_client(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    for _ in 0..BACKCHANNEL_FAILURES {
        let r = backchannel_from(&flow, "2001:db8:7:7::1").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    // Another address of the same /64 is the same client.
    let r = backchannel_from(&flow, "2001:db8:7:7::2").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["status"], 429);
    assert!(no_store(&r));
    let r = backchannel_from(&flow, "198.51.100.30").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    flow.app.clock.advance_ms(61_000);
    let r = backchannel_from(&flow, "2001:db8:7:7::1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn a_flood_from_many_64s_and_clients_does_not_evict_a_quiet_sign_in(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // A quiet client starts signing in.
    let quiet = browser(999_998);
    let started = start_from(&flow, "203.0.113.9", &quiet).await;
    // Many clients, two pending sign-ins each, fill the server up after it.
    let now = flow.app.clock.now();
    fill_pending(&flow.app, TOTAL - 1, now + 1, "'flood-' || (i / 2)").await;
    // One host floods from a fresh /64 of its /48 for every request.
    let mut limited = 0;
    for n in 0..200 {
        let ip = format!("2001:db8:9:{:x}::1", n + 1);
        match authorize_from(&flow, &ip, &browser(n)).await.status {
            StatusCode::FOUND => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("{ip}: {other}"),
        }
    }
    assert_eq!(
        limited,
        200 - STARTS_PER_MINUTE_PER_48,
        "the /48 is held too"
    );
    assert_eq!(pending_count(&flow.app, "1 = 1").await, TOTAL);
    // The flood pushed out its own: the quiet sign-in completes.
    signed_in(&finish(&flow, &quiet, started, "sub-quiet").await);
}

/// The known-device cookie a successful sign-in set.
fn known_device(r: &Reply) -> String {
    r.set_cookies()
        .iter()
        .find(|c| c.starts_with("grimmory_known_device="))
        .and_then(|c| c.split(';').next())
        .expect("a known-device cookie")
        .to_owned()
}

async fn an_owner_with_a_known_device_is_never_kept_out(engine: Engine) {
    let app = TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    app.create_user(
        &admin,
        json!({"username": "alice", "password": "alice password"}),
    )
    .await;
    let (home, travelling) = ("203.0.113.50", "203.0.113.60");
    let r = login_from(&app, home, "alice", "alice password").await;
    assert_eq!(r.status, StatusCode::OK);
    let device = known_device(&r);
    // An attacker with six addresses guesses past the free failures...
    let attackers: Vec<String> = (1..=6).map(|n| format!("198.51.100.{n}")).collect();
    let mut guess = 0;
    let mut next_attacker = || {
        guess += 1;
        attackers[guess % attackers.len()].clone()
    };
    for _ in 0..ACCOUNT_FREE_FAILURES {
        let r = login_from(&app, &next_attacker(), "alice", "a guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&app, &next_attacker(), "alice", "a guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // ...so the account is in its back-off: without the cookie Alice waits, with it she is
    // in at once.
    let r = login_from(&app, travelling, "alice", "alice password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = login_with(&app, home, "alice", "alice password", Some(&device)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The attacker polls every second, firing a guess whenever the wait ends; each poll uses
    // up the attacker's own allowance, so after a while even Alice without the cookie is in.
    for _ in 0..60 {
        app.clock.advance_ms(1_000);
        for _ in 0..6 {
            let status = login_from(&app, &next_attacker(), "alice", "a guess")
                .await
                .status;
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status),
                "{status}"
            );
        }
    }
    let r = login_from(&app, travelling, "alice", "alice password").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
