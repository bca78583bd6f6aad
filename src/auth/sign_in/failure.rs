//! Why an OIDC sign-in ended without a session: one enum that names the machine reason of
//! the audit log (spec section 8) and the code the login page shows (section 4), whose text
//! is in `app::domain::OidcError`.

use super::decision::Refusal;
use crate::error::AppError;
use crate::oidc::flow;
use app::domain::OidcError;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// OIDC is off, or forced off by the environment.
    OidcDisabled,
    /// The provider's answer was not accepted.
    Protocol(flow::Failure),
    /// The identity is proven but gets no session here.
    Refused(Refusal),
    /// Two first sign-ins of one identity kept colliding.
    IdentityConflict,
    /// Our own trouble: logged with a reference where it happened.
    Internal,
}

impl Failure {
    /// Our own trouble: logged with a reference id; the user sees the generic text.
    pub(super) fn internal(e: impl Into<AppError>) -> Self {
        e.into().body();
        Self::Internal
    }

    /// The machine reason the audit log records.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Self::OidcDisabled => "oidc_disabled".into(),
            Self::Protocol(f) => f.reason(),
            Self::Refused(Refusal::LinkRefused) => "link_refused".into(),
            Self::Refused(Refusal::NotProvisioned { .. }) => "not_provisioned".into(),
            Self::IdentityConflict => "identity_conflict".into(),
            Self::Internal => "internal_error".into(),
        }
    }

    /// The mapped username of a sign-in refused for want of an account, for the audit log.
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Refused(Refusal::NotProvisioned { username }) => Some(username),
            _ => None,
        }
    }

    /// What the login page is told (`?oidcError=`).
    pub fn page(&self) -> OidcError {
        use flow::Failure as F;
        match self {
            Self::OidcDisabled => OidcError::OidcDisabled,
            Self::Refused(Refusal::LinkRefused) => OidcError::LinkRefused,
            Self::Refused(Refusal::NotProvisioned { .. }) => OidcError::NotProvisioned,
            Self::IdentityConflict | Self::Internal => OidcError::Unexpected,
            Self::Protocol(f) => match f {
                F::StateMismatch | F::IssParamMismatch => OidcError::StateMismatch,
                F::ProviderUnreachable
                | F::NoAuthorizationEndpoint
                | F::BadAuthorizationEndpoint => OidcError::ProviderUnreachable,
                // A 5xx is the provider being down; anything else is a refused exchange.
                F::TokenEndpointStatus(status) if *status >= 500 => OidcError::ProviderUnreachable,
                F::TokenEndpointStatus(_)
                | F::DiscoveryIssuerMismatch
                | F::MissingCode
                | F::NoTokenEndpoint
                | F::InvalidClient
                | F::TokenError(_) => OidcError::ExchangeFailed,
                F::MissingIdToken | F::Token(_) | F::UserinfoSubMismatch | F::UserinfoInvalid => {
                    OidcError::InvalidToken
                }
                F::Provider(code) => OidcError::Provider(code.clone()),
            },
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason())
    }
}

impl From<flow::Failure> for Failure {
    fn from(f: flow::Failure) -> Self {
        Self::Protocol(f)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Self::Refused(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::id_token::TokenFailure;
    use flow::Failure as F;

    /// The audit reasons are what the integration tests and operators read: they must not
    /// drift.
    #[test]
    fn every_failure_has_its_audit_reason_and_login_page_code() {
        let cases = [
            (Failure::OidcDisabled, "oidc_disabled", "oidc_disabled"),
            (F::StateMismatch.into(), "state_mismatch", "state_mismatch"),
            (
                F::IssParamMismatch.into(),
                "iss_param_mismatch",
                "state_mismatch",
            ),
            (
                F::ProviderUnreachable.into(),
                "provider_unreachable",
                "provider_unreachable",
            ),
            (
                F::NoAuthorizationEndpoint.into(),
                "no_authorization_endpoint",
                "provider_unreachable",
            ),
            (
                F::BadAuthorizationEndpoint.into(),
                "bad_authorization_endpoint",
                "provider_unreachable",
            ),
            (
                F::Provider("access_denied".to_owned()).into(),
                "provider_error:access_denied",
                "access_denied",
            ),
            (F::MissingCode.into(), "missing_code", "exchange_failed"),
            (
                F::NoTokenEndpoint.into(),
                "no_token_endpoint",
                "exchange_failed",
            ),
            (
                F::TokenEndpointStatus(502).into(),
                "token_endpoint_http_502",
                "provider_unreachable",
            ),
            (
                F::TokenEndpointStatus(404).into(),
                "token_endpoint_http_404",
                "exchange_failed",
            ),
            (F::InvalidClient.into(), "invalid_client", "exchange_failed"),
            (
                F::TokenError("invalid_grant".to_owned()).into(),
                "token_error:invalid_grant",
                "exchange_failed",
            ),
            (
                F::MissingIdToken.into(),
                "missing_id_token",
                "invalid_token",
            ),
            (
                F::Token(TokenFailure::AudienceMismatch).into(),
                "audience_mismatch",
                "invalid_token",
            ),
            (
                F::UserinfoSubMismatch.into(),
                "userinfo_sub_mismatch",
                "invalid_token",
            ),
            (
                F::DiscoveryIssuerMismatch.into(),
                "issuer_mismatch",
                "exchange_failed",
            ),
            (
                F::UserinfoInvalid.into(),
                "userinfo_invalid",
                "invalid_token",
            ),
            (Refusal::LinkRefused.into(), "link_refused", "link_refused"),
            (
                Refusal::NotProvisioned {
                    username: "nobody".to_owned(),
                }
                .into(),
                "not_provisioned",
                "not_provisioned",
            ),
            (Failure::IdentityConflict, "identity_conflict", "unexpected"),
            (Failure::Internal, "internal_error", "unexpected"),
        ];
        for (failure, reason, code) in cases {
            assert_eq!(failure.reason(), reason);
            assert_eq!(failure.to_string(), reason);
            assert_eq!(failure.page().code(), code, "{reason}");
        }
    }

    #[test]
    fn only_not_provisioned_carries_the_username() {
        let refused: Failure = Refusal::NotProvisioned {
            username: "nobody".to_owned(),
        }
        .into();
        assert_eq!(refused.username(), Some("nobody"));
        assert_eq!(Failure::from(Refusal::LinkRefused).username(), None);
    }
}
