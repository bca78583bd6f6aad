//! The API's error body is the server functions' error type too, encoded as JSON: the UI
//! reads the same `{status, message, errors}` from a server function as from any endpoint,
//! and shows field errors next to their fields.

use crate::domain::{ErrorBody, FieldError};
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// The status of an error that never got an answer from the server.
const NO_ANSWER: u16 = 0;

impl ErrorBody {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
            reference: None,
            url: None,
        }
    }

    /// A 400 naming each wrong field; the first one is the message.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self {
            status: 400,
            message: errors
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "Invalid input.".to_owned()),
            errors,
            reference: None,
            url: None,
        }
    }

    pub fn internal() -> Self {
        Self::new(500, "Internal server error")
    }
}

impl FromServerFnError for ErrorBody {
    type Encoder = JsonEncoding;

    /// Failures of the transport itself. On the server only an answer that cannot be built
    /// ends here (the protocol reads arguments itself); in the browser, a request that
    /// could not be made or an answer that could not be read.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => Self::new(
                NO_ANSWER,
                "Could not reach the server. Check your connection and try again.",
            ),
            ServerFnErrorErr::Serialization(_) | ServerFnErrorErr::UnsupportedRequestMethod(_) => {
                Self::new(NO_ANSWER, "Could not prepare the request.")
            }
            ServerFnErrorErr::Deserialization(_) => {
                Self::new(NO_ANSWER, "The server sent an unexpected answer.")
            }
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                Self::invalid(vec![FieldError {
                    field: "body".to_owned(),
                    message,
                }])
            }
            ServerFnErrorErr::Registration(_)
            | ServerFnErrorErr::ServerError(_)
            | ServerFnErrorErr::MiddlewareError(_)
            | ServerFnErrorErr::Response(_) => Self::internal(),
        }
    }
}
