//! Test Connection (spec section 3): thirteen checks against the unsaved form, run on the
//! server through the outbound policy. Never changes settings.

use crate::oidc::id_token::alg_allowed;
use crate::oidc::jws::verifying_key;
use crate::oidc::outbound::{Outbound, OutboundError};
use app::domain::{ConnectionCheck, ConnectionTestResult};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::Value;

/// What to test: the provider fields of the form.
pub struct Target {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
}

struct Checks(Vec<ConnectionCheck>);

impl Checks {
    fn add(&mut self, name: &str, status: Status, message: impl Into<String>) {
        let status = match status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Warn => "WARN",
            Status::Skip => "SKIP",
        };
        self.0.push(ConnectionCheck {
            name: name.to_owned(),
            status: status.to_owned(),
            message: message.into(),
        });
    }
}

const NAMES: [&str; 13] = [
    "Discovery Document",
    "Issuer Match",
    "Authorization Endpoint",
    "Token Endpoint",
    "JWKS URI",
    "JWKS Keys",
    "Signing Algorithms",
    "Scopes",
    "Response Type 'code'",
    "PKCE (S256)",
    "Client Credentials",
    "End Session Endpoint",
    "Back-Channel Logout",
];

fn strings(doc: &Value, key: &str) -> Option<Vec<String>> {
    doc.get(key)?.as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    })
}

fn url_field<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub async fn run(outbound: &Outbound, target: &Target) -> ConnectionTestResult {
    let mut checks = Checks(Vec::new());
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        target.issuer.trim_end_matches('/')
    );
    let doc = match outbound.get_json(&discovery_url).await {
        Ok(doc) if doc.is_object() => doc,
        Ok(_) => {
            return finish(skip_rest(
                checks,
                "The discovery document is not a JSON object.",
            ));
        }
        Err(e) => {
            let hint = match e {
                OutboundError::Status(404) => " Check the issuer URI (Authentik: the \"OpenID Configuration Issuer\" of the provider).",
                _ => "",
            };
            return finish(skip_rest(checks, &format!("{discovery_url} {e}.{hint}")));
        }
    };
    checks.add(NAMES[0], Status::Pass, format!("Fetched {discovery_url}"));

    // 2. The issuer in the document must be the configured one, to the character.
    match url_field(&doc, "issuer") {
        Some(issuer) if issuer == target.issuer => {
            checks.add(NAMES[1], Status::Pass, "The issuer matches exactly.")
        }
        Some(issuer) if issuer.trim_end_matches('/') == target.issuer.trim_end_matches('/') => {
            checks.add(NAMES[1], Status::Fail, format!("Use exactly: {issuer}"))
        }
        Some(issuer) => checks.add(
            NAMES[1],
            Status::Fail,
            format!(
                "The provider names its issuer {issuer}, not {}.",
                target.issuer
            ),
        ),
        None => checks.add(
            NAMES[1],
            Status::Fail,
            "The discovery document has no issuer.",
        ),
    }

    for (name, key) in [
        (NAMES[2], "authorization_endpoint"),
        (NAMES[3], "token_endpoint"),
        (NAMES[4], "jwks_uri"),
    ] {
        match url_field(&doc, key) {
            Some(url) => checks.add(name, Status::Pass, url.to_owned()),
            None => checks.add(
                name,
                Status::Fail,
                format!("The discovery document has no {key}."),
            ),
        }
    }

    let confidential = target.client_secret.is_some();
    let algs = strings(&doc, "id_token_signing_alg_values_supported");
    let hs_only = algs
        .as_ref()
        .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x.starts_with("HS")));

    // 6. Keys to verify ID tokens with.
    match url_field(&doc, "jwks_uri") {
        None => checks.add(NAMES[5], Status::Skip, "No JWKS URI."),
        Some(uri) => {
            match outbound.get_json(uri).await {
                Ok(jwks) => {
                    let keys = jwks
                        .get("keys")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let usable = keys.iter().filter(|k| verifying_key(k)).count();
                    if usable > 0 {
                        checks.add(
                            NAMES[5],
                            Status::Pass,
                            format!("{} key(s) found", keys.len()),
                        );
                    } else if confidential && hs_only {
                        checks.add(NAMES[5], Status::Warn, format!("{} key(s) found; ID tokens are signed with the client secret (HS256).", keys.len()));
                    } else {
                        checks.add(
                            NAMES[5],
                            Status::Fail,
                            format!(
                                "{} key(s) found, none usable to verify signatures.",
                                keys.len()
                            ),
                        );
                    }
                }
                Err(e) => checks.add(NAMES[5], Status::Fail, format!("{uri} {e}.")),
            }
        }
    }

    // 7. At least one algorithm both sides accept.
    match &algs {
        None => checks.add(
            NAMES[6],
            Status::Fail,
            "The provider does not list id_token_signing_alg_values_supported.",
        ),
        Some(algs) => {
            let shared: Vec<&String> = algs
                .iter()
                .filter(|a| alg_allowed(a, confidential))
                .collect();
            if !shared.is_empty() {
                checks.add(
                    NAMES[6],
                    Status::Pass,
                    shared
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            } else if hs_only && !confidential {
                checks.add(
                    NAMES[6],
                    Status::Fail,
                    "The provider signs ID tokens only with HS256, which needs a client secret. Choose a signing key \
                     (in Authentik: the provider's \"Signing Key\", e.g. \"authentik Self-signed Certificate\") or use a confidential client.",
                );
            } else {
                checks.add(
                    NAMES[6],
                    Status::Fail,
                    format!(
                        "No algorithm in common; the provider offers {}.",
                        algs.join(", ")
                    ),
                );
            }
        }
    }

    // 8. Scopes the provider does not list.
    match strings(&doc, "scopes_supported") {
        None => checks.add(
            NAMES[7],
            Status::Warn,
            "The provider does not list its scopes; they could not be checked.",
        ),
        Some(supported) => {
            let missing: Vec<&String> = target
                .scopes
                .iter()
                .filter(|s| !supported.contains(s))
                .collect();
            if missing.is_empty() {
                checks.add(
                    NAMES[7],
                    Status::Pass,
                    "All configured scopes are supported.",
                );
            } else {
                for scope in missing {
                    checks.add(
                        NAMES[7],
                        Status::Warn,
                        format!("The provider does not list the scope \"{scope}\"."),
                    );
                }
            }
        }
    }

    match strings(&doc, "response_types_supported") {
        Some(types) if !types.iter().any(|t| t == "code") => checks.add(
            NAMES[8],
            Status::Fail,
            "The provider does not support the authorization code flow (response type 'code').",
        ),
        Some(_) => checks.add(NAMES[8], Status::Pass, "Supported."),
        None => checks.add(
            NAMES[8],
            Status::Warn,
            "The provider does not list response_types_supported.",
        ),
    }

    if strings(&doc, "code_challenge_methods_supported")
        .is_some_and(|m| m.iter().any(|x| x == "S256"))
    {
        checks.add(NAMES[9], Status::Pass, "S256 is supported.");
    } else {
        checks.add(
            NAMES[9],
            Status::Warn,
            "S256 is not advertised. PKCE may still work: Grimmory always sends it.",
        );
    }

    match url_field(&doc, "token_endpoint") {
        None => checks.add(NAMES[10], Status::Skip, "No token endpoint."),
        Some(token_endpoint) => {
            let (status, message) = probe_client(outbound, &doc, token_endpoint, target).await;
            checks.add(NAMES[10], status, message);
        }
    }

    if url_field(&doc, "end_session_endpoint").is_some() {
        checks.add(NAMES[11], Status::Pass, "Present.");
    } else {
        checks.add(
            NAMES[11],
            Status::Warn,
            "No end_session_endpoint: RP-initiated logout won't work.",
        );
    }

    if doc.get("backchannel_logout_supported") == Some(&Value::Bool(true)) {
        checks.add(NAMES[12], Status::Pass, "Supported.");
    } else {
        checks.add(
            NAMES[12],
            Status::Warn,
            "The provider does not advertise back-channel logout (some support it without saying so).",
        );
    }
    finish(checks)
}

fn skip_rest(mut checks: Checks, message: &str) -> Checks {
    checks.add(NAMES[0], Status::Fail, message);
    for name in &NAMES[1..] {
        checks.add(
            name,
            Status::Skip,
            "Skipped: the discovery document could not be read.",
        );
    }
    checks
}

fn finish(checks: Checks) -> ConnectionTestResult {
    ConnectionTestResult {
        success: !checks.0.iter().any(|c| c.status == "FAIL"),
        checks: checks.0,
    }
}

/// A token request made exactly like a real one, with a made-up code: a provider that knows
/// the client refuses the code (`invalid_grant`); one that does not refuses the client.
async fn probe_client(
    outbound: &Outbound,
    doc: &Value,
    token_endpoint: &str,
    target: &Target,
) -> (Status, String) {
    let Ok(url) = Outbound::check_url(token_endpoint) else {
        return (
            Status::Warn,
            "The token endpoint is not a usable URL.".to_owned(),
        );
    };
    let code = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32);
    let verifier = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 64);
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", target.redirect_uri.clone()),
        ("code_verifier", verifier),
    ];
    let reply = match crate::oidc::token_endpoint::post(
        outbound,
        doc,
        url,
        &target.client_id,
        target.client_secret.as_deref(),
        form,
    )
    .await
    {
        Ok(reply) => reply,
        Err(e) => return (Status::Warn, format!("The token endpoint {e}.")),
    };
    let error = reply
        .json()
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned));
    match error.as_deref() {
        Some("invalid_client") => (
            Status::Fail,
            "The provider rejected the client ID or secret.".to_owned(),
        ),
        // Glewlwyd and others answer this when the redirect URI is not registered for the
        // client, the most common mistake: name it, with the exact URI to register.
        Some("unauthorized_client") => (
            Status::Fail,
            format!(
                "The provider refused this client for this request: check the client ID and that the redirect URI {} is registered for it.",
                target.redirect_uri
            ),
        ),
        Some("invalid_grant") => (
            Status::Pass,
            "The provider accepted the client ID (and secret).".to_owned(),
        ),
        Some(other) => (
            Status::Warn,
            format!(
                "The provider answered the test token request with the error {}.",
                printable(other)
            ),
        ),
        None => (
            Status::Warn,
            format!(
                "The provider answered the test token request with HTTP {} and no error code.",
                reply.status
            ),
        ),
    }
}

/// Error codes are ASCII words by RFC 6749; anything else is cut so it cannot carry a body.
fn printable(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

/// Runs the checks for the unsaved form `patch` over the stored settings and writes
/// OIDC_CONNECTION_TEST (the secret rule is `unsaved::form`'s).
pub async fn for_form(
    state: &crate::state::Services,
    actor: &crate::db::User,
    client: &crate::http::client::Client,
    patch: app::domain::SettingsPatch,
) -> crate::error::AppResult<ConnectionTestResult> {
    let super::unsaved::Unsaved {
        settings: s,
        client_secret,
    } = super::unsaved::form(state, &patch, "test").await?;
    let target = Target {
        issuer: s.issuer_uri.clone(),
        client_id: s.client_id.clone(),
        client_secret,
        scopes: s
            .effective_scopes()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        redirect_uri: format!(
            "{}/oauth2-callback",
            super::reference::public_base(&state.config, client.own_origin.as_deref())
        ),
    };
    let result = run(state.oidc.outbound(), &target).await;
    state
        .db
        .audit(
            crate::db::AuditEntry::new(
                crate::db::AuditEvent::OidcConnectionTest,
                state.clock.now(),
            )
            .actor(actor.id)
            .ip(&client.ip_string())
            .detail("issuer", s.issuer_uri.as_str())
            .detail("success", result.success),
        )
        .await?;
    Ok(result)
}
