//! The real OpenID Provider of end2end/provider (npm oidc-provider), started by the test.

#![allow(dead_code)]

use openidconnect::reqwest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct RealIdp {
    pub issuer: String,
    pub redirect_uri: String,
    pub public_client: String,
    /// The confidential client registered for `client_secret_basic`, unless the provider was
    /// started without that method (`--secret-method`).
    pub confidential_client: Option<String>,
    /// The confidential client registered for `client_secret_post`, likewise.
    pub confidential_post_client: Option<String>,
    /// The secret of both confidential clients.
    pub confidential_secret: String,
    /// The mobile app's client: native, public, redirect URI `grimmory://oauth2-callback`.
    pub native_client: String,
    child: Child,
}

impl RealIdp {
    pub fn start(redirect_uri: &str) -> Self {
        Self::start_with(redirect_uri, &[])
    }

    /// The provider with more options of provider/start.mjs (e.g. `--tls-cert`).
    pub fn start_with(redirect_uri: &str, options: &[&str]) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/end2end");
        let mut child = Command::new("node")
            .args(["provider/start.mjs", "--redirect-uri", redirect_uri])
            .args(options)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the test provider (scripts/test.sh installs end2end/node_modules)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the test provider prints its address");
        let info: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("test provider said: {line}"));
        let s = |v: &Value| v.as_str().map(str::to_owned);
        let clients = &info["clients"];
        let confidential = [&clients["confidential"], &clients["confidentialPost"]];
        Self {
            issuer: s(&info["issuer"]).unwrap(),
            redirect_uri: redirect_uri.to_owned(),
            public_client: s(&clients["public"]["clientId"]).unwrap(),
            confidential_client: s(&clients["confidential"]["clientId"]),
            confidential_post_client: s(&clients["confidentialPost"]["clientId"]),
            confidential_secret: confidential
                .iter()
                .find_map(|c| s(&c["clientSecret"]))
                .unwrap(),
            native_client: s(&clients["native"]["clientId"]).unwrap(),
            child,
        }
    }

    /// Plays the browser at the provider: follows the app's redirect (`authorize_url`) to the
    /// login form, signs in there as `username`, and follows the provider's redirects until
    /// one goes back to the app. Answers the query of that redirect (`code`, `state`, `iss`).
    pub async fn sign_in(&self, authorize_url: &str, username: &str, password: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // The provider's cookies (session, interaction, resume), sent back on every request:
        // it tells them apart by name.
        let mut jar = BTreeMap::new();
        let mut url = url::Url::parse(authorize_url).unwrap();
        let mut credentials_sent = false;
        // A sign-in takes four requests: the authorization request, the login form's post,
        // the resumed authorization request, and nothing more.
        for _ in 0..6 {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let request = if url.path().contains("/interaction/") && !credentials_sent {
                credentials_sent = true;
                http.post(url.clone())
                    .form(&[("login", username), ("password", password)])
            } else {
                http.get(url.clone())
            };
            let reply = request.header("cookie", cookie).send().await.unwrap();
            for set in reply.headers().get_all("set-cookie") {
                let set = set.to_str().unwrap();
                let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
                let (name, value) = pair.split_once('=').unwrap();
                if attributes.contains("expires=Thu, 01 Jan 1970") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
            let status = reply.status();
            let location = reply
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            let Some(location) = location else {
                panic!(
                    "the provider answered {status} without a redirect: {}",
                    reply.text().await.unwrap_or_default()
                );
            };
            if location.starts_with(&self.redirect_uri) {
                let back = url::Url::parse(&location).unwrap();
                return back.query().unwrap_or_default().to_owned();
            }
            url = url.join(&location).unwrap();
        }
        panic!(
            "the provider never sent the browser back to {}",
            self.redirect_uri
        );
    }

    /// The provider's token endpoint.
    pub fn token_endpoint(&self) -> String {
        format!("{}token", self.issuer)
    }
}

impl Drop for RealIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
