//! The claims the settings map (spec section 4, step 6), read from the ID token and, where it
//! lacks them, from userinfo.

use crate::oidc_settings::StoredSettings;
use serde_json::Value;

/// The mapped claims of one sign-in or refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub username: Option<String>,
    pub email: Option<String>,
    /// False when the provider says the email is not verified (`email_verified`, in the ID
    /// token or userinfo, as a boolean or the string some providers send); `None` when it
    /// says nothing.
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    /// `None` when the claim is absent altogether (then group sync changes nothing).
    pub groups: Option<Vec<String>>,
}

/// Where a claim was found: the ID token, else userinfo.
fn lookup<'a>(
    token: &'a Value,
    userinfo: Option<&'a Value>,
    claim: &str,
) -> Option<(&'a Value, Found)> {
    token
        .get(claim)
        .filter(|v| !v.is_null())
        .map(|v| (v, Found::IdToken))
        .or_else(|| {
            userinfo
                .and_then(|u| u.get(claim))
                .filter(|v| !v.is_null())
                .map(|v| (v, Found::Userinfo))
        })
}

/// Which document a mapped claim came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    IdToken,
    Userinfo,
}

/// A mapped claim's value, the claim it was read from, and where.
struct Mapped<'a> {
    value: &'a Value,
    claim: String,
    found: Found,
}

/// The configured claim, else (only when the configured one is absent everywhere) the default.
fn mapped<'a>(
    token: &'a Value,
    userinfo: Option<&'a Value>,
    configured: &str,
    default: &str,
) -> Option<Mapped<'a>> {
    [configured, default].into_iter().find_map(|claim| {
        lookup(token, userinfo, claim).map(|(value, found)| Mapped {
            value,
            claim: claim.to_owned(),
            found,
        })
    })
}

/// A claim as sent: never trimmed, since a username or email that differs by a space is
/// another one (spec section 5.1, step 3).
fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn verified(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// Whether the provider verified the email: unverified as soon as either document says so.
fn email_verified(token: &Value, userinfo: Option<&Value>) -> Option<bool> {
    let said: Vec<bool> = [Some(token), userinfo]
        .into_iter()
        .flatten()
        .filter_map(|doc| doc.get("email_verified").and_then(verified))
        .collect();
    if said.contains(&false) {
        Some(false)
    } else {
        said.first().copied()
    }
}

/// The mapped claims from an ID token's claims and, where it lacks them, userinfo's.
pub fn claims_of(token: &Value, userinfo: Option<&Value>, s: &StoredSettings) -> Claims {
    let m = &s.claim_mapping;
    let value = |configured: &str, default: &str| {
        mapped(token, userinfo, configured, default).map(|found| found.value)
    };
    let groups = value(&m.groups, "groups").map(|v| match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::String(one) => vec![one.clone()],
        _ => Vec::new(),
    });
    Claims {
        username: text(value(&m.username, "preferred_username")),
        email: text(value(&m.email, "email")),
        email_verified: email_verified(token, userinfo),
        // Only shown, never compared: a padded display name is tidied.
        name: text(value(&m.name, "name"))
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        groups,
    }
}

/// Where each mapped claim (username, email, display name, groups, in that order) was read
/// from, by the lookup `claims_of` uses: the claim's name and the document, or `None`.
pub fn sources_of(
    token: &Value,
    userinfo: Option<&Value>,
    s: &StoredSettings,
) -> [Option<(String, Found)>; 4] {
    let m = &s.claim_mapping;
    [
        (&m.username, "preferred_username"),
        (&m.email, "email"),
        (&m.name, "name"),
        (&m.groups, "groups"),
    ]
    .map(|(configured, default)| {
        mapped(token, userinfo, configured, default).map(|found| (found.claim, found.found))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_configured_claim_comes_from_the_token_then_userinfo_then_the_default() {
        let mut s = StoredSettings::default();
        s.claim_mapping.username = "login".to_owned();
        let token = json!({"preferred_username": "default", "email": null});
        let userinfo = json!({"login": "configured", "email": "rita@example.org"});
        let c = claims_of(&token, Some(&userinfo), &s);
        assert_eq!(c.username.as_deref(), Some("configured"));
        assert_eq!(c.email.as_deref(), Some("rita@example.org"));
        let c = claims_of(&token, None, &s);
        assert_eq!(c.username.as_deref(), Some("default"));
        assert_eq!(c.email, None);
        assert_eq!(c.name, None);
        let [username, email, name, _] = sources_of(&token, Some(&userinfo), &s);
        assert_eq!(username, Some(("login".to_owned(), Found::Userinfo)));
        assert_eq!(email, Some(("email".to_owned(), Found::Userinfo)));
        assert_eq!(name, None);
        let [username, ..] = sources_of(&token, None, &s);
        assert_eq!(
            username,
            Some(("preferred_username".to_owned(), Found::IdToken))
        );
    }

    #[test]
    fn claims_are_read_as_sent_and_email_verified_false_wins() {
        let s = StoredSettings::default();
        let c = claims_of(
            &json!({"preferred_username": "alice ", "email": "a@example.org", "email_verified": true}),
            Some(&json!({"email_verified": "false"})),
            &s,
        );
        assert_eq!(c.username.as_deref(), Some("alice "));
        assert_eq!(c.email_verified, Some(false));
        let c = |token: Value| claims_of(&token, None, &s).email_verified;
        assert_eq!(c(json!({"email_verified": "true"})), Some(true));
        assert_eq!(c(json!({"email_verified": 1})), None);
        assert_eq!(c(json!({})), None);
    }

    #[test]
    fn groups_are_an_array_or_one_string_and_absent_is_not_empty() {
        let s = StoredSettings::default();
        let c = |token: Value| claims_of(&token, None, &s).groups;
        assert_eq!(
            c(json!({"groups": ["a", 1, "b"]})),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(c(json!({"groups": "a"})), Some(vec!["a".to_owned()]));
        assert_eq!(c(json!({"groups": []})), Some(Vec::new()));
        assert_eq!(c(json!({})), None);
    }
}
