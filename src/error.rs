//! The one error shape of the API. Every kind maps to its status in one exhaustive match;
//! anything unexpected is logged with a reference id and the client sees only
//! "Internal server error" and that id, never database or crypto text. A database that cannot
//! serve the request (unreachable, read-only, full) is a known condition, not a bug: 503 with
//! a plain message and no reference, so clients and providers try again.

use app::domain::{ErrorBody, FieldError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// A user with a linked identity approves an app through the provider first (spec
    /// section 11.1); the URL starts that round trip.
    #[error("confirm with the provider first")]
    ConfirmWithProvider(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("database unavailable")]
    Unavailable,
    #[error("internal: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

/// What a user with a linked identity is told when approving an app without a fresh
/// provider round trip (Appendix A).
pub const CONFIRM_WITH_PROVIDER: &str = "Confirm with your provider first.";

/// What a client is told while the database cannot serve its request.
pub const UNAVAILABLE_MESSAGE: &str =
    "Service temporarily unavailable. Please try again in a moment.";

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// An unexpected failure, except a database error that only says the database cannot
    /// serve the request now: that is [`AppError::Unavailable`], however it got here.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let e = e.into();
        match e.downcast_ref::<sqlx::Error>() {
            Some(db) if crate::db::is_unavailable(db) => {
                tracing::debug!(error = %db, "database unavailable");
                Self::Unavailable
            }
            _ => Self::Internal(e),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::ConfirmWithProvider(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body a client may see. For internal errors this logs the cause under a fresh
    /// reference id, so it is called once per response.
    pub fn body(&self) -> ErrorBody {
        let status = self.status().as_u16();
        let plain = |message: &str| ErrorBody::new(status, message);
        match self {
            Self::Validation(errors) => ErrorBody::invalid(errors.clone()),
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::TooManyRequests(m) => plain(m),
            Self::ConfirmWithProvider(url) => ErrorBody {
                url: Some(url.clone()),
                ..plain(CONFIRM_WITH_PROVIDER)
            },
            Self::MethodNotAllowed => plain("This endpoint does not accept that method."),
            Self::Unavailable => plain(UNAVAILABLE_MESSAGE),
            Self::Internal(cause) => {
                let mut id = [0u8; 6];
                rand::rngs::OsRng.fill_bytes(&mut id);
                let reference = hex::encode(id);
                tracing::error!(%reference, error = %cause, "internal server error");
                ErrorBody {
                    reference: Some(reference),
                    ..plain("Internal server error")
                }
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl From<crate::db::StoreError> for AppError {
    fn from(e: crate::db::StoreError) -> Self {
        use crate::db::StoreError;
        match e {
            StoreError::NotFound => Self::NotFound("Not found.".to_owned()),
            StoreError::Conflict(field, message) => {
                tracing::debug!(field, "unique conflict");
                Self::Conflict(message.to_owned())
            }
            StoreError::Invariant(message) => Self::Conflict(message.to_owned()),
            StoreError::Db(e) => Self::from(e),
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(e)
    }
}
