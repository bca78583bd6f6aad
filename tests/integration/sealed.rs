//! Secrets at rest are bound to their place: the client secret to its setting, a refresh token
//! to its session. Values an earlier release sealed without a binding keep working.

use crate::common::{raw_settings, Engine};
use crate::oidc_sign_in::Flow;
use crate::on_both_engines;
use crate::refresh::sign_in;
use grimmory::auth::refresh::{refresh_session, Outcome};
use grimmory::auth::sign_in::client_secret;
use grimmory::clock::Clock;
use grimmory::config::Config;
use grimmory::AppState;
use serde_json::json;
use sqlx::Connection;
use std::sync::Arc;

/// "secret from before binding" and "rt-from-before-binding", sealed as releases before
/// bindings did, under the test key.
const OLD_SECRET: &str =
    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB232N7sl1XHmpxVspHpKXJs2sEM+007ooRCWr6uey5wu2W0HtIUVtNn77";
const OLD_REFRESH_TOKEN: &str =
    "AgICAgICAgICAgICAgICAgICAgICAgICIK0QQPDmsVvtvhpHohnYBlwLUiwzKgiaQx7KUpziGr+dj3j8/hI";

on_both_engines!(
    secrets_sealed_before_bindings_work_after_the_upgrade,
    a_refresh_token_moved_to_another_session_is_never_used
);

async fn offline_flow(engine: Engine) -> Flow {
    Flow::new(
        engine,
        json!({"autoProvisioning": true, "scopes": "openid profile email offline_access"}),
    )
    .await
}

async fn execute(flow: &Flow, sql: &str, binds: &[&str]) {
    let mut conn = sqlx::AnyConnection::connect(&flow.app.database_url)
        .await
        .unwrap();
    let mut query = sqlx::query(sql);
    for b in binds {
        query = query.bind(*b);
    }
    query.execute(&mut conn).await.unwrap();
    flow.app.state.recent.changed();
}

async fn stored(flow: &Flow, sql: &str, bind: &str) -> String {
    let mut conn = sqlx::AnyConnection::connect(&flow.app.database_url)
        .await
        .unwrap();
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn secrets_sealed_before_bindings_work_after_the_upgrade(engine: Engine) {
    let flow = offline_flow(engine).await;
    let (_, hash) = sign_in(&flow, json!([]), 300).await;
    execute(
        &flow,
        "INSERT INTO settings (key, value, updated_at) VALUES ('oidc_client_secret', $1, 0)",
        &[OLD_SECRET],
    )
    .await;
    execute(
        &flow,
        "UPDATE sessions SET refresh_token_enc = $1 WHERE id_hash = $2",
        &[OLD_REFRESH_TOKEN, &hash],
    )
    .await;

    // The upgrade: the server starts again on the same database.
    let config = Config::from_raw(&raw_settings(flow.app.database_url.clone())).unwrap();
    let restarted = AppState::new(config, flow.app.clock.clone() as Arc<dyn Clock>)
        .await
        .expect("starts with secrets sealed by an earlier release");

    let secret_row = "SELECT value FROM settings WHERE key = $1";
    assert!(stored(&flow, secret_row, "oidc_client_secret")
        .await
        .starts_with("2."));
    let token_row = "SELECT refresh_token_enc FROM sessions WHERE id_hash = $1";
    assert!(stored(&flow, token_row, &hash).await.starts_with("2."));
    assert_eq!(
        client_secret(&restarted, &flow.idp.issuer, "grimmory")
            .await
            .unwrap()
            .as_deref(),
        Some("secret from before binding")
    );
    // Bound to the provider it was saved for: pointed elsewhere, it does not open.
    assert!(
        client_secret(&restarted, "https://elsewhere.example.com/", "grimmory")
            .await
            .is_err()
    );
    // The provider knows the client by that secret: the refresh authenticates with it.
    flow.idp.set(|b| {
        b.client_secret = Some("secret from before binding".to_owned());
        b.refresh_status = 200;
        b.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
    });
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&restarted, &hash).await.unwrap(),
        Outcome::Refreshed
    );
    assert!(flow.idp.seen().refresh_requests[0].contains("refresh_token=rt-from-before-binding"));
}

async fn a_refresh_token_moved_to_another_session_is_never_used(engine: Engine) {
    let flow = offline_flow(engine).await;
    let (_, first) = sign_in(&flow, json!([]), 300).await;
    let (_, second) = sign_in(&flow, json!([]), 300).await;
    let token_row = "SELECT refresh_token_enc FROM sessions WHERE id_hash = $1";
    let first_token = stored(&flow, token_row, &first).await;
    execute(
        &flow,
        "UPDATE sessions SET refresh_token_enc = $1 WHERE id_hash = $2",
        &[&first_token, &second],
    )
    .await;
    flow.idp.set(|b| {
        b.refresh_status = 200;
        b.refresh_body = json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
    });
    flow.app.clock.advance_ms(250_000);
    assert_eq!(
        refresh_session(&flow.app.state, &second).await.unwrap(),
        Outcome::Ended
    );
    assert!(flow.idp.seen().refresh_requests.is_empty());
    assert!(flow.app.audit_events().await.iter().any(|e| {
        e["event"] == "SESSION_REFRESH_FAILED"
            && e["details"]["reason"] == "unreadable_refresh_token"
    }));
    assert_eq!(
        refresh_session(&flow.app.state, &first).await.unwrap(),
        Outcome::Refreshed,
        "the session the token was sealed for still refreshes"
    );
}
