//! Sign-in with OIDC against a provider of our own that signs whatever the test asks for.

use crate::common::{Engine, Reply, TestApp};
use crate::fake_idp::{FakeIdp, Grant};
use crate::in_flight::{release_when_waiting, TableLock};
use crate::on_both_engines;
use crate::signer::{ec_jwk, rsa_jwk, sign, Key};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Barrier;

pub const CLIENT: &str = "grimmory";
pub const BROWSER: &str = "browser-one-0123456789abcdefghijklmnopqrstuv";
const OTHER_BROWSER: &str = "browser-two-0123456789abcdefghijklmnopqrstuv";

pub struct Flow {
    pub app: TestApp,
    pub idp: FakeIdp,
    pub admin: String,
}

pub struct Started {
    pub state: String,
    pub nonce: String,
    pub location: String,
    /// What the provider sends the browser back with once the user approved.
    pub grant: Grant,
}

impl Flow {
    pub async fn new(engine: Engine, settings: Value) -> Self {
        Self::on(TestApp::new(engine).await, settings).await
    }

    /// The provider, set up with `settings`, on an app built by the test.
    pub async fn on(app: TestApp, settings: Value) -> Self {
        let admin = app.setup_admin().await;
        let idp = FakeIdp::start().await;
        idp.set(|b| b.jwks = json!({"keys": [rsa_jwk(0, "rsa-1"), ec_jwk("ec-1")]}));
        let mut body = json!({"providerName": "Fake", "clientId": CLIENT, "issuerUri": idp.issuer, "oidcEnabled": true});
        for (k, v) in settings.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .put_json("/api/v1/settings/oidc", body, Some(&admin))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        Self { app, idp, admin }
    }

    pub async fn authorize(&self, browser: &str, query: &str) -> Started {
        let req = Request::get(format!("/api/v1/auth/oidc/authorize{query}"))
            .header("cookie", self.browser_cookie(browser))
            .body(Body::empty())
            .unwrap();
        let r = self.app.send(req).await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
        let location = r.location().unwrap().to_owned();
        let url = url::Url::parse(&location).unwrap();
        let param = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Started {
            state: param("state"),
            nonce: param("nonce"),
            grant: self.idp.approve(&location),
            location,
        }
    }

    /// The browser cookie under the name this app reads (`__Host-` under an https public URL).
    pub fn browser_cookie(&self, browser: &str) -> String {
        let prefix = if self.app.state.config.secure_cookies() {
            "__Host-"
        } else {
            ""
        };
        format!("{prefix}grimmory_browser={browser}")
    }

    pub fn now(&self) -> i64 {
        use grimmory::clock::Clock;
        self.app.clock.now() / 1000
    }

    /// A good ID token's claims for `sub`.
    pub fn claims(&self, nonce: &str, sub: &str, username: &str) -> Value {
        json!({
            "iss": self.idp.issuer, "aud": CLIENT, "sub": sub, "nonce": nonce,
            "iat": self.now(), "exp": self.now() + 300,
            "preferred_username": username, "email": format!("{username}@example.org"),
            "name": format!("{username} from the provider"), "groups": ["readers"],
        })
    }

    pub fn answer_with(&self, id_token: &str) {
        let token = id_token.to_owned();
        self.idp.set(move |b| {
            b.token_status = 200;
            b.token_body = json!({"access_token": "at-123", "token_type": "Bearer", "id_token": token, "expires_in": 300});
        });
    }

    pub async fn callback(&self, browser: &str, query: &str, session: Option<&str>) -> Reply {
        let mut cookie = self.browser_cookie(browser);
        if let Some(s) = session {
            cookie = format!("{cookie}; {s}");
        }
        let req = Request::get(format!("/oauth2-callback?{query}"))
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap();
        self.app.send(req).await
    }

    /// The whole round trip with a token built by `token` from the nonce.
    pub async fn sign_in(&self, token: impl FnOnce(&Self, &str) -> String) -> Reply {
        let started = self.authorize(BROWSER, "").await;
        self.answer_with(&token(self, &started.nonce));
        self.callback(BROWSER, &started.grant.query(), None).await
    }

    /// The user of the session `cookie`: (username, linked subject).
    pub async fn who(&self, cookie: &str) -> (String, String) {
        let me = self.app.get("/api/v1/auth/me", Some(cookie)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
        let me = me.json();
        (
            me["username"].as_str().unwrap_or_default().to_owned(),
            me["oidcLink"]["subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    pub async fn last_failure(&self) -> Option<String> {
        self.app
            .audit_events()
            .await
            .into_iter()
            .find(|e| e["event"] == "OIDC_LOGIN_FAILED")
            .map(|e| e["details"]["reason"].as_str().unwrap_or("").to_owned())
    }

    pub async fn user_count(&self) -> usize {
        self.app
            .get("/api/v1/admin/users", Some(&self.admin))
            .await
            .json()
            .as_array()
            .unwrap()
            .len()
    }
}

pub fn rs256(claims: &Value, kid: Option<&str>, key: usize) -> String {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(k) = kid {
        header["kid"] = json!(k);
    }
    sign(&header, claims, Key::Rsa(key))
}

#[track_caller]
pub fn signed_in(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(
        !r.location().unwrap().contains("oidcError"),
        "{:?}",
        r.location()
    );
    r.session_cookie().expect("a session")
}

#[track_caller]
pub fn refused(r: &Reply, code: &str) {
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location(),
        Some(format!("/login?oidcError={code}").as_str())
    );
    assert!(r.session_cookie().is_none());
}

on_both_engines!(
    good_tokens_sign_in,
    bad_tokens_are_refused_and_change_nothing,
    state_and_callback_rules,
    matching_rules,
    group_sync_modes,
    linking_from_the_profile
);

async fn good_tokens_sign_in(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // RS256 with the provider's PKCE: the token request carried the verifier and no secret.
    let started = flow.authorize(BROWSER, "?returnTo=%2Fprofile").await;
    for part in [
        "response_type=code",
        "client_id=grimmory",
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "scope=openid+profile+email+groups+offline_access",
    ] {
        assert!(
            started.location.contains(part),
            "{} in {}",
            part,
            started.location
        );
    }
    flow.answer_with(&rs256(
        &flow.claims(&started.nonce, "sub-rs", "rita"),
        Some("rsa-1"),
        0,
    ));
    let r = flow
        .callback(
            BROWSER,
            &format!("{}&iss={}", started.grant.query(), flow.idp.issuer),
            None,
        )
        .await;
    let cookie = signed_in(&r);
    assert_eq!(r.location(), Some("/profile"));
    let (headers, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    assert!(
        body.contains("code_verifier=")
            && body.contains("client_id=grimmory")
            && body.contains(&format!("code={}", started.grant.code))
            && !body.contains("client_secret")
            && headers.get("authorization").is_none(),
        "{body}"
    );
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["username"], "rita");
    assert_eq!(me["oidcLink"]["subject"], "sub-rs");
    assert_eq!(me["hasPassword"], false);
    // Userinfo was down: the ID token's claims were enough, and the audit log says so.
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "OIDC_LOGIN_SUCCESS" && e["details"]["warning"].is_string()));
    // With userinfo up, its claims fill what the ID token lacks.
    flow.idp.set(|b| {
        b.userinfo_status = 200;
        b.userinfo = json!({"sub": "sub-rs", "name": "Rita from userinfo"});
    });
    let r = flow
        .sign_in(|f, nonce| {
            let mut c = f.claims(nonce, "sub-rs", "rita");
            c.as_object_mut().unwrap().remove("name");
            rs256(&c, Some("rsa-1"), 0)
        })
        .await;
    let me = flow
        .app
        .get("/api/v1/auth/me", Some(&signed_in(&r)))
        .await
        .json();
    assert_eq!(me["name"], "Rita from userinfo");
    // Userinfo signed as a JWT counts too (one badly signed: `oidc_provider`).
    let signed = rs256(
        &json!({"sub": "sub-rs", "name": "Rita signed", "iss": flow.idp.issuer, "aud": CLIENT}),
        Some("rsa-1"),
        0,
    );
    flow.idp.set(move |b| b.userinfo_jwt = Some(signed));
    let without_name = |f: &Flow, nonce: &str| {
        let mut c = f.claims(nonce, "sub-rs", "rita");
        c.as_object_mut().unwrap().remove("name");
        rs256(&c, Some("rsa-1"), 0)
    };
    let r = flow.sign_in(without_name).await;
    assert_eq!(
        flow.app
            .get("/api/v1/auth/me", Some(&signed_in(&r)))
            .await
            .json()["name"],
        "Rita signed"
    );
    flow.idp.set(|b| {
        b.userinfo_jwt = None;
        b.userinfo_status = 503;
    });
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "OIDC_USER_PROVISIONED"));

    // ES256, and a single key without kid.
    let es = flow
        .sign_in(|f, nonce| {
            sign(
                &json!({"alg": "ES256", "kid": "ec-1"}),
                &f.claims(nonce, "sub-ec", "erin"),
                Key::Ec,
            )
        })
        .await;
    assert_eq!(
        flow.who(&signed_in(&es)).await,
        ("erin".to_owned(), "sub-ec".to_owned()),
        "ES256"
    );
    flow.idp
        .set(|b| b.jwks = json!({"keys": [rsa_jwk(0, "only")]}));
    flow.app.state.oidc.forget_providers();
    let nokid = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-nokid", "nora"), None, 0))
        .await;
    assert_eq!(
        flow.who(&signed_in(&nokid)).await,
        ("nora".to_owned(), "sub-nokid".to_owned()),
        "no kid"
    );

    // Key rotation: a new kid is fetched once and accepted (keys are fetched again at most
    // once a minute).
    flow.idp
        .set(|b| b.jwks = json!({"keys": [rsa_jwk(0, "only"), rsa_jwk(1, "rotated")]}));
    flow.app.clock.advance_ms(61_000);
    let fetches = flow.idp.seen().jwks_fetches;
    signed_in(
        &flow
            .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-rot", "rob"), Some("rotated"), 1))
            .await,
    );
    assert_eq!(flow.idp.seen().jwks_fetches, fetches + 1);

    // Two tabs of one browser sign in at once.
    let first = flow.authorize(BROWSER, "").await;
    let second = flow.authorize(BROWSER, "").await;
    flow.answer_with(&rs256(
        &flow.claims(&second.nonce, "sub-rs", "rita"),
        Some("only"),
        0,
    ));
    signed_in(&flow.callback(BROWSER, &second.grant.query(), None).await);
    flow.answer_with(&rs256(
        &flow.claims(&first.nonce, "sub-rs", "rita"),
        Some("only"),
        0,
    ));
    signed_in(&flow.callback(BROWSER, &first.grant.query(), None).await);
}

async fn bad_tokens_are_refused_and_change_nothing(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let users = flow.user_count().await;
    type Mutate = fn(&mut Value, &Flow);
    let cases: Vec<(&str, Mutate, &str)> = vec![
        (
            "issuer",
            |c, _| c["iss"] = json!("https://evil.example/"),
            "issuer_mismatch",
        ),
        (
            "audience",
            |c, _| c["aud"] = json!("someone-else"),
            "audience_mismatch",
        ),
        (
            "extra audience",
            |c, _| c["aud"] = json!([CLIENT, "untrusted"]),
            "audience_mismatch",
        ),
        (
            "azp",
            |c, _| c["azp"] = json!("someone-else"),
            "azp_mismatch",
        ),
        ("expired", |c, f| c["exp"] = json!(f.now() - 120), "expired"),
        (
            "iat before the sign-in",
            |c, f| c["iat"] = json!(f.now() - 600),
            "iat_out_of_range",
        ),
        (
            "iat in the future",
            |c, f| c["iat"] = json!(f.now() + 600),
            "iat_out_of_range",
        ),
        (
            "nonce",
            |c, _| c["nonce"] = json!("not-the-nonce"),
            "nonce_mismatch",
        ),
        (
            "no nonce",
            |c, _| {
                c.as_object_mut().unwrap().remove("nonce");
            },
            "nonce_mismatch",
        ),
        (
            "no sub",
            |c, _| {
                c.as_object_mut().unwrap().remove("sub");
            },
            "missing_sub",
        ),
        (
            "at_hash",
            |c, _| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"),
            "at_hash_mismatch",
        ),
    ];
    for (name, mutate, reason) in cases {
        let calls = flow.idp.seen().userinfo_calls;
        let r = flow
            .sign_in(|f, nonce| {
                let mut c = f.claims(nonce, "sub-bad", "mallory");
                mutate(&mut c, f);
                rs256(&c, Some("rsa-1"), 0)
            })
            .await;
        assert_eq!(
            r.location(),
            Some("/login?oidcError=invalid_token"),
            "{name}"
        );
        assert!(r.session_cookie().is_none(), "{name}");
        assert_eq!(flow.last_failure().await.as_deref(), Some(reason), "{name}");
        assert_eq!(
            flow.idp.seen().userinfo_calls,
            calls,
            "{name}: no userinfo call after a bad token"
        );
    }
    // Signatures and algorithms.
    let bad_rs = flow
        .sign_in(|f, nonce| {
            let good = rs256(&f.claims(nonce, "sub-bad", "mallory"), Some("rsa-1"), 0);
            let other = rs256(&f.claims(nonce, "sub-other", "x"), Some("rsa-1"), 0);
            format!(
                "{}.{}",
                good.rsplit_once('.').unwrap().0,
                other.rsplit_once('.').unwrap().1
            )
        })
        .await;
    refused(&bad_rs, "invalid_token");
    assert_eq!(flow.last_failure().await.as_deref(), Some("bad_signature"));
    let bad_es = flow
        .sign_in(|f, nonce| {
            let t = sign(
                &json!({"alg": "ES256", "kid": "ec-1"}),
                &f.claims(nonce, "sub-bad", "m"),
                Key::Ec,
            );
            let (rest, _) = t.rsplit_once('.').unwrap();
            format!("{rest}.{}", "A".repeat(86))
        })
        .await;
    refused(&bad_es, "invalid_token");
    assert_eq!(flow.last_failure().await.as_deref(), Some("bad_signature"));
    let none = flow
        .sign_in(|f, nonce| {
            sign(
                &json!({"alg": "none"}),
                &f.claims(nonce, "sub-bad", "m"),
                Key::Unsigned,
            )
        })
        .await;
    refused(&none, "invalid_token");
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("alg_not_allowed")
    );
    let hs = flow
        .sign_in(|f, nonce| {
            sign(
                &json!({"alg": "HS256"}),
                &f.claims(nonce, "sub-bad", "m"),
                Key::Hmac("guessable"),
            )
        })
        .await;
    refused(&hs, "invalid_token");
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("alg_not_allowed")
    );
    // An unknown key is looked for once more at the provider, then refused.
    flow.app.clock.advance_ms(61_000);
    let fetches = flow.idp.seen().jwks_fetches;
    let unknown = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-bad", "m"), Some("nobody-knows"), 1))
        .await;
    refused(&unknown, "invalid_token");
    assert_eq!(flow.last_failure().await.as_deref(), Some("unknown_kid"));
    assert_eq!(flow.idp.seen().jwks_fetches, fetches + 1);
    // Userinfo that speaks for someone else.
    flow.idp.set(|b| {
        b.userinfo_status = 200;
        b.userinfo = json!({"sub": "somebody-else"});
    });
    let mismatch = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-bad", "m"), Some("rsa-1"), 0))
        .await;
    refused(&mismatch, "invalid_token");
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("userinfo_sub_mismatch")
    );
    // A wrong client secret is an exchange failure, not "could not reach".
    flow.idp
        .set(|b| b.client_secret = Some("the provider's secret".to_owned()));
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"clientSecret": "a wrong secret"}),
            Some(&flow.admin),
        )
        .await;
    let r = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-bad", "m"), Some("rsa-1"), 0))
        .await;
    refused(&r, "exchange_failed");
    assert_eq!(flow.last_failure().await.as_deref(), Some("invalid_client"));

    assert_eq!(
        flow.user_count().await,
        users,
        "nothing was provisioned by a refused sign-in"
    );
    let sessions_users = flow
        .app
        .get("/api/v1/admin/users", Some(&flow.admin))
        .await
        .json();
    assert!(sessions_users
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["username"] != "mallory"));
}

async fn state_and_callback_rules(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // The provider's error is shown as a code, never followed.
    let started = flow.authorize(BROWSER, "").await;
    let r = flow
        .callback(
            BROWSER,
            &format!(
                "error=access_denied&error_description=nope&state={}",
                started.state
            ),
            None,
        )
        .await;
    assert_eq!(r.location(), Some("/login?oidcError=access_denied"));
    assert!(r.session_cookie().is_none());
    // Unknown state, another browser's state, a replayed callback.
    refused(
        &flow.callback(BROWSER, "code=x&state=made-up", None).await,
        "state_mismatch",
    );
    let theirs = flow.authorize(OTHER_BROWSER, "").await;
    flow.answer_with(&rs256(
        &flow.claims(&theirs.nonce, "sub-x", "xavier"),
        Some("rsa-1"),
        0,
    ));
    refused(
        &flow
            .callback(BROWSER, &format!("code=x&state={}", theirs.state), None)
            .await,
        "state_mismatch",
    );
    // ... and that state is used up for its owner too.
    refused(
        &flow
            .callback(
                OTHER_BROWSER,
                &format!("code=x&state={}", theirs.state),
                None,
            )
            .await,
        "state_mismatch",
    );
    let mine = flow.authorize(BROWSER, "").await;
    flow.answer_with(&rs256(
        &flow.claims(&mine.nonce, "sub-x", "xavier"),
        Some("rsa-1"),
        0,
    ));
    signed_in(&flow.callback(BROWSER, &mine.grant.query(), None).await);
    refused(
        &flow.callback(BROWSER, &mine.grant.query(), None).await,
        "state_mismatch",
    );
    // An iss parameter from another issuer.
    let started = flow.authorize(BROWSER, "").await;
    refused(
        &flow
            .callback(
                BROWSER,
                &format!(
                    "code=x&state={}&iss=https%3A%2F%2Fevil.example%2F",
                    started.state
                ),
                None,
            )
            .await,
        "state_mismatch",
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("iss_param_mismatch")
    );
    // Pending sign-ins last ten minutes.
    let late = flow.authorize(BROWSER, "").await;
    flow.app.clock.advance_ms(11 * 60_000);
    refused(
        &flow
            .callback(BROWSER, &format!("code=x&state={}", late.state), None)
            .await,
        "state_mismatch",
    );
    // Unsafe return paths are dropped at the start.
    let started = flow
        .authorize(BROWSER, "?returnTo=%2F%2Fevil.example")
        .await;
    flow.answer_with(&rs256(
        &flow.claims(&started.nonce, "sub-x", "xavier"),
        Some("rsa-1"),
        0,
    ));
    assert_eq!(
        flow.callback(BROWSER, &started.grant.query(), None)
            .await
            .location(),
        Some("/")
    );
    // The provider down: local sign-in still works.
    flow.idp.set(|b| b.redirect_discovery = true);
    flow.app.state.oidc.forget_providers();
    let r = flow
        .app
        .send(
            Request::get("/api/v1/auth/oidc/authorize")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.location(), Some("/login?oidcError=provider_unreachable"));
    assert_eq!(
        flow.app
            .login("admin", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
}

async fn matching_rules(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    let sign = |sub: &'static str, username: &'static str| {
        move |f: &Flow, nonce: &str| rs256(&f.claims(nonce, sub, username), Some("rsa-1"), 0)
    };
    // Not provisioned: refused and audited with the username.
    refused(
        &flow.sign_in(sign("sub-n", "nobody")).await,
        "not_provisioned",
    );
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("not_provisioned")
    );
    let failed = flow
        .app
        .audit_events()
        .await
        .into_iter()
        .find(|e| e["event"] == "OIDC_LOGIN_FAILED")
        .unwrap();
    assert_eq!(failed["details"]["username"], "nobody");
    // An admin account without a password is never claimed by username either.
    flow.app
        .create_user(&flow.admin, json!({"username": "boss", "isAdmin": true}))
        .await;
    refused(
        &flow.sign_in(sign("sub-boss", "boss")).await,
        "link_refused",
    );
    // A password-less account is claimed by its username.
    flow.app
        .create_user(&flow.admin, json!({"username": "claimer"}))
        .await;
    signed_in(&flow.sign_in(sign("sub-c", "claimer")).await);
    // A password account: refused while linking is off, and never for an admin.
    flow.app
        .create_user(
            &flow.admin,
            json!({"username": "local", "password": "local password"}),
        )
        .await;
    refused(&flow.sign_in(sign("sub-l", "local")).await, "link_refused");
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"allowLocalAccountLinking": true}),
            Some(&flow.admin),
        )
        .await;
    refused(&flow.sign_in(sign("sub-a", "admin")).await, "link_refused");
    let r = flow.sign_in(sign("sub-l", "local")).await;
    let cookie = signed_in(&r);
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["username"], "local");
    assert_eq!(me["hasPassword"], true, "linking keeps the password");
    // An account linked to another subject is refused.
    refused(
        &flow.sign_in(sign("sub-other", "local")).await,
        "link_refused",
    );
    // Returning users are found by (issuer, subject), whatever their username now says; the
    // email is refreshed unless it belongs to someone else.
    let r = flow.sign_in(|f, nonce| {
        let mut c = f.claims(nonce, "sub-l", "renamed-at-provider");
        c["email"] = json!("admin@example.org");
        rs256(&c, Some("rsa-1"), 0)
    });
    let cookie = signed_in(&r.await);
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["username"], "local");
    assert_eq!(me["email"], "local@example.org");
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "OIDC_LOGIN_SUCCESS"
            && e["details"]["warning"]
                .as_str()
                .is_some_and(|w| w.contains("email"))));
    // A fallback username (no preferred_username) never matches an existing account.
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"autoProvisioning": true}),
            Some(&flow.admin),
        )
        .await;
    let r = flow
        .sign_in(|f, nonce| {
            let mut c = f.claims(nonce, "sub-fallback", "x");
            c.as_object_mut().unwrap().remove("preferred_username");
            c["email"] = json!("claimer");
            rs256(&c, Some("rsa-1"), 0)
        })
        .await;
    refused(&r, "link_refused");
    // Provisioning grants the chosen defaults and never admin.
    let lib = flow
        .app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "Maps"}),
            Some(&flow.admin),
        )
        .await
        .json();
    flow.app
        .put_json("/api/v1/settings/oidc", json!({"defaultPermissions": ["permissionUpload", "permissionSyncKobo"], "defaultLibraryIds": [lib["id"]]}), Some(&flow.admin))
        .await;
    let cookie = signed_in(&flow.sign_in(sign("sub-new", "newbie")).await);
    let me = flow.app.get("/api/v1/auth/me", Some(&cookie)).await.json();
    assert_eq!(me["isAdmin"], false);
    assert_eq!(me["libraryIds"], json!([lib["id"]]));
    let granted: Vec<&str> = me["permissions"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| **v == true)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(granted, ["permissionSyncKobo", "permissionUpload"]);
}

async fn group_sync_modes(engine: Engine) {
    let flow = Flow::new(
        engine,
        json!({"autoProvisioning": true, "groupSyncMode": "ON_LOGIN"}),
    )
    .await;
    let a = flow
        .app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "A"}),
            Some(&flow.admin),
        )
        .await
        .json();
    let b = flow
        .app
        .post_json(
            "/api/v1/admin/libraries",
            json!({"name": "B"}),
            Some(&flow.admin),
        )
        .await
        .json();
    flow.app.post_json("/api/v1/admin/oidc-group-mappings", json!({"groupClaim": "readers", "libraryIds": [a["id"]], "permissions": ["permissionDownload"]}), Some(&flow.admin)).await;
    flow.app.post_json("/api/v1/admin/oidc-group-mappings", json!({"groupClaim": "writers", "libraryIds": [b["id"]], "permissions": ["permissionUpload"]}), Some(&flow.admin)).await;
    flow.app
        .post_json(
            "/api/v1/admin/oidc-group-mappings",
            json!({"groupClaim": "admins", "isAdmin": true}),
            Some(&flow.admin),
        )
        .await;
    let with_groups = |groups: Value| {
        move |f: &Flow, nonce: &str| {
            let mut c = f.claims(nonce, "sub-g", "gina");
            match &groups {
                Value::Null => {
                    c.as_object_mut().unwrap().remove("groups");
                }
                g => c["groups"] = g.clone(),
            }
            rs256(&c, Some("rsa-1"), 0)
        }
    };
    let me = |cookie: String| {
        let app = &flow.app;
        async move { app.get("/api/v1/auth/me", Some(&cookie)).await.json() }
    };
    let first = signed_in(
        &flow
            .sign_in(with_groups(json!(["readers", "writers"])))
            .await,
    );
    let both = me(first.clone()).await;
    assert_eq!(both["libraryIds"], json!([a["id"], b["id"]]));
    assert_eq!(both["permissions"]["permissionUpload"], true);
    // Replace: leaving a group removes what it gave.
    let left = me(signed_in(
        &flow.sign_in(with_groups(json!(["readers"]))).await,
    ))
    .await;
    assert_eq!(left["libraryIds"], json!([a["id"]]));
    assert_eq!(left["permissions"]["permissionUpload"], false);
    // The session signed in before sees the sync at once too (`auth::recent`).
    let earlier = me(first).await;
    assert_eq!(earlier["libraryIds"], json!([a["id"]]));
    assert_eq!(earlier["permissions"]["permissionUpload"], false);
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "PERMISSIONS_SYNCED"
            && e["details"]["changes"]["permissionsRemoved"] == json!(["permissionUpload"])));
    // No groups claim at all: nothing changes.
    let same = me(signed_in(&flow.sign_in(with_groups(Value::Null)).await)).await;
    assert_eq!(same["libraryIds"], json!([a["id"]]));
    // One string counts as one group.
    let one = me(signed_in(
        &flow.sign_in(with_groups(json!("writers"))).await,
    ))
    .await;
    assert_eq!(one["libraryIds"], json!([b["id"]]));
    // Additive only adds.
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"groupSyncMode": "ON_LOGIN_ADDITIVE"}),
            Some(&flow.admin),
        )
        .await;
    let added = me(signed_in(
        &flow.sign_in(with_groups(json!(["readers"]))).await,
    ))
    .await;
    assert_eq!(added["libraryIds"], json!([a["id"], b["id"]]));
    // Group sync never removes the last admin: the setup admin, linked and synced with no
    // admin group, stays admin and the refusal is audited.
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"groupSyncMode": "ON_LOGIN"}),
            Some(&flow.admin),
        )
        .await;
    let admin_id = flow
        .app
        .get("/api/v1/auth/me", Some(&flow.admin))
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    crate::oidc_settings::link_identity_to(&flow.app, admin_id, &flow.idp.issuer, "sub-admin")
        .await;
    let r = flow
        .sign_in(|f, nonce| rs256(&f.claims(nonce, "sub-admin", "admin"), Some("rsa-1"), 0))
        .await;
    let admin_now = me(signed_in(&r)).await;
    assert_eq!(admin_now["isAdmin"], true);
    let events = flow.app.audit_events().await;
    assert!(events.iter().any(|e| e["event"] == "SYNC_REFUSED"));
    assert!(events
        .iter()
        .any(|e| e["event"] == "PERMISSIONS_SYNCED" && e["details"]["adminChangeRefused"] == true));
}

async fn linking_from_the_profile(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    flow.app
        .create_user(
            &flow.admin,
            json!({"username": "paula", "password": "paula password"}),
        )
        .await;
    let paula = flow.app.cookie_for("paula", "paula password").await;
    // Start linking as paula (a form post from /profile); the identity's username does not
    // matter.
    let r = flow
        .app
        .post_form(
            "/api/v1/auth/oidc/link",
            &[],
            Some(&format!("grimmory_browser={BROWSER}; {paula}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.location().unwrap();
    let url = url::Url::parse(location).unwrap();
    let q = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .into_owned()
    };
    flow.answer_with(&rs256(
        &flow.claims(&q("nonce"), "sub-paula", "someone-else"),
        Some("rsa-1"),
        0,
    ));
    let grant = flow.idp.approve(location);
    let done = flow.callback(BROWSER, &grant.query(), Some(&paula)).await;
    assert_eq!(done.location(), Some("/profile"));
    let me = flow
        .app
        .get("/api/v1/auth/me", Some(&done.session_cookie().unwrap()))
        .await
        .json();
    assert_eq!(me["username"], "paula");
    assert_eq!(me["oidcLink"]["subject"], "sub-paula");
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "OIDC_ACCOUNT_LINKED"));
    // Unlinking her own identity.
    let cookie = done.session_cookie().unwrap();
    let r = flow
        .app
        .delete("/api/v1/auth/oidc-link", Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["oidcLink"], Value::Null);
    assert!(flow
        .app
        .audit_events()
        .await
        .iter()
        .any(|e| e["event"] == "OIDC_ACCOUNT_UNLINKED"));
}

on_both_engines!(concurrent_first_sign_ins_make_one_user);

/// Two first sign-ins of one person finish at once on two servers of one database: both are
/// held at the provider's token endpoint until both are there (and, on PostgreSQL, at the
/// users table until both wait for it). One user results.
async fn concurrent_first_sign_ins_make_one_user(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let other = TestApp::on_database(engine, &flow.app.database_url, |_| {}).await;
    let first = flow.authorize(BROWSER, "").await;
    let second = flow.authorize(BROWSER, "").await;
    // Each code gets the token for its own sign-in.
    let one = rs256(
        &flow.claims(&first.nonce, "sub-twin", "twin"),
        Some("rsa-1"),
        0,
    );
    let two = rs256(
        &flow.claims(&second.nonce, "sub-twin", "twin"),
        Some("rsa-1"),
        0,
    );
    let (c1, c2) = (first.grant.code.clone(), second.grant.code.clone());
    flow.idp.set(move |b| {
        b.token_status = 200;
        b.tokens_by_code.insert(
            c1,
            json!({"access_token": "a1", "token_type": "Bearer", "id_token": one}),
        );
        b.tokens_by_code.insert(
            c2,
            json!({"access_token": "a2", "token_type": "Bearer", "id_token": two}),
        );
        b.token_barrier = Some(Arc::new(Barrier::new(2)));
    });
    let on_other = Request::get(format!("/oauth2-callback?{}", second.grant.query()))
        .header("cookie", flow.browser_cookie(BROWSER))
        .body(Body::empty())
        .unwrap();
    let on_this = first.grant.query();
    let lock = TableLock::hold(&flow.app, "users").await;
    let (ra, rb, ()) = tokio::join!(
        flow.callback(BROWSER, &on_this, None),
        other.send(on_other),
        release_when_waiting(lock, 2),
    );
    signed_in(&ra);
    signed_in(&rb);
    assert_eq!(
        flow.app
            .count("SELECT COUNT(*) FROM users WHERE username = 'twin'")
            .await,
        1
    );
    assert_eq!(
        flow.app
            .count("SELECT COUNT(*) FROM oidc_identities WHERE subject = 'sub-twin'")
            .await,
        1
    );
}

on_both_engines!(admins_see_the_machine_reason);

async fn admins_see_the_machine_reason(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    refused(
        &flow.callback(BROWSER, "code=x&state=forged", None).await,
        "state_mismatch",
    );
    let anonymous = flow
        .app
        .get("/login?oidcError=state_mismatch", None)
        .await
        .text();
    assert!(anonymous
        .contains("OIDC authentication failed: security state mismatch. Please try again."));
    assert!(!anonymous.contains("Reason (shown to admins)"));
    let admin = flow
        .app
        .get("/login?oidcError=state_mismatch", Some(&flow.admin))
        .await;
    assert_eq!(admin.status, StatusCode::OK);
    assert!(
        admin.text().contains("Reason (shown to admins)")
            && admin.text().contains("state_mismatch")
    );
}

on_both_engines!(a_token_without_kid_signs_in_after_a_rotation);

async fn a_token_without_kid_signs_in_after_a_rotation(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    flow.idp
        .set(|b| b.jwks = json!({"keys": [rsa_jwk(0, "old")]}));
    flow.app.state.oidc.forget_providers();
    let nokid = |sub: &'static str, key: usize| {
        move |f: &Flow, nonce: &str| rs256(&f.claims(nonce, sub, sub), None, key)
    };
    let first = signed_in(&flow.sign_in(nokid("sub-nk1", 0)).await);
    assert_eq!(
        flow.who(&first).await,
        ("sub-nk1".to_owned(), "sub-nk1".to_owned())
    );
    // Seconds later the provider signs with a new key, still naming none.
    flow.idp
        .set(|b| b.jwks = json!({"keys": [rsa_jwk(1, "new")]}));
    flow.app.clock.advance_ms(5_000);
    let fetches = flow.idp.seen().jwks_fetches;
    let second = signed_in(&flow.sign_in(nokid("sub-nk2", 1)).await);
    assert_eq!(
        flow.who(&second).await,
        ("sub-nk2".to_owned(), "sub-nk2".to_owned())
    );
    assert_eq!(flow.idp.seen().jwks_fetches, fetches + 1);
}
