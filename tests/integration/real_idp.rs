//! The real OpenID Provider of end2end/provider (npm oidc-provider), started by the test.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct RealIdp {
    pub issuer: String,
    pub public_client: String,
    pub confidential_client: String,
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
        let s = |v: &Value| v.as_str().unwrap().to_owned();
        Self {
            issuer: s(&info["issuer"]),
            public_client: s(&info["clients"]["public"]["clientId"]),
            confidential_client: s(&info["clients"]["confidential"]["clientId"]),
            confidential_secret: s(&info["clients"]["confidential"]["clientSecret"]),
            native_client: s(&info["clients"]["native"]["clientId"]),
            child,
        }
    }
}

impl Drop for RealIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
