//! `kill -9` at chosen points of a sign-in, a refresh and a settings save, then a restart on
//! the same database: nothing half done, and nothing left behind that blocks anyone for
//! longer than it should. The points are reached by making the provider (or the database)
//! hold the server there, so the server binary needs no hook.

use crate::common::{Engine, TestApp};
use crate::oidc_sign_in::{rs256, signed_in, Flow, BROWSER, CLIENT};
use crate::on_both_engines;
use crate::replicas::{client, start};
use grimmory::auth::refresh::{refresh_session, Outcome};
use grimmory::clock::Clock;
use serde_json::json;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

on_both_engines!(
    a_server_killed_during_a_sign_in_leaves_no_half_account_and_blocks_no_one,
    a_refresh_lease_of_a_killed_server_ends_with_the_lease,
);

/// Waits, at most ten seconds, until `done` holds: the killed server has reached its point.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn a_server_killed_during_a_sign_in_leaves_no_half_account_and_blocks_no_one(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let server = start(&flow.app.database_url);
    let http = client();
    // The browser starts on the killed server and the provider holds the code exchange.
    let r = http
        .get(format!("{}/api/v1/auth/oidc/authorize", server.url))
        .header("cookie", flow.browser_cookie(BROWSER))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let param = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .into_owned()
    };
    flow.answer_with(&rs256(
        &flow.claims(&param("nonce"), "sub-crash", "cora"),
        Some("rsa-1"),
        0,
    ));
    flow.idp.set(|b| b.token_hangs = true);
    let grant = flow.idp.approve(location.as_str());
    let callback = tokio::spawn(
        http.get(format!("{}/oauth2-callback?{}", server.url, grant.query()))
            .header("cookie", flow.browser_cookie(BROWSER))
            .send(),
    );
    until("the code exchange reached the provider", async || {
        !flow.idp.seen().token_requests.is_empty()
    })
    .await;
    drop(server);
    assert!(callback.await.unwrap().is_err(), "the server was killed");

    // Nothing of the account was written, and no session lacks its user.
    assert_eq!(
        flow.app
            .count("SELECT COUNT(*) FROM users WHERE username = 'cora'")
            .await,
        0
    );
    assert_eq!(
        flow.app
            .count("SELECT COUNT(*) FROM sessions WHERE user_id NOT IN (SELECT id FROM users)")
            .await,
        0
    );
    // After a restart the same browser signs in at once, and the account is made once.
    let restarted = start(&flow.app.database_url);
    flow.idp.set(|b| b.token_hangs = false);
    let cookie = signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-crash", "cora"), Some("rsa-1"), 0))
            .await,
    );
    let me = http
        .get(format!("{}/api/v1/auth/me", restarted.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(
        flow.app
            .count("SELECT COUNT(*) FROM users WHERE username = 'cora'")
            .await,
        1
    );
}

/// On PostgreSQL the server that keeps going is a second replica; on SQLite, the restarted
/// server. Either way it runs in process here, so its clock can be moved past the lease.
async fn a_refresh_lease_of_a_killed_server_ends_with_the_lease(engine: Engine) {
    let flow = Flow::new(
        engine,
        json!({"autoProvisioning": true, "scopes": "openid profile email offline_access"}),
    )
    .await;
    // An access token that is due for a refresh at once.
    let (cookie, hash) = crate::refresh::sign_in(&flow, json!([]), 30).await;
    flow.idp.set(|b| b.refresh_hangs = true);
    let server = start(&flow.app.database_url);
    let r = client()
        .get(format!("{}/api/v1/auth/me", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until(
        "the killed server's refresh reached the provider",
        async || flow.idp.seen().refresh_requests.len() == 1,
    )
    .await;
    let leased_at = system_now_ms();
    drop(server);

    let until_ms = flow
        .app
        .count(&format!(
            "SELECT refreshing_until FROM sessions WHERE id_hash = '{hash}'"
        ))
        .await;
    // The real server's lease: four provider calls of 10 s and 15 s to spare.
    assert!(
        until_ms <= leased_at + 55_000,
        "the lease runs {} ms",
        until_ms - leased_at
    );
    flow.idp.set(|b| {
        b.refresh_hangs = false;
        b.refresh_status = 200;
        b.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
    });
    let clock = &flow.app.clock;
    clock.advance_ms(until_ms - 1_000 - clock.now());
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Skipped,
        "the lease still holds"
    );
    assert_eq!(flow.idp.seen().refresh_requests.len(), 1);
    clock.advance_ms(1_001);
    assert_eq!(
        refresh_session(&flow.app.state, &hash).await.unwrap(),
        Outcome::Refreshed,
        "the lease ended with its time"
    );
    assert_eq!(flow.idp.seen().refresh_requests.len(), 2);
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await;
    assert_eq!(me.status, axum::http::StatusCode::OK);
}

/// The save stops half way (its JSON written, the client secret next) because the test
/// holds the secret's row; the server is killed there. PostgreSQL only: a SQLite writer
/// takes the whole file at once, so there is no half way to stop at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_save_killed_half_way_leaves_the_old_settings() {
    use sqlx::Connection;
    let app = TestApp::new(Engine::Postgres).await;
    let admin = app.setup_admin().await;
    let before = json!({"providerName": "Before", "clientId": CLIENT, "issuerUri": "https://idp.example.org/", "clientSecret": "the old secret"});
    let r = app
        .put_json("/api/v1/settings/oidc", before, Some(&admin))
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text());
    let snapshot = "SELECT COUNT(*) FROM settings WHERE key IN ('oidc', 'oidc_client_secret')";
    assert_eq!(app.count(snapshot).await, 2);
    let saved_json = settings_value(&app, "oidc").await;
    let saved_secret = settings_value(&app, "oidc_client_secret").await;

    let mut holder = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT value FROM settings WHERE key = 'oidc_client_secret' FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();

    let server = start(&app.database_url);
    let save = tokio::spawn(
        client()
            .put(format!("{}/api/v1/settings/oidc", server.url))
            .header("cookie", &admin)
            .header("content-type", "application/json")
            .body(json!({"providerName": "After", "clientSecret": "the new secret"}).to_string())
            .send(),
    );
    until("the save waits on the secret's row", async || {
        app.count(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .await
            > 0
    })
    .await;
    drop(server);
    assert!(save.await.unwrap().is_err(), "the server was killed");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    // The killed server's transaction ends with its connection.
    until("the killed server's transaction is gone", async || {
        app.count(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()",
        )
        .await
            == 0
    })
    .await;

    assert_eq!(settings_value(&app, "oidc").await, saved_json);
    assert_eq!(
        settings_value(&app, "oidc_client_secret").await,
        saved_secret
    );
    let restarted = start(&app.database_url);
    let r = client()
        .get(format!("{}/api/v1/settings/oidc", restarted.url))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap();
    let settings: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(settings["providerName"], "Before", "{settings}");
}

async fn settings_value(app: &TestApp, key: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}
