//! Revoking the provider's refresh token when its session ends here (RFC 7009), for providers
//! whose discovery document offers a `revocation_endpoint`.

use super::client::OidcClient;
use super::outbound::{Outbound, OutboundError};
use super::provider::field;
use super::token_endpoint;

pub struct Revocation<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<&'a str>,
    pub refresh_token: &'a str,
}

impl OidcClient {
    /// Asks the provider to revoke the refresh token, authenticated as at its token endpoint.
    /// Answers false when the provider has no revocation endpoint.
    pub async fn revoke_refresh_token(&self, r: &Revocation<'_>) -> Result<bool, OutboundError> {
        let discovery = self.discovery(r.issuer).await?;
        let Some(endpoint) = field(&discovery, "revocation_endpoint") else {
            return Ok(false);
        };
        let form = vec![
            ("token", r.refresh_token.to_owned()),
            ("token_type_hint", "refresh_token".to_owned()),
        ];
        let reply = token_endpoint::post(
            self.outbound(),
            &discovery,
            Outbound::check_url(endpoint)?,
            r.client_id,
            r.client_secret,
            form,
        )
        .await?;
        // RFC 7009 2.2: 200 also for a token that was already invalid.
        if reply.status != 200 {
            return Err(OutboundError::Status(reply.status));
        }
        Ok(true)
    }
}
