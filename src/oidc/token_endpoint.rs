//! Requests to the provider's token endpoint, authenticated the way the provider advertises:
//! a public client sends its `client_id` in the form (PKCE does the rest); a confidential one
//! uses `client_secret_basic`, or `client_secret_post` when that is all the provider lists.

use super::outbound::{Outbound, OutboundError, Reply};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openidconnect::reqwest::Url;
use serde_json::Value;

fn posts_secret(discovery: &Value) -> bool {
    let listed = |m: &str| {
        discovery
            .get("token_endpoint_auth_methods_supported")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(m)))
    };
    !listed("client_secret_basic") && listed("client_secret_post")
}

/// RFC 6749 section 2.3.1: both parts form-urlencoded before base64.
fn basic_auth(client_id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
    )
}

/// Posts `form` to `endpoint` with the client's authentication added.
pub async fn post(
    outbound: &Outbound,
    discovery: &Value,
    endpoint: Url,
    client_id: &str,
    secret: Option<&str>,
    mut form: Vec<(&str, String)>,
) -> Result<Reply, OutboundError> {
    let mut request = outbound
        .client()
        .post(endpoint)
        .header("accept", "application/json");
    match secret {
        None => form.push(("client_id", client_id.to_owned())),
        Some(secret) if posts_secret(discovery) => {
            form.push(("client_id", client_id.to_owned()));
            form.push(("client_secret", secret.to_owned()));
        }
        Some(secret) => request = request.header("authorization", basic_auth(client_id, secret)),
    }
    outbound.send(request.form(&form)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_first_post_only_when_alone() {
        assert!(!posts_secret(&serde_json::json!({})));
        assert!(!posts_secret(
            &serde_json::json!({"token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})
        ));
        assert!(posts_secret(
            &serde_json::json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]})
        ));
        assert_eq!(
            basic_auth("a b", "p:w"),
            format!("Basic {}", STANDARD.encode("a+b:p%3Aw"))
        );
    }
}
