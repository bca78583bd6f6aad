//! Two server processes on one PostgreSQL behave as one server (spec section 10).

use crate::common::{Engine, TestApp};
use crate::fake_idp::FakeIdp;
use crate::oidc_sign_in::{rs256, CLIENT};
use crate::signer::rsa_jwk;
use openidconnect::reqwest;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Replica {
    pub(crate) url: String,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(database_url: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_grimmory"))
        .args(["serve"])
        .env("DATABASE_URL", database_url)
        .env("GRIMMORY_SECRET_KEY", "integration test key material")
        .env("GRIMMORY_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    Replica { url, child }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn cookie_of(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")) && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgresql_behave_as_one_server() {
    let app = TestApp::new(Engine::Postgres).await;
    let admin = app.setup_admin().await;
    let idp = FakeIdp::start().await;
    idp.set(|b| b.jwks = json!({"keys": [rsa_jwk(0, "rsa-1")]}));
    let (a, b) = (start(&app.database_url), start(&app.database_url));
    let http = client();
    let admin_header = admin.clone();

    // A setting saved on A is in force on B within seconds (spec section 10).
    let saved = Instant::now();
    let r = http
        .put(format!("{}/api/v1/settings/oidc", a.url))
        .header("cookie", &admin_header)
        .header("content-type", "application/json").body(json!({"providerName": "Fake", "clientId": CLIENT, "issuerUri": idp.issuer, "oidcEnabled": true, "autoProvisioning": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = http
            .get(format!("{}/api/v1/public-settings", b.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let public: serde_json::Value = serde_json::from_str(&text).unwrap();
        if public["oidcEnabled"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "B never saw the setting");
    }
    println!(
        "setting propagation A -> B: {} ms",
        saved.elapsed().as_millis()
    );

    // Sign in through A, with the provider's callback landing on B.
    let browser = "grimmory_browser=replica-browser-0123456789abcdefghijklmnop";
    let r = http
        .get(format!("{}/api/v1/auth/oidc/authorize", a.url))
        .header("cookie", browser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .into_owned()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"iss": idp.issuer, "aud": CLIENT, "sub": "sub-rep", "nonce": q("nonce"), "iat": now, "exp": now + 300, "sid": "sid-rep", "preferred_username": "rep"});
    let token = rs256(&claims, Some("rsa-1"), 0);
    idp.set(move |bh| {
        bh.token_status = 200;
        bh.token_body = json!({"access_token": "at", "token_type": "Bearer", "id_token": token, "expires_in": 300});
    });
    let grant = idp.approve(location.as_str());
    let r = http
        .get(format!("{}/oauth2-callback?{}", b.url, grant.query()))
        .header("cookie", browser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let session = cookie_of(&r, "grimmory_session").expect("signed in on B");
    let on_a = http
        .get(format!("{}/api/v1/auth/me", a.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(on_a.status(), 200, "the session from B works on A");

    // A back-channel logout delivered to B ends the session used on A.
    let logout = rs256(
        &json!({"iss": idp.issuer, "aud": CLIENT, "iat": now, "jti": "jti-rep", "sid": "sid-rep", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
        Some("rsa-1"),
        0,
    );
    let revoked = Instant::now();
    let r = http
        .post(format!("{}/api/v1/auth/oidc/backchannel-logout", b.url))
        .form(&[("logout_token", logout.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    while http
        .get(format!("{}/api/v1/auth/me", a.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .status()
        != 401
    {
        assert!(
            Instant::now() < deadline,
            "A still accepts the revoked session"
        );
    }
    println!(
        "revocation propagation B -> A: {} ms",
        revoked.elapsed().as_millis()
    );
    // Spec section 11: within 1 s (A trusts its memory of the session that long); the rest is
    // slack for a loaded machine.
    assert!(
        revoked.elapsed() < Duration::from_secs(3),
        "took {:?}",
        revoked.elapsed()
    );

    // Failed sign-ins count on both: three on A and two on B use up the five.
    for replica in [&a, &a, &a, &b, &b] {
        let r = http
            .post(format!("{}/api/v1/auth/login", replica.url))
            .header("content-type", "application/json")
            .body(json!({"username": "admin", "password": "wrong"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = http
        .post(format!("{}/api/v1/auth/login", a.url))
        .header("content-type", "application/json")
        .body(json!({"username": "admin", "password": "correct horse battery"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}
