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

/// The object as the request type `T`. A member `T` has no field for is refused, each by
/// its name, rather than dropped: a typo, or a field of a newer client, must never look saved.
pub fn object_into<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, Vec<FieldError>> {
    let body = Value::Object(object);
    let value = serde_json::from_value(body.clone())
        .map_err(|e| vec![body_error(format!("A field has the wrong type: {e}."))])?;
    let mut unknown = Vec::new();
    unread_members::<T>(&body, &mut Vec::new(), &mut unknown);
    if unknown.is_empty() {
        Ok(value)
    } else {
        Err(unknown
            .into_iter()
            .map(|field| FieldError {
                field,
                message: "Unknown field.".to_owned(),
            })
            .collect())
    }
}

/// A value no field of a request type accepts (no request type has a float field).
const PROBE: f64 = -1.5e300;

/// Names (dotted, for nested objects) the members of the object at `path` that `T` does not
/// read. serde keeps no list of the fields of a type with flattened members, which the server
/// functions' arguments are, so each member is asked: with its value replaced by `PROBE`, a
/// member `T` reads makes it fail to deserialize; one it ignores does not.
fn unread_members<T: DeserializeOwned>(
    body: &Value,
    path: &mut Vec<String>,
    unknown: &mut Vec<String>,
) {
    let Some(Value::Object(object)) = member(body, path) else {
        return;
    };
    for key in object.keys() {
        path.push(key.clone());
        let mut probe = body.clone();
        if let Some(slot) = member_mut(&mut probe, path) {
            *slot = Value::from(PROBE);
        }
        if serde_json::from_value::<T>(probe).is_ok() {
            unknown.push(path.join("."));
        } else {
            unread_members::<T>(body, path, unknown);
        }
        path.pop();
    }
}

fn member<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn member_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, key| v.get_mut(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreateUserRequest, LibraryRequest, SettingsPatch};
    use serde_json::json;

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
        assert_eq!(wrong.len(), 1);
        assert_eq!(wrong[0].field, "body");
        assert!(wrong[0].message.starts_with("A field has the wrong type: "));
    }

    fn unknown_fields<T: DeserializeOwned>(body: Value) -> Vec<String> {
        let Value::Object(object) = body else {
            unreachable!()
        };
        match object_into::<T>(object) {
            Ok(_) => Vec::new(),
            Err(errors) => {
                assert!(errors.iter().all(|e| e.message == "Unknown field."));
                errors.into_iter().map(|e| e.field).collect()
            }
        }
    }

    #[test]
    fn each_unknown_member_is_named_and_known_ones_pass() {
        assert_eq!(
            unknown_fields::<LibraryRequest>(json!({"name": "A", "nmae": "B", "colour": null})),
            ["colour", "nmae"]
        );
        assert!(unknown_fields::<LibraryRequest>(json!({"name": null})).is_empty());
        // Nested objects are checked member by member; maps keep any key.
        assert_eq!(
            unknown_fields::<SettingsPatch>(json!({
                "clientId": "c", "sessionDurationHours": null,
                "claimMapping": {"username": "preferred_username", "usrname": "x"},
                "clientSecrt": "s"
            })),
            ["claimMapping.usrname", "clientSecrt"]
        );
        assert!(unknown_fields::<CreateUserRequest>(
            json!({"username": "u", "permissions": {"canUpload": true, "anything": false}})
        )
        .is_empty());
    }

    /// Server functions take their request flattened into their arguments, as the protocol
    /// reads them: unknown members are found there too.
    #[test]
    fn unknown_members_of_flattened_arguments_are_named() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Arguments {
            id: i64,
            #[serde(flatten)]
            library: LibraryRequest,
        }
        assert_eq!(
            unknown_fields::<Arguments>(json!({"id": 3, "name": "A", "extra": 1})),
            ["extra"]
        );
        assert!(unknown_fields::<Arguments>(json!({"id": 3, "name": "A"})).is_empty());
    }
}
