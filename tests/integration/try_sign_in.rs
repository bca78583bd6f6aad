//! Try Sign-in (spec section 12): a dry run from the settings form that reports what a real
//! sign-in of a test user would check, map and decide, and changes nothing.

use crate::common::{Engine, Reply, TestApp};
use crate::oidc_sign_in::{rs256, Flow, BROWSER};
use crate::on_both_engines;
use crate::signer::{sign, Key};
use axum::http::StatusCode;
use serde_json::{json, Value};

on_both_engines!(
    each_decision_is_reported_and_nothing_changes,
    group_mappings_show_grants_and_what_each_sync_mode_changes,
    a_bad_id_token_gives_a_report_with_the_failing_check,
    only_the_admin_who_started_it_reads_the_report_for_ten_minutes,
    force_disable_oidc_turns_it_off
);

/// A started dry run: the provider URL's state and nonce.
struct Trial {
    state: String,
    nonce: String,
    url: String,
}

/// Starts a dry run from the admin's browser with the unsaved form `form`.
async fn start(flow: &Flow, form: Value) -> Trial {
    let cookie = format!("{}; {}", flow.browser_cookie(BROWSER), flow.admin);
    let r = flow
        .app
        .post_json("/api/v1/settings/oidc/try", form, Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["url"].as_str().unwrap().to_owned();
    let parsed = url::Url::parse(&url).unwrap();
    let param = |k: &str| {
        parsed
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Trial {
        state: param("state"),
        nonce: param("nonce"),
        url,
    }
}

/// The provider's redirect back to the admin's browser and session, answering the report's
/// id (the callback sends the browser to its page).
async fn finish(flow: &Flow, trial: &Trial, id_token: &str) -> String {
    flow.answer_with(id_token);
    let grant = flow.idp.approve(&trial.url);
    let r = flow
        .callback(BROWSER, &grant.query(), Some(&flow.admin))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(
        r.set_cookies().iter().all(|c| !c.contains("session")),
        "a dry run sets no session cookie: {:?}",
        r.set_cookies()
    );
    let location = r.location().unwrap();
    location
        .strip_prefix("/settings/oidc/try/")
        .unwrap_or_else(|| panic!("not a report: {location}"))
        .to_owned()
}

async fn report(flow: &Flow, id: &str, cookie: &str) -> Reply {
    flow.app
        .get(&format!("/api/v1/settings/oidc/try/{id}"), Some(cookie))
        .await
}

/// A whole dry run for the identity `sub` / `username` with the unsaved form `form`.
async fn dry_run(flow: &Flow, form: Value, sub: &str, username: &str) -> Value {
    let trial = start(flow, form).await;
    let token = rs256(&flow.claims(&trial.nonce, sub, username), Some("rsa-1"), 0);
    let id = finish(flow, &trial, &token).await;
    let r = report(flow, &id, &flow.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// Users (with their links, permissions and libraries), sessions and links, as stored.
async fn snapshot(flow: &Flow) -> (Value, i64, i64, i64) {
    let users = flow
        .app
        .get("/api/v1/admin/users", Some(&flow.admin))
        .await
        .json();
    let app = &flow.app;
    (
        users,
        app.count("SELECT COUNT(*) FROM sessions").await,
        app.count("SELECT COUNT(*) FROM oidc_identities").await,
        app.count("SELECT COUNT(*) FROM user_libraries").await,
    )
}

#[track_caller]
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
}

async fn still_the_admin(flow: &Flow) {
    let me = flow.app.get("/api/v1/auth/me", Some(&flow.admin)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "admin");
}

async fn each_decision_is_reported_and_nothing_changes(engine: Engine) {
    // OIDC is off: the admin tries the provider before turning it on.
    let flow = Flow::new(engine, json!({"oidcEnabled": false})).await;
    let on = json!({"oidcEnabled": true, "autoProvisioning": true});
    // Rita has signed in for real before (a linked identity).
    flow.app
        .put_json("/api/v1/settings/oidc", on.clone(), Some(&flow.admin))
        .await;
    crate::oidc_sign_in::signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-rita", "rita"), Some("rsa-1"), 0))
            .await,
    );
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcEnabled": false, "autoProvisioning": false}),
            Some(&flow.admin),
        )
        .await;
    flow.app
        .create_user(&flow.admin, json!({"username": "paula"}))
        .await;
    for name in ["lena", "otto"] {
        flow.app
            .create_user(
                &flow.admin,
                json!({"username": name, "password": "a long password"}),
            )
            .await;
    }
    let before = snapshot(&flow).await;
    let cases = [
        // (unsaved form, sub, username, outcome, decision)
        (
            json!({}),
            "sub-rita",
            "rita",
            "linked",
            "Would sign in as rita (linked)",
        ),
        (
            json!({}),
            "sub-paula",
            "paula",
            "claim",
            "Would claim paula",
        ),
        (
            json!({"allowLocalAccountLinking": true}),
            "sub-lena",
            "lena",
            "link",
            "Would link lena",
        ),
        (
            json!({"autoProvisioning": true}),
            "sub-newbie",
            "newbie",
            "create",
            "Would create newbie",
        ),
        (
            json!({}),
            "sub-newbie",
            "newbie",
            "refuse",
            "Would refuse: not_provisioned",
        ),
        (
            json!({}),
            "sub-otto",
            "otto",
            "refuse",
            "Would refuse: link_refused",
        ),
    ];
    for (form, sub, username, outcome, decision) in cases {
        let r = dry_run(&flow, form, sub, username).await;
        assert_eq!(r["outcome"], outcome, "{r}");
        assert_eq!(r["decision"], decision, "{r}");
        assert_eq!(r["subject"], sub);
        assert_eq!(r["issuer"], flow.idp.issuer);
        let account = check(&r, "Account");
        if outcome == "refuse" {
            assert_eq!(account["status"], "FAIL");
            assert_eq!(
                account["reason"],
                decision.trim_start_matches("Would refuse: ")
            );
        } else {
            assert_eq!(account["status"], "PASS", "{r}");
        }
        for name in [
            "State",
            "Code Exchange",
            "ID Token Signature",
            "ID Token Claims",
        ] {
            assert_eq!(check(&r, name)["status"], "PASS", "{name}: {r}");
        }
        // The claims as the provider sent them; the mapped values with their source.
        let claims = r["idTokenClaims"].as_array().unwrap();
        assert!(claims
            .iter()
            .any(|c| c["name"] == "preferred_username" && c["value"] == username));
        assert!(r["idTokenHeader"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "alg" && c["value"] == "RS256"));
        let mapped = &r["mapped"][0];
        assert_eq!(mapped["field"], "username");
        assert_eq!(mapped["value"], username);
        assert_eq!(mapped["source"], "preferred_username (ID token)");
        // The fake provider sends no sid and no refresh token although offline_access is asked.
        let warnings = r["warnings"].to_string();
        assert!(warnings.contains("no sid"), "{warnings}");
        assert!(warnings.contains("No refresh token"), "{warnings}");
        // No token in the report.
        assert!(!r.to_string().contains("at-123"));
        assert_eq!(snapshot(&flow).await, before, "after {decision}");
        still_the_admin(&flow).await;
    }
    // Each dry run is audited with issuer, subject and decision, by the admin.
    let audits: Vec<Value> = flow
        .app
        .audit_events()
        .await
        .into_iter()
        .filter(|e| e["event"] == "OIDC_TEST_SIGN_IN")
        .collect();
    assert_eq!(audits.len(), 6);
    assert_eq!(
        audits[0]["details"]["decision"],
        "Would refuse: link_refused"
    );
    assert_eq!(audits[0]["details"]["subject"], "sub-otto");
    assert_eq!(audits[0]["details"]["issuer"], flow.idp.issuer.as_str());
    assert!(audits[0]["actorUserId"].is_number());
    // And it is none of a real sign-in's events.
    let events: Vec<Value> = flow.app.audit_events().await;
    let real = events
        .iter()
        .filter(|e| e["event"] == "OIDC_LOGIN_SUCCESS" || e["event"] == "OIDC_LOGIN_FAILED")
        .count();
    assert_eq!(real, 1, "only Rita's real sign-in");
}

async fn group_mappings_show_grants_and_what_each_sync_mode_changes(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let library = flow
        .app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Atlas"}),
            Some(&flow.admin),
        )
        .await
        .json();
    let r = flow
        .app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "readers", "libraryIds": [library["id"]], "permissions": ["permissionDownload"]}),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Gina exists with Upload, signed in before (groups: readers, the claims' default).
    let gina = flow
        .app
        .create_user(
            &flow.admin,
            json!({"username": "gina", "permissions": {"permissionUpload": true}}),
        )
        .await;
    let before = snapshot(&flow).await;
    let r = dry_run(
        &flow,
        json!({"groupSyncMode": "ON_LOGIN"}),
        "sub-gina",
        "gina",
    )
    .await;
    assert_eq!(r["decision"], "Would claim gina", "{r}");
    assert_eq!(
        r["grants"],
        json!({"isAdmin": false, "permissions": ["Download Books"], "libraries": ["Atlas"]})
    );
    let sync = r["sync"].as_array().unwrap();
    assert_eq!(sync[0]["mode"], "On Login (Replace)");
    assert_eq!(
        sync[0]["changes"],
        json!([
            "Adds permissions: Download Books",
            "Removes permissions: Upload Books",
            "Adds libraries: Atlas"
        ])
    );
    assert_eq!(sync[1]["mode"], "On Login (Additive)");
    assert_eq!(
        sync[1]["changes"],
        json!(["Adds permissions: Download Books", "Adds libraries: Atlas"])
    );
    assert_eq!(r["mapped"][3]["value"], "readers");
    assert_eq!(r["mapped"][3]["source"], "groups (ID token)");
    // Without a groups claim: the warning, and the fallback said.
    let trial = start(&flow, json!({"groupSyncMode": "ON_LOGIN_ADDITIVE"})).await;
    let mut claims = flow.claims(&trial.nonce, "sub-gina", "gina");
    claims.as_object_mut().unwrap().remove("groups");
    claims.as_object_mut().unwrap().remove("name");
    let id = finish(&flow, &trial, &rs256(&claims, Some("rsa-1"), 0)).await;
    let r = report(&flow, &id, &flow.admin).await.json();
    assert!(r["warnings"]
        .to_string()
        .contains("groups claim (groups) is missing although group mappings exist"));
    assert_eq!(r["mapped"][2]["value"], Value::Null);
    assert_eq!(r["mapped"][2]["fallback"], "the username");
    assert_eq!(
        r["mapped"][3]["fallback"],
        "none: group sync changes nothing"
    );
    assert_eq!(snapshot(&flow).await, before);
    let gina_now = flow
        .app
        .get(
            &format!("/api/v1/admin/users/{}", gina["id"]),
            Some(&flow.admin),
        )
        .await
        .json();
    assert_eq!(gina_now["oidcLink"], Value::Null);
    assert_eq!(gina_now["permissions"]["permissionDownload"], false);
}

async fn a_bad_id_token_gives_a_report_with_the_failing_check(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let before = snapshot(&flow).await;
    let trial = start(&flow, json!({})).await;
    // A fresh sign-in at the provider, as any test user.
    assert!(trial.url.contains("prompt=login"), "{}", trial.url);
    // Signed with a key the provider does not publish under that kid.
    let claims = flow.claims(&trial.nonce, "sub-x", "xavier");
    let forged = sign(
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &claims,
        Key::Rsa(1),
    );
    let id = finish(&flow, &trial, &forged).await;
    let r = report(&flow, &id, &flow.admin).await.json();
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["decision"], "Would refuse: bad_signature");
    let statuses: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["PASS", "PASS", "PASS", "PASS", "FAIL", "SKIP", "SKIP", "SKIP"]
    );
    assert_eq!(check(&r, "ID Token Signature")["reason"], "bad_signature");
    assert_eq!(r["idTokenClaims"], json!([]));
    // A wrong nonce fails the claims check.
    let trial = start(&flow, json!({})).await;
    let token = rs256(&flow.claims("another", "sub-x", "xavier"), Some("rsa-1"), 0);
    let id = finish(&flow, &trial, &token).await;
    let r = report(&flow, &id, &flow.admin).await.json();
    assert_eq!(check(&r, "ID Token Claims")["reason"], "nonce_mismatch");
    assert_eq!(snapshot(&flow).await, before);
    still_the_admin(&flow).await;
    assert_eq!(
        flow.last_failure().await,
        None,
        "no failed sign-in is audited"
    );
}

async fn only_the_admin_who_started_it_reads_the_report_for_ten_minutes(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    flow.app
        .create_user(
            &flow.admin,
            json!({"username": "reader", "password": "reader password"}),
        )
        .await;
    flow.app
        .create_user(
            &flow.admin,
            json!({"username": "boss", "password": "boss password", "isAdmin": true}),
        )
        .await;
    let reader = flow.app.cookie_for("reader", "reader password").await;
    let boss = flow.app.cookie_for("boss", "boss password").await;
    // A non-admin cannot start one.
    let r = flow
        .app
        .post_json(
            "/api/v1/settings/oidc/try",
            json!({}),
            Some(&format!("{}; {reader}", flow.browser_cookie(BROWSER))),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = dry_run(&flow, json!({}), "sub-new", "newcomer").await;
    assert_eq!(r["decision"], "Would create newcomer");
    let trial = start(&flow, json!({})).await;
    let token = rs256(
        &flow.claims(&trial.nonce, "sub-new", "newcomer"),
        Some("rsa-1"),
        0,
    );
    let id = finish(&flow, &trial, &token).await;
    // The report page, for its admin.
    let page = flow
        .app
        .get(&format!("/settings/oidc/try/{id}"), Some(&flow.admin))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text().contains("Would create newcomer"),
        "{}",
        page.text()
    );
    // Not for a non-admin, nor for another admin.
    assert_eq!(
        report(&flow, &id, &reader).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        report(&flow, &id, &boss).await.status,
        StatusCode::NOT_FOUND
    );
    let other = flow
        .app
        .get(&format!("/settings/oidc/try/{id}"), Some(&boss))
        .await;
    assert!(!other.text().contains("Would create newcomer"));
    // A dry run that comes back to another session of this browser reports a state mismatch.
    let trial = start(&flow, json!({})).await;
    let token = rs256(
        &flow.claims(&trial.nonce, "sub-new", "newcomer"),
        Some("rsa-1"),
        0,
    );
    flow.answer_with(&token);
    let r = flow
        .callback(
            BROWSER,
            &format!("code=x&state={}", trial.state),
            Some(&boss),
        )
        .await;
    let location = r.location().unwrap().to_owned();
    let other_id = location.trim_start_matches("/settings/oidc/try/");
    assert_eq!(
        report(&flow, other_id, &boss).await.status,
        StatusCode::NOT_FOUND
    );
    let mismatch = report(&flow, other_id, &flow.admin).await.json();
    assert_eq!(check(&mismatch, "State")["reason"], "state_mismatch");
    assert_eq!(mismatch["idTokenClaims"], json!([]));
    // Ten minutes later it is gone.
    flow.app.clock.advance_ms(10 * 60_000 + 1);
    assert_eq!(
        report(&flow, &id, &flow.admin).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn force_disable_oidc_turns_it_off(engine: Engine) {
    let app = TestApp::with_settings(engine, |raw| {
        raw.force_disable_oidc = Some("true".to_owned())
    })
    .await;
    let flow = Flow::on(app, json!({})).await;
    let cookie = format!("{}; {}", flow.browser_cookie(BROWSER), flow.admin);
    let r = flow
        .app
        .post_json("/api/v1/settings/oidc/try", json!({}), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("FORCE_DISABLE_OIDC"));
    assert_eq!(
        flow.app.count("SELECT COUNT(*) FROM pending_logins").await,
        0
    );
}
