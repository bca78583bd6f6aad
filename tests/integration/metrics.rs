use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{Request, StatusCode};

on_both_engines!(
    metrics_answer_loopback_without_a_token,
    metrics_need_the_token_when_set
);

async fn metrics_answer_loopback_without_a_token(engine: Engine) {
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    app.login("admin", "wrong").await;
    let local = app.get("/metrics", None).await;
    assert_eq!(local.status, StatusCode::OK);
    let text = local.text();
    assert!(text.contains("grimmory_live_sessions 1\n"), "{text}");
    assert!(
        text.contains("grimmory_sign_ins_total{method=\"local\",outcome=\"failure\"} 1"),
        "{text}"
    );
    assert!(text.contains("grimmory_http_requests_total{route=\"/api/v1/setup\",status=\"201\"} 1"));
    let remote = app
        .send_from(
            Request::get("/metrics").body(Body::empty()).unwrap(),
            "203.0.113.5",
        )
        .await;
    assert_eq!(remote.status, StatusCode::FORBIDDEN);
}

async fn metrics_need_the_token_when_set(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.metrics_token = Some("scrape-me".to_owned())
    })
    .await;
    let without = app.get("/metrics", None).await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    let wrong = app
        .send_from(
            Request::get("/metrics")
                .header("authorization", "Bearer nope")
                .body(Body::empty())
                .unwrap(),
            "203.0.113.5",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let right = app
        .send_from(
            Request::get("/metrics")
                .header("authorization", "Bearer scrape-me")
                .body(Body::empty())
                .unwrap(),
            "203.0.113.5",
        )
        .await;
    assert_eq!(right.status, StatusCode::OK);
}
