//! The mobile app's sign-in (spec section 11.2) against the misbehaving provider: the one-time
//! state, the Mobile Redirect URIs, the callback's two shapes, and every ID-token check with
//! the app's nonce and redirect URI.

use crate::common::{Engine, Reply};
use crate::grants::{bearer, events, get_as};
use crate::oidc_sign_in::{rs256, Flow, CLIENT};
use crate::on_both_engines;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

on_both_engines!(
    the_app_signs_in_and_gets_a_mobile_grant,
    a_state_is_ours_used_once_and_short_lived,
    only_allowed_redirect_uris_are_taken,
    a_bad_id_token_gets_no_grant,
    the_redirect_variant_answers_in_the_fragment,
    mobile_redirect_uris_are_validated_with_the_original_texts,
);

const APP_URI: &str = "grimmory://oauth2-callback";
const CALLBACK: &str = "/api/v1/auth/oidc/mobile/callback";

async fn new_state(flow: &Flow) -> String {
    let r = flow.app.get("/api/v1/auth/oidc/state", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["state"].as_str().unwrap().to_owned()
}

/// The provider answers the next code exchange with an ID token for `sub` with `nonce`,
/// changed by `adjust`.
fn provider_answers(flow: &Flow, nonce: &str, sub: &str, adjust: impl FnOnce(&mut Value)) {
    let mut claims = flow.claims(nonce, sub, sub);
    claims["sid"] = json!("sid-phone");
    adjust(&mut claims);
    let id_token = rs256(&claims, Some("rsa-1"), 0);
    flow.idp.set(move |b| {
        b.token_status = 200;
        b.token_body = json!({
            "access_token": "at-phone", "token_type": "Bearer", "id_token": id_token,
            "expires_in": 300, "refresh_token": "rt-phone",
        });
    });
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The user approves the app's authorization request at the provider just before the app
/// calls back: the provider issues the code of `pairs` for their redirect URI and verifier.
fn approved(flow: &Flow, pairs: &[(&str, &str)]) {
    let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    if let (Some(code), Some(uri), Some(verifier)) =
        (get("code"), get("redirect_uri"), get("code_verifier"))
    {
        flow.idp.issue_code(code, uri, verifier);
    }
}

async fn post_callback(flow: &Flow, pairs: &[(&str, &str)], user_agent: Option<&str>) -> Reply {
    let mut b =
        Request::post(CALLBACK).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(ua) = user_agent {
        b = b.header(header::USER_AGENT, ua);
    }
    approved(flow, pairs);
    flow.app
        .send(b.body(Body::from(form(pairs))).unwrap())
        .await
}

fn params<'a>(state: &'a str, nonce: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("code", "phone-code"),
        (
            "code_verifier",
            "verifier-0123456789-0123456789-0123456789-0123456789",
        ),
        ("redirect_uri", redirect_uri),
        ("nonce", nonce),
        ("state", state),
    ]
}

fn field_error(r: &Reply, field: &str) -> String {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let errors = r.json()["errors"].clone();
    errors
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text()))
        .iter()
        .find(|e| e["field"] == field)
        .unwrap_or_else(|| panic!("no error for {field}: {}", r.text()))["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn the_app_signs_in_and_gets_a_mobile_grant(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let state = new_state(&flow).await;
    provider_answers(&flow, "app-nonce", "phone-user", |_| {});
    let mut pairs = params(&state, "app-nonce", APP_URI);
    pairs.push(("device_name", "Pixel 9"));
    let r = post_callback(&flow, &pairs, Some("Grimmory/1.0 (Android)")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let tokens = r.json();
    assert_eq!(tokens["expires"], 3600);
    let access = tokens["accessToken"].as_str().unwrap();
    assert!(access.len() >= 43);
    assert_ne!(tokens["refreshToken"], tokens["accessToken"]);

    // The exchange was the app's: its redirect URI and PKCE verifier, our client ID.
    let (_, body) = flow.idp.seen().token_requests.last().cloned().unwrap();
    for part in [
        "code=phone-code",
        "redirect_uri=grimmory%3A%2F%2Foauth2-callback",
        "code_verifier=verifier-0123456789",
        &format!("client_id={CLIENT}"),
    ] {
        assert!(body.contains(part), "{body}");
    }
    // The token works as the provisioned user; the grant is theirs, named by the app.
    let r = get_as(&flow.app, "/api/v1/auth/me", &bearer(access)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["username"], "phone-user");
    let user_id = r.json()["id"].as_i64().unwrap();
    let grants = flow
        .app
        .get(
            &format!("/api/v1/admin/users/{user_id}/grants"),
            Some(&flow.admin),
        )
        .await
        .json();
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    assert_eq!(grants[0]["kind"], "mobile");
    assert_eq!(grants[0]["name"], "Pixel 9");
    assert_eq!(grants[0]["viaOidc"], true);
    // Audited as the web sign-in is, plus the grant.
    assert_eq!(events(&flow.app, "OIDC_USER_PROVISIONED").await.len(), 1);
    let created = events(&flow.app, "GRANT_CREATED").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["details"]["kind"], "mobile");

    // Without a device name, the User-Agent names the grant; the refresh works as for every
    // grant.
    let state = new_state(&flow).await;
    provider_answers(&flow, "n2", "phone-user", |_| {});
    let r = post_callback(
        &flow,
        &params(&state, "n2", APP_URI),
        Some("Grimmory/1.0 (iOS)"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let grants = flow
        .app
        .get(
            &format!("/api/v1/admin/users/{user_id}/grants"),
            Some(&flow.admin),
        )
        .await
        .json();
    assert!(grants
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "Grimmory/1.0 (iOS)"));
    let refresh = r.json()["refreshToken"].as_str().unwrap().to_owned();
    let r = flow
        .app
        .post_json(
            "/api/v1/auth/refresh",
            json!({"refreshToken": refresh}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["accessToken"].is_string());
}

async fn a_state_is_ours_used_once_and_short_lived(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    // A state we never handed out.
    provider_answers(&flow, "n", "phone-user", |_| {});
    let r = post_callback(&flow, &params("made-up", "n", APP_URI), None).await;
    assert!(field_error(&r, "state").contains("Start the sign-in again"));
    // Nothing reached the provider.
    assert!(flow.idp.seen().token_requests.is_empty());

    let state = new_state(&flow).await;
    let r = post_callback(&flow, &params(&state, "n", APP_URI), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Used once.
    let r = post_callback(&flow, &params(&state, "n", APP_URI), None).await;
    field_error(&r, "state");
    assert_eq!(flow.idp.seen().token_requests.len(), 1);

    // Five minutes.
    let state = new_state(&flow).await;
    flow.app.clock.advance_ms(5 * 60_000);
    let r = post_callback(&flow, &params(&state, "n", APP_URI), None).await;
    field_error(&r, "state");

    // Missing parameters are named.
    let r = post_callback(&flow, &[("state", "x")], None).await;
    for name in ["code", "code_verifier", "redirect_uri", "nonce"] {
        assert_eq!(field_error(&r, name), format!("{name} is missing."));
    }
    // The query string works as the form does.
    let state = new_state(&flow).await;
    provider_answers(&flow, "q", "phone-user", |_| {});
    let pairs = params(&state, "q", APP_URI);
    approved(&flow, &pairs);
    let query = form(&pairs);
    let r = flow
        .app
        .send(
            Request::post(format!("{CALLBACK}?{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // With OIDC off there is no state to be had.
    let r = flow
        .app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"oidcEnabled": false}),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = flow.app.get("/api/v1/auth/oidc/state", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn only_allowed_redirect_uris_are_taken(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let state = new_state(&flow).await;
    provider_answers(&flow, "n", "phone-user", |_| {});
    // The default list holds the default URI only.
    let r = post_callback(&flow, &params(&state, "n", "evil://steal"), None).await;
    assert_eq!(
        field_error(&r, "redirect_uri"),
        "Redirect URI is not allowed: evil://steal"
    );
    assert!(flow.idp.seen().token_requests.is_empty());
    // The state was not used up by a refused request.
    let r = post_callback(&flow, &params(&state, "n", APP_URI), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // A list of the admin's own replaces the default.
    let r = flow
        .app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"mobileRedirectUris": ["books.example.app:/cb"]}),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["mobileRedirectUris"],
        json!(["books.example.app:/cb"])
    );
    let state = new_state(&flow).await;
    let r = post_callback(&flow, &params(&state, "n", APP_URI), None).await;
    field_error(&r, "redirect_uri");
    provider_answers(&flow, "n", "phone-user", |_| {});
    let r = post_callback(&flow, &params(&state, "n", "books.example.app:/cb"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // `*`: any custom scheme, never a web page.
    flow.app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"mobileRedirectUris": ["*"]}),
            Some(&flow.admin),
        )
        .await;
    let state = new_state(&flow).await;
    let r = post_callback(&flow, &params(&state, "n", "https://evil.example/cb"), None).await;
    field_error(&r, "redirect_uri");
    provider_answers(&flow, "n", "phone-user", |_| {});
    let r = post_callback(&flow, &params(&state, "n", "any.scheme:/x"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn a_bad_id_token_gets_no_grant(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 3] = [
        ("nonce_mismatch", |c| c["nonce"] = json!("someone-elses")),
        ("audience_mismatch", |c| c["aud"] = json!("another-client")),
        ("issuer_mismatch", |c| {
            c["iss"] = json!("https://evil.example/")
        }),
    ];
    for (reason, adjust) in cases {
        let state = new_state(&flow).await;
        provider_answers(&flow, "app-nonce", "phone-user", adjust);
        let r = post_callback(&flow, &params(&state, "app-nonce", APP_URI), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{reason}: {}", r.text());
        assert_eq!(
            r.json()["message"],
            "Invalid authentication token received. Please try again."
        );
        assert_eq!(flow.last_failure().await.as_deref(), Some(reason));
    }
    // The provider refusing the code (a wrong verifier, say) is refused too.
    let state = new_state(&flow).await;
    flow.idp.set(|b| {
        b.token_status = 400;
        b.token_body = json!({"error": "invalid_grant"});
    });
    let r = post_callback(&flow, &params(&state, "app-nonce", APP_URI), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("token_error:invalid_grant")
    );
    assert!(events(&flow.app, "GRANT_CREATED").await.is_empty());
    assert_eq!(flow.user_count().await, 1, "nobody was provisioned");

    // Matching of section 5 applies: without provisioning, an unknown identity is refused.
    let flow = Flow::new(engine, json!({})).await;
    let state = new_state(&flow).await;
    provider_answers(&flow, "n", "stranger", |_| {});
    let r = post_callback(&flow, &params(&state, "n", APP_URI), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(
        flow.last_failure().await.as_deref(),
        Some("not_provisioned")
    );
}

async fn redirect(flow: &Flow, pairs: &[(&str, &str)]) -> Reply {
    approved(flow, pairs);
    let query = form(pairs);
    flow.app
        .get(&format!("/api/v1/auth/oidc/redirect?{query}"), None)
        .await
}

async fn the_redirect_variant_answers_in_the_fragment(engine: Engine) {
    let flow = Flow::new(engine, json!({"autoProvisioning": true})).await;
    let state = new_state(&flow).await;
    provider_answers(&flow, "n", "phone-user", |_| {});
    let mut pairs = params(&state, "n", APP_URI);
    pairs.push(("app_redirect_uri", APP_URI));
    let r = redirect(&flow, &pairs).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
    assert_eq!(
        r.headers.get(header::REFERRER_POLICY).unwrap(),
        "no-referrer"
    );
    let location = r.location().unwrap();
    let fragment = location
        .strip_prefix(&format!("{APP_URI}#"))
        .unwrap_or_else(|| panic!("{location}"));
    let answer: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(answer["expires_in"], "3600");
    let r = get_as(
        &flow.app,
        "/api/v1/libraries",
        &bearer(&answer["access_token"]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(answer["refresh_token"].len() >= 43);

    // A failed exchange goes back to the app with the error only.
    let state = new_state(&flow).await;
    provider_answers(&flow, "other-nonce", "phone-user", |_| {});
    let mut pairs = params(&state, "n", APP_URI);
    pairs.push(("app_redirect_uri", APP_URI));
    let r = redirect(&flow, &pairs).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location(),
        Some("grimmory://oauth2-callback#error=Authentication%20failed")
    );

    // A bad state or an app redirect URI not allowed: JSON 400 first, nowhere redirected.
    let state = new_state(&flow).await;
    let mut pairs = params(&state, "n", APP_URI);
    pairs.push(("app_redirect_uri", "https://evil.example/steal"));
    let r = redirect(&flow, &pairs).await;
    assert_eq!(
        field_error(&r, "app_redirect_uri"),
        "Redirect URI is not allowed: https://evil.example/steal"
    );
    assert!(r.location().is_none());
    let mut pairs = params("made-up", "n", APP_URI);
    pairs.push(("app_redirect_uri", APP_URI));
    let r = redirect(&flow, &pairs).await;
    field_error(&r, "state");
    let r = redirect(&flow, &params(&state, "n", APP_URI)).await;
    assert_eq!(
        field_error(&r, "app_redirect_uri"),
        "app_redirect_uri is missing."
    );
}

async fn mobile_redirect_uris_are_validated_with_the_original_texts(engine: Engine) {
    let flow = Flow::new(engine, json!({})).await;
    let cases = [
        (json!("grimmory://x"), "OIDC redirect URIs must be an array"),
        (json!({"a": 1}), "OIDC redirect URIs must be an array"),
        (
            json!([42]),
            "OIDC redirect URIs must be an array of strings",
        ),
        (
            json!(["*", "grimmory://oauth2-callback"]),
            "Wildcard redirect URI must be the only value",
        ),
        (json!(["  "]), "Redirect URI cannot be blank"),
        (
            json!(["oauth2-callback"]),
            "Redirect URI must include a scheme",
        ),
        (
            json!(["https://books.example.com/cb"]),
            "Redirect URI must use a custom mobile scheme",
        ),
        (
            json!(["grimmory://cb#frag"]),
            "Redirect URI must not contain a fragment",
        ),
        (
            json!(["grimmory://cb x"]),
            "Redirect URI is not a valid URI: grimmory://cb x",
        ),
        (
            json!(["grimmory://a", "grimmory://a"]),
            "Duplicate redirect URI: grimmory://a",
        ),
    ];
    for (value, message) in cases {
        let r = flow
            .app
            .put_json(
                "/api/v1/settings/oidc",
                json!({"mobileRedirectUris": value}),
                Some(&flow.admin),
            )
            .await;
        assert_eq!(field_error(&r, "mobileRedirectUris"), message, "{value}");
    }
    let settings = flow
        .app
        .get("/api/v1/settings/oidc", Some(&flow.admin))
        .await
        .json();
    assert_eq!(settings["mobileRedirectUris"], json!([]), "nothing saved");
    let r = flow
        .app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"mobileRedirectUris": [" grimmory://oauth2-callback ", "app.example:/cb"]}),
            Some(&flow.admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["mobileRedirectUris"],
        json!(["grimmory://oauth2-callback", "app.example:/cb"])
    );
    let changed = events(&flow.app, "OIDC_CONFIG_CHANGED").await;
    assert!(changed
        .iter()
        .any(|e| e.to_string().contains("mobileRedirectUris")));
}

// Against the real provider of end2end/provider: the app's round trip as the app makes it
// (PKCE, its own nonce, the custom-scheme redirect URI of a native client), then the mobile
// callback; and the grant ended by a back-channel logout from the provider.

on_both_engines!(the_app_signs_in_through_the_real_provider_until_it_signs_out_there);

/// A browser at the provider, as the app's in-app browser tab: cookies kept, redirects seen.
struct ProviderTab {
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

impl ProviderTab {
    fn new() -> Self {
        Self {
            http: crate::replicas::client(),
            cookies: Default::default(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, Option<String>, String) {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = req.header("cookie", cookie).send().await.unwrap();
        for c in res.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, location, res.text().await.unwrap())
    }
}

use openidconnect::reqwest;

/// The value of `attribute="…"` in the first tag of `html` that holds `marker`.
fn attribute_near(html: &str, marker: &str, attribute: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()];
    let key = format!("{attribute}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("{attribute} in {tag}"))
        + key.len();
    tag[from..from + tag[from..].find('"').unwrap()].replace("&amp;", "&")
}

async fn the_app_signs_in_through_the_real_provider_until_it_signs_out_there(engine: Engine) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    let app = crate::common::TestApp::new(engine).await;
    let admin = app.setup_admin().await;
    // The provider posts its logout tokens to the app over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app.router.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let idp = crate::real_idp::RealIdp::start_with(
        &format!("{base}/oauth2-callback"),
        &[
            "--backchannel-logout-uri",
            &format!("{base}/api/v1/auth/oidc/backchannel-logout"),
        ],
    );
    let r = app
        .put_json(
            "/api/v1/settings/oidc",
            json!({"providerName": "Test IdP", "clientId": idp.native_client, "issuerUri": idp.issuer,
                   "oidcEnabled": true, "autoProvisioning": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // The app: a state from us, its own nonce and PKCE verifier, the provider's sign-in page.
    let state = app.get("/api/v1/auth/oidc/state", None).await.json()["state"]
        .as_str()
        .unwrap()
        .to_owned();
    let (nonce, verifier) = (
        "app-own-nonce-1234",
        "app-own-verifier-0123456789-0123456789-0123456789",
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut tab = ProviderTab::new();
    let (_, _, discovery) = tab
        .send(
            tab.http
                .get(format!("{}.well-known/openid-configuration", idp.issuer)),
        )
        .await;
    let discovery: Value = serde_json::from_str(&discovery).unwrap();
    let mut authorize =
        url::Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &idp.native_client)
        .append_pair("redirect_uri", APP_URI)
        .append_pair("scope", "openid profile email groups offline_access")
        .append_pair("state", &state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let origin = {
        let u = url::Url::parse(&idp.issuer).unwrap();
        format!("{}://{}", u.scheme(), u.host_str().unwrap()) + &format!(":{}", u.port().unwrap())
    };
    let absolute = |l: &str| {
        if l.starts_with('/') {
            format!("{origin}{l}")
        } else {
            l.to_owned()
        }
    };
    let (mut status, mut location, mut body) = tab.send(tab.http.get(authorize.as_str())).await;
    let mut page = authorize.to_string();
    let mut redirect = None;
    for _ in 0..10 {
        match location.clone() {
            Some(l) if l.starts_with(APP_URI) => {
                redirect = Some(l);
                break;
            }
            Some(l) => {
                page = absolute(&l);
                (status, location, body) = tab.send(tab.http.get(&page)).await;
            }
            None => {
                assert_eq!(status, 200, "{body}");
                assert!(body.contains("Sign in - grimmory test IdP"), "{body}");
                (status, location, body) = tab
                    .send(
                        tab.http
                            .post(&page)
                            .form(&[("login", "alice"), ("password", "alice-password")]),
                    )
                    .await;
            }
        }
    }
    let redirect = url::Url::parse(&redirect.expect("the provider sent the app its code")).unwrap();
    let param = |k: &str| {
        redirect
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(param("state"), state);
    let code = param("code");

    // The app hands the code to us.
    let flow_params = [
        ("code", code.as_str()),
        ("code_verifier", verifier),
        ("redirect_uri", APP_URI),
        ("nonce", nonce),
        ("state", state.as_str()),
        ("device_name", "Alice's phone"),
    ];
    let r = app.post_form(CALLBACK, &flow_params, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let access = r.json()["accessToken"].as_str().unwrap().to_owned();
    let me = get_as(&app, "/api/v1/auth/me", &bearer(&access)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json()["username"], "alice");
    assert_eq!(me.json()["oidcLink"]["subject"].as_str().unwrap().len(), 64);
    // The code is used up at the provider: the same request again (a new state) is refused.
    let again = app.get("/api/v1/auth/oidc/state", None).await.json()["state"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut replay = flow_params;
    replay[4] = ("state", again.as_str());
    let r = app.post_form(CALLBACK, &replay, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());

    // Alice signs out at the provider: its back-channel logout ends the phone's grant.
    let (_, _, confirm) = tab
        .send(tab.http.get(format!(
            "{}?client_id={}",
            discovery["end_session_endpoint"].as_str().unwrap(),
            idp.native_client
        )))
        .await;
    let action = absolute(&attribute_near(&confirm, "op.logoutForm", "action"));
    let xsrf = attribute_near(&confirm, "name=\"xsrf\"", "value");
    let (status, _, body) = tab
        .send(
            tab.http
                .post(&action)
                .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")]),
        )
        .await;
    assert!(status < 400, "{status} {body}");
    // The provider answers the browser only after the logout tokens were delivered.
    let r = get_as(&app, "/api/v1/libraries", &bearer(&access)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(crate::grants::revocation_reasons(&app)
        .await
        .contains(&"backchannel".to_owned()));
    server.abort();
}
