//! Request bodies as JSON (the API) or as an HTML form post (pages without JavaScript). The
//! handler learns which, so it can answer JSON or a 303 redirect. JSON is read as the server
//! functions read it (`app::api::json_object`), with the same messages.

use crate::error::AppError;
use app::api::{json_object, object_into};
use app::domain::FieldError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

pub struct Input<T> {
    pub value: T,
    /// True for `application/x-www-form-urlencoded`: answer with a redirect, not JSON.
    pub form: bool,
}

/// Whether the request is an HTML form post (`application/x-www-form-urlencoded`), which is
/// answered with a redirect rather than JSON.
pub fn is_form(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("application/x-www-form-urlencoded")
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let form = is_form(req.headers());
        let content_type = content_type(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::BadRequest("The request body could not be read.".to_owned()))?;
        if form {
            let value = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
                AppError::Validation(vec![FieldError {
                    field: "body".to_owned(),
                    message: "The form could not be read.".to_owned(),
                }])
            })?;
            return Ok(Self { value, form: true });
        }
        let object =
            json_object(&content_type, &bytes).map_err(|e| AppError::Validation(vec![e]))?;
        let value = object_into(object).map_err(AppError::Validation)?;
        Ok(Self { value, form: false })
    }
}

/// A numeric id from the path. Anything else names nothing, so it is a 404 in the API's
/// error shape (axum's own rejection would be plain text).
pub struct IdPath(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdPath {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, AppError> {
        let not_found = || AppError::NotFound("Not found.".to_owned());
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| not_found())?;
        raw.parse().map(IdPath).map_err(|_| not_found())
    }
}

/// The query string parsed into `T`, with a 400 in the API's error shape when it does not fit.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryOf<T> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, AppError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(QueryOf)
            .map_err(|_| AppError::BadRequest("The query string could not be read.".to_owned()))
    }
}
