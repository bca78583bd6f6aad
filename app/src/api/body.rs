//! Reading a JSON request body, with one message for each way it can be wrong. The server's
//! REST extractor and the server functions' protocol both read bodies here, so a client gets
//! the same answer from every endpoint.

use crate::domain::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

fn body_error(message: impl Into<String>) -> FieldError {
    FieldError {
        field: "body".to_owned(),
        message: message.into(),
    }
}

/// The body as a JSON object. `content_type` is the request's header, empty when absent
/// (taken as JSON, as clients without one mostly mean it).
pub fn json_object(content_type: &str, bytes: &[u8]) -> Result<Map<String, Value>, FieldError> {
    let content_type = content_type.to_ascii_lowercase();
    if !content_type.is_empty() && !content_type.starts_with("application/json") {
        return Err(body_error(
            "Send the body as JSON (Content-Type: application/json).",
        ));
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(body_error("The request body must be a JSON object.")),
        Err(_) => Err(body_error("The request body is not valid JSON.")),
    }
}

/// The object as the request type `T`.
pub fn object_into<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, FieldError> {
    serde_json::from_value(Value::Object(object))
        .map_err(|e| body_error(format!("A field has the wrong type: {e}.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LibraryRequest;

    #[test]
    fn every_wrong_body_has_its_message() {
        let message = |ct: &str, body: &str| json_object(ct, body.as_bytes()).unwrap_err().message;
        assert_eq!(
            message("text/plain", "{}"),
            "Send the body as JSON (Content-Type: application/json)."
        );
        assert_eq!(
            message("", "null"),
            "The request body must be a JSON object."
        );
        assert_eq!(
            message("application/json", "{\"a\": "),
            "The request body is not valid JSON."
        );
        let object = json_object("application/json; charset=utf-8", b"{\"name\": 5}").unwrap();
        let wrong = object_into::<LibraryRequest>(object).unwrap_err();
        assert_eq!(wrong.field, "body");
        assert!(wrong.message.starts_with("A field has the wrong type: "));
    }
}
