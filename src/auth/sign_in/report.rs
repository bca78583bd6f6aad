//! The report of a dry run (spec section 12), built from what the sign-in's own steps found:
//! the checks of section 4 in order, the ID token's header and claims and userinfo, the mapped
//! claims with the claim each came from, the decision in words, the grants and the warnings.
//! Pure: it describes the decision, it never decides.

use super::claims::{sources_of, Found};
use super::decision::{Decision, Facts, Refusal, Way};
use super::failure::Failure;
use super::group_sync::{self, SyncMode};
use crate::clock::Millis;
use crate::db::oidc_users::Grants;
use crate::oidc::flow::{self, Proven};
use crate::oidc::id_token::TokenFailure;
use crate::oidc_settings::StoredSettings;
use app::domain::{
    ClaimRow, MappedValue, SignInTrialReport, SyncPreview, TrialCheck, TrialGrants, PERMISSIONS,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// The checks of a sign-in, in the order it runs them.
const CHECKS: [&str; 8] = [
    "State",
    "Discovery",
    "Provider Response",
    "Code Exchange",
    "ID Token Signature",
    "ID Token Claims",
    "Userinfo",
    "Account",
];
const ACCOUNT: usize = 7;

/// Claim values longer than this are shortened.
const LONG: usize = 80;

/// Which check a protocol failure belongs to, and what it means.
fn explain(f: &flow::Failure) -> (usize, String) {
    use flow::Failure as F;
    use TokenFailure as T;
    match f {
        F::StateMismatch => (
            0,
            "The provider's redirect did not come back to the browser session that started \
             Try Sign-in."
                .to_owned(),
        ),
        F::ProviderUnreachable => (
            1,
            "The provider (its discovery document, token endpoint or keys) could not be reached."
                .to_owned(),
        ),
        F::DiscoveryIssuerMismatch => (
            1,
            "The discovery document names another issuer than the issuer URI.".to_owned(),
        ),
        F::NoAuthorizationEndpoint | F::BadAuthorizationEndpoint => (
            1,
            "The discovery document has no usable authorization endpoint.".to_owned(),
        ),
        F::IssParamMismatch => (
            2,
            "The redirect's iss parameter is missing or names another issuer.".to_owned(),
        ),
        F::Provider(code) => (2, format!("The provider answered with the error {code}.")),
        F::MissingCode => (2, "The provider's redirect carried no code.".to_owned()),
        F::NoTokenEndpoint => (
            3,
            "The discovery document has no token endpoint.".to_owned(),
        ),
        F::TokenEndpointStatus(status) => (
            3,
            format!("The token endpoint answered HTTP {status} without an error code."),
        ),
        F::InvalidClient => (
            3,
            "The provider rejected the client ID or secret.".to_owned(),
        ),
        F::TokenError(code) => (3, format!("The token endpoint refused the code: {code}.")),
        F::MissingIdToken => (
            3,
            "The token answer has no ID token (is the openid scope asked?).".to_owned(),
        ),
        F::Token(t @ (T::BadSignature | T::UnknownKid | T::AlgNotAllowed)) => (
            4,
            match t {
                T::UnknownKid => "The ID token is signed with a key the provider does not list.",
                T::AlgNotAllowed => {
                    "The ID token's algorithm is not allowed (HS256 needs a client secret)."
                }
                _ => "The ID token's signature does not verify with the provider's keys.",
            }
            .to_owned(),
        ),
        F::Token(t) => (
            5,
            match t {
                T::IssuerMismatch => "The ID token's iss is not the issuer URI.",
                T::AudienceMismatch => "The ID token's aud does not name this client ID alone.",
                T::AzpMismatch => "The ID token's azp is not this client ID.",
                T::Expired => "The ID token has expired (is the server's clock right?).",
                T::IatOutOfRange => "The ID token was issued outside this sign-in's time.",
                T::NonceMismatch => "The ID token's nonce is not this sign-in's.",
                T::AtHashMismatch => "The ID token's at_hash does not match the access token.",
                _ => "The ID token has no sub.",
            }
            .to_owned(),
        ),
        F::UserinfoSubMismatch => (
            6,
            "Userinfo names another subject than the ID token.".to_owned(),
        ),
        F::UserinfoInvalid => (
            6,
            "The signed userinfo answer failed its signature, iss or aud check.".to_owned(),
        ),
    }
}

fn check(step: usize, status: &str, reason: Option<String>, message: String) -> TrialCheck {
    TrialCheck {
        name: CHECKS[step].to_owned(),
        status: status.to_owned(),
        reason,
        message,
    }
}

/// The checks when step `failed` failed: the ones before passed, the ones after were not run.
fn checks_failing_at(failed: usize, reason: String, message: String) -> Vec<TrialCheck> {
    (0..CHECKS.len())
        .map(|step| match step.cmp(&failed) {
            std::cmp::Ordering::Less => check(step, "PASS", None, "Passed.".to_owned()),
            std::cmp::Ordering::Equal => check(step, "FAIL", Some(reason.clone()), message.clone()),
            std::cmp::Ordering::Greater => check(step, "SKIP", None, "Not run.".to_owned()),
        })
        .collect()
}

/// The report of a dry run that a check of the protocol refused.
pub fn failed(issuer: &str, failure: &flow::Failure, now: Millis) -> SignInTrialReport {
    let (step, message) = explain(failure);
    let reason = failure.reason().into_owned();
    SignInTrialReport {
        issuer: issuer.to_owned(),
        subject: None,
        created_at: now,
        checks: checks_failing_at(step, reason.clone(), message),
        id_token_header: Vec::new(),
        id_token_claims: Vec::new(),
        userinfo: None,
        mapped: Vec::new(),
        outcome: "failed".to_owned(),
        decision: format!("Would refuse: {reason}"),
        grants: None,
        sync: Vec::new(),
        warnings: Vec::new(),
    }
}

/// A JSON value for the report: strings as they are, anything else as JSON, shortened when
/// long.
fn shown(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let count = text.chars().count();
    if count > LONG {
        let head: String = text.chars().take(LONG - 20).collect();
        format!("{head}… ({count} characters)")
    } else {
        text
    }
}

fn rows(doc: &Value) -> Vec<ClaimRow> {
    doc.as_object()
        .map(|o| {
            o.iter()
                .map(|(name, value)| ClaimRow {
                    name: name.clone(),
                    value: shown(value),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The ID token's header (the token itself is never shown).
fn header_of(id_token: &str) -> Value {
    id_token
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// What the report needs besides the facts: names for ids.
pub struct Names {
    /// The username of the existing user the decision names, if any.
    pub user: Option<String>,
    /// Library names by id.
    pub libraries: BTreeMap<i64, String>,
}

/// The report of a dry run whose identity the provider proved: the decision (or refusal) of
/// the real sign-in, described.
pub fn proven(
    proven: &Proven,
    settings: &StoredSettings,
    facts: &Facts,
    decided: &Result<Decision, Refusal>,
    names: &Names,
    now: Millis,
) -> SignInTrialReport {
    let mut checks: Vec<TrialCheck> = (0..6)
        .map(|step| check(step, "PASS", None, "Passed.".to_owned()))
        .collect();
    checks.push(match (&proven.userinfo, &proven.userinfo_warning) {
        (Some(_), _) => check(
            6,
            "PASS",
            None,
            "Userinfo answered for the same subject.".into(),
        ),
        (None, Some(warning)) => check(
            6,
            "WARN",
            Some("userinfo_unavailable".to_owned()),
            format!("{warning}; the ID token's claims alone are used."),
        ),
        (None, None) => check(
            6,
            "PASS",
            None,
            "The provider offers no userinfo; the ID token's claims are used.".into(),
        ),
    });
    let (outcome, decision) = match decided {
        Ok(d) => {
            checks.push(check(
                ACCOUNT,
                "PASS",
                None,
                "An account was found or would be made.".into(),
            ));
            words(&d.way, names)
        }
        Err(refusal) => {
            let failure = Failure::Refused(refusal.clone());
            let reason = failure.reason().into_owned();
            checks.push(check(
                ACCOUNT,
                "FAIL",
                Some(reason.clone()),
                failure.page().text().to_owned(),
            ));
            ("refuse", format!("Would refuse: {reason}"))
        }
    };
    let decision_made = decided.as_ref().ok();
    let with_mappings = decision_made.filter(|_| !facts.mappings.is_empty());
    SignInTrialReport {
        issuer: facts.issuer.clone(),
        subject: Some(facts.subject.clone()),
        created_at: now,
        checks,
        id_token_header: rows(&header_of(&proven.id_token)),
        id_token_claims: rows(&proven.token.claims),
        userinfo: proven.userinfo.as_ref().map(rows),
        mapped: mapped(proven, settings, facts, decision_made),
        outcome: outcome.to_owned(),
        decision,
        grants: with_mappings.map(|d| {
            let after = d.sync.grants().unwrap_or(&d.start);
            grants_shown(after, &names.libraries)
        }),
        sync: with_mappings
            .filter(|d| !matches!(d.way, Way::Provisioned(_)))
            .map(|d| previews(d, facts, &names.libraries))
            .unwrap_or_default(),
        warnings: warnings(proven, settings, facts),
    }
}

/// The decision of section 5.1 in words (spec section 12), and its short name.
fn words(way: &Way, names: &Names) -> (&'static str, String) {
    let user = names.user.as_deref().unwrap_or("?");
    match way {
        Way::Linked(_) => ("linked", format!("Would sign in as {user} (linked)")),
        Way::Claimed(_) => ("claim", format!("Would claim {user}")),
        Way::LinkedByUsername(_) | Way::LinkedFromProfile(_) => {
            ("link", format!("Would link {user}"))
        }
        Way::Provisioned(new) => ("create", format!("Would create {}", new.username)),
    }
}

fn mapped(
    proven: &Proven,
    settings: &StoredSettings,
    facts: &Facts,
    decided: Option<&Decision>,
) -> Vec<MappedValue> {
    let sources = sources_of(&proven.token.claims, proven.userinfo.as_ref(), settings);
    let c = &facts.claims;
    let new_name = decided.and_then(|d| match &d.way {
        Way::Provisioned(new) => Some(new.username.clone()),
        _ => None,
    });
    let username_fallback = match new_name {
        Some(name) => format!("a new user would be named {name} (from the email, else the subject); never used to match an account"),
        None => "the email, else the subject, only to name a new user; never used to match an account".to_owned(),
    };
    let fields = [
        ("username", c.username.clone(), username_fallback),
        (
            "email",
            c.email.clone(),
            "none: the user gets no email".to_owned(),
        ),
        ("display name", c.name.clone(), "the username".to_owned()),
        (
            "groups",
            c.groups.as_ref().map(|g| g.join(", ")),
            "none: group sync changes nothing".to_owned(),
        ),
    ];
    fields
        .into_iter()
        .zip(sources)
        .map(|((field, value, fallback), source)| MappedValue {
            field: field.to_owned(),
            source: source.map(|(claim, found)| {
                let doc = match found {
                    Found::IdToken => "ID token",
                    Found::Userinfo => "userinfo",
                };
                format!("{claim} ({doc})")
            }),
            fallback: value.is_none().then_some(fallback),
            value,
        })
        .collect()
}

fn labels(g: &Grants) -> Vec<&'static str> {
    PERMISSIONS
        .iter()
        .zip(&g.permissions)
        .filter(|(_, on)| **on)
        .map(|(p, _)| p.label)
        .collect()
}

fn library_names(ids: &[i64], libraries: &BTreeMap<i64, String>) -> Vec<String> {
    ids.iter()
        .map(|id| {
            libraries
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("#{id}"))
        })
        .collect()
}

fn grants_shown(g: &Grants, libraries: &BTreeMap<i64, String>) -> TrialGrants {
    TrialGrants {
        is_admin: g.is_admin,
        permissions: labels(g).into_iter().map(str::to_owned).collect(),
        libraries: library_names(&g.library_ids, libraries),
    }
}

/// What Replace and Additive would each change for the existing user, from the same group
/// sync the sign-in runs.
fn previews(d: &Decision, facts: &Facts, libraries: &BTreeMap<i64, String>) -> Vec<SyncPreview> {
    [
        (SyncMode::Replace, "On Login (Replace)"),
        (SyncMode::Additive, "On Login (Additive)"),
    ]
    .into_iter()
    .map(|(mode, name)| {
        let sync = group_sync::sync(
            mode,
            &facts.mappings,
            facts.claims.groups.as_deref(),
            &d.start,
        );
        SyncPreview {
            mode: name.to_owned(),
            changes: match sync.grants() {
                Some(after) => changes(&d.start, after, libraries),
                None => vec!["Nothing: the groups claim is absent.".to_owned()],
            },
        }
    })
    .collect()
}

fn changes(before: &Grants, after: &Grants, libraries: &BTreeMap<i64, String>) -> Vec<String> {
    let mut out = Vec::new();
    if before.is_admin != after.is_admin {
        out.push(if after.is_admin {
            "Would make the user an admin".to_owned()
        } else {
            "Would remove admin".to_owned()
        });
    }
    let (b, a) = (labels(before), labels(after));
    let list = |xs: Vec<String>| xs.join(", ");
    let added: Vec<String> = a
        .iter()
        .filter(|p| !b.contains(p))
        .map(|p| p.to_string())
        .collect();
    let removed: Vec<String> = b
        .iter()
        .filter(|p| !a.contains(p))
        .map(|p| p.to_string())
        .collect();
    if !added.is_empty() {
        out.push(format!("Adds permissions: {}", list(added)));
    }
    if !removed.is_empty() {
        out.push(format!("Removes permissions: {}", list(removed)));
    }
    let lib_added: Vec<i64> = after
        .library_ids
        .iter()
        .copied()
        .filter(|id| !before.library_ids.contains(id))
        .collect();
    let lib_removed: Vec<i64> = before
        .library_ids
        .iter()
        .copied()
        .filter(|id| !after.library_ids.contains(id))
        .collect();
    if !lib_added.is_empty() {
        out.push(format!(
            "Adds libraries: {}",
            list(library_names(&lib_added, libraries))
        ));
    }
    if !lib_removed.is_empty() {
        out.push(format!(
            "Removes libraries: {}",
            list(library_names(&lib_removed, libraries))
        ));
    }
    if out.is_empty() {
        out.push("Nothing would change.".to_owned());
    }
    out
}

/// The warnings of spec section 12.
fn warnings(proven: &Proven, settings: &StoredSettings, facts: &Facts) -> Vec<String> {
    let c = &facts.claims;
    let mut out = Vec::new();
    if c.email_verified == Some(false) {
        out.push(
            "email_verified is false: the provider's email cannot vouch for a pre-created account."
                .to_owned(),
        );
    }
    if c.username.is_none() {
        out.push(format!(
            "The username claim ({}) is missing: no existing account can be matched by username.",
            settings.claim_mapping.username
        ));
    }
    if c.groups.is_none() && !facts.mappings.is_empty() {
        out.push(format!(
            "The groups claim ({}) is missing although group mappings exist: group sync would \
             change nothing.",
            settings.claim_mapping.groups
        ));
    }
    let asked_offline = settings
        .effective_scopes()
        .split_whitespace()
        .any(|s| s == "offline_access");
    if asked_offline && proven.refresh_token.is_none() {
        out.push(
            "No refresh token although offline_access was asked: allow that scope in the \
             provider's scope settings, or sessions cannot be refreshed."
                .to_owned(),
        );
    }
    if proven.token.sid().is_none() {
        out.push(
            "The ID token has no sid: a back-channel logout will end every session of the user \
             instead of one."
                .to_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_values_are_shortened() {
        assert_eq!(shown(&json!("short")), "short");
        assert_eq!(shown(&json!(["a"])), "[\"a\"]");
        let long = shown(&json!("x".repeat(500)));
        assert!(long.ends_with("… (500 characters)"), "{long}");
        assert!(long.chars().count() < 100);
    }

    #[test]
    fn a_failure_marks_its_check_and_skips_the_rest() {
        let r = failed(
            "https://idp.example",
            &flow::Failure::Token(TokenFailure::BadSignature),
            0,
        );
        let status: Vec<&str> = r.checks.iter().map(|c| c.status.as_str()).collect();
        assert_eq!(
            status,
            ["PASS", "PASS", "PASS", "PASS", "FAIL", "SKIP", "SKIP", "SKIP"]
        );
        assert_eq!(r.checks[4].reason.as_deref(), Some("bad_signature"));
        assert_eq!(r.decision, "Would refuse: bad_signature");
    }
}
