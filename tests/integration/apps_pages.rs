//! The pages of apps and devices (spec section 11.4), as the server renders them: `/device`
//! with its code looked up under the approval's rules, and "Devices and apps" on `/profile`.

use crate::common::Engine;
use crate::device::{connect, device_code};
use crate::grants::{admin_and_reader, reader_app_password, READER};
use crate::on_both_engines;
use axum::http::StatusCode;
use serde_json::json;

on_both_engines!(
    the_device_page_takes_the_code_from_the_link_or_the_form,
    the_device_page_says_what_is_wrong_with_a_code,
    devices_and_apps_are_listed_on_the_profile_and_for_admins,
);

async fn the_device_page_takes_the_code_from_the_link_or_the_form(engine: Engine) {
    let app = crate::common::TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;
    let code = device_code(&app, "KOReader").await;
    let complete = code["verification_uri_complete"].as_str().unwrap();
    let path = &complete[complete.find("/device").unwrap()..];

    // Strangers sign in first and come back to the same code.
    let r = app.get(path, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let back = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
    assert_eq!(
        r.location(),
        Some(format!("/login?returnTo={back}").as_str())
    );

    let question = format!("Allow KOReader to access your library as {READER}?");
    let html = app.get(path, Some(&cookie)).await.text();
    assert!(html.contains(&question), "{html}");
    assert!(
        html.contains("Your password"),
        "a reader without a linked identity confirms with it"
    );
    // Typed loosely, or as RFC 8628's `user_code`: the same request.
    let typed = code["user_code"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase();
    for query in [format!("?code={typed}"), format!("?user_code={typed}")] {
        let html = app
            .get(&format!("/device{query}"), Some(&cookie))
            .await
            .text();
        assert!(html.contains(&question), "{query}");
    }
    // Without a code: the form.
    let html = app.get("/device", Some(&cookie)).await.text();
    assert!(html.contains("Connect a device") && html.contains("Code shown on your device"));
    assert!(!html.contains("Allow "));
}

async fn the_device_page_says_what_is_wrong_with_a_code(engine: Engine) {
    let app = crate::common::TestApp::new(engine).await;
    let (_, cookie, _) = admin_and_reader(&app).await;
    let html = app
        .get("/device?code=BBBB-BBBB", Some(&cookie))
        .await
        .text();
    assert!(html.contains("This code is not right."), "{html}");
    assert!(
        html.contains("value=\"BBBB-BBBB\""),
        "the code is shown back"
    );

    let used = device_code(&app, "Kobo").await;
    let r = app
        .post_json(
            "/api/v1/auth/device/approve",
            json!({"userCode": used["user_code"], "allow": false}),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let html = app
        .get(
            &format!("/device?code={}", used["user_code"].as_str().unwrap()),
            Some(&cookie),
        )
        .await
        .text();
    assert!(html.contains("This code has already been used."), "{html}");

    let expired = device_code(&app, "Kobo").await;
    app.clock.advance_ms(11 * 60_000);
    let html = app
        .get(
            &format!("/device?code={}", expired["user_code"].as_str().unwrap()),
            Some(&cookie),
        )
        .await
        .text();
    assert!(html.contains("This code has expired."), "{html}");

    // Wrong codes count, on the page too: the eleventh in ten minutes is refused.
    for _ in 0..10 {
        app.get("/device?code=CCCC-CCCC", Some(&cookie)).await;
    }
    let html = app
        .get("/device?code=CCCC-CCCC", Some(&cookie))
        .await
        .text();
    assert!(html.contains("Too many wrong codes."), "{html}");
}

async fn devices_and_apps_are_listed_on_the_profile_and_for_admins(engine: Engine) {
    let app = crate::common::TestApp::new(engine).await;
    let (admin, cookie, reader_id) = admin_and_reader(&app).await;
    let html = app.get("/profile", Some(&cookie)).await.text();
    assert!(
        html.contains("Devices and apps") && html.contains("No devices or apps are connected.")
    );
    assert!(html.contains("Connect a device") && html.contains("Create app password"));

    connect(&app, &cookie).await;
    reader_app_password(&app, &cookie, "Panels OPDS").await;
    let html = app.get("/profile", Some(&cookie)).await.text();
    for shown in [
        "Kobo Libra",
        "Panels OPDS",
        "App password",
        "Device",
        "Full access",
        "Revoke",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
    // Back from the provider's confirmation, the form is filled in again.
    let html = app
        .get(
            "/profile?appPassword=Chunky%20OPDS&scope=read",
            Some(&cookie),
        )
        .await
        .text();
    assert!(html.contains(r#""appPasswordDraft":{"name":"Chunky OPDS","scope":"read"}"#));
    assert!(html.contains("Confirmed with your provider."));

    // The admin's user list carries each user's grants, for the user's panel.
    let html = app.get("/admin/users", Some(&admin)).await.text();
    assert!(html.contains("Panels OPDS") && html.contains("Kobo Libra"));
    assert!(
        html.contains(&format!("\"userId\":{reader_id}")),
        "grants by user id"
    );
}
