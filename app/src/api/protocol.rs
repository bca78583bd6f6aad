//! How the server functions travel: the HTTP contract of Appendix A. Arguments are a JSON
//! object in the body, except those named in the path (`{id}` in the endpoint), answers are
//! JSON, and a failure is the API's error body with its status code. So a server function
//! can be a contract endpoint, and any HTTP client can call it.

use super::body::{json_object, object_into};
use crate::domain::ErrorBody;
use http::Method;
use leptos::server_fn::client::Client;
use leptos::server_fn::request::{ClientReq, Req};
use leptos::server_fn::response::{ClientRes, TryRes};
use leptos::server_fn::server::Server;
use leptos::server_fn::{Bytes, Protocol};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::marker::PhantomData;

const JSON: &str = "application/json";

/// The protocol of a server function: `#[server(protocol = Api<Put>, ...)]`.
pub struct Api<V>(PhantomData<V>);

/// The method of an endpoint and what it answers on success.
pub trait Verb: Send + Sync + 'static {
    const METHOD: Method;
    /// Whether arguments come in the body; otherwise only the path carries them.
    const BODY: bool = true;
    /// The status of a success.
    const SUCCESS: u16 = 200;
}

/// `POST`, answering 200.
pub struct Post;
/// `POST` that creates something, answering 201 Created.
pub struct Create;
/// `PUT`, answering 200.
pub struct Put;
/// `PATCH`, answering 200.
pub struct Patch;
/// `DELETE` without a body, answering 200.
pub struct Delete;
/// `POST` without a body (an action on what the path names), answering 200.
pub struct Act;

impl Verb for Post {
    const METHOD: Method = Method::POST;
}
impl Verb for Create {
    const METHOD: Method = Method::POST;
    const SUCCESS: u16 = 201;
}
impl Verb for Put {
    const METHOD: Method = Method::PUT;
}
impl Verb for Patch {
    const METHOD: Method = Method::PATCH;
}
impl Verb for Delete {
    const METHOD: Method = Method::DELETE;
    const BODY: bool = false;
}
impl Verb for Act {
    const METHOD: Method = Method::POST;
    const BODY: bool = false;
}

/// The path parameters of the route a call came in on, as the server matched them (name,
/// value). The server provides them in context; each names a numeric id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathIds(pub Vec<(String, String)>);

impl<V, Input, Output, C, S> Protocol<Input, Output, C, S, ErrorBody> for Api<V>
where
    V: Verb,
    Input: Serialize + DeserializeOwned + Send,
    Output: Serialize + DeserializeOwned + Send,
    C: Client<ErrorBody>,
    S: Server<ErrorBody>,
{
    const METHOD: Method = V::METHOD;

    async fn run_server<F, Fut>(request: S::Request, server_fn: F) -> Result<S::Response, ErrorBody>
    where
        F: Fn(Input) -> Fut + Send,
        Fut: Future<Output = Result<Output, ErrorBody>> + Send,
    {
        let answer = async move {
            let input = read_arguments::<V, Input, S::Request>(request).await?;
            let output = server_fn(input).await?;
            let json = serde_json::to_vec(&output).map_err(|_| ErrorBody::internal())?;
            S::Response::try_from_bytes(JSON, Bytes::from(json))
        }
        .await;
        set_status(match &answer {
            Ok(_) => V::SUCCESS,
            Err(e) => e.status,
        });
        answer
    }

    async fn run_client(path: &str, input: Input) -> Result<Output, ErrorBody> {
        let unsent = || ErrorBody::new(0, "Could not prepare the request.");
        let mut arguments = match serde_json::to_value(&input) {
            Ok(Value::Object(object)) => object,
            _ => return Err(unsent()),
        };
        let url = fill_path(path, &mut arguments).ok_or_else(unsent)?;
        let request = if V::BODY {
            let json = serde_json::to_vec(&arguments).map_err(|_| unsent())?;
            C::Request::try_new_req_bytes(&url, JSON, JSON, Bytes::from(json), V::METHOD)?
        } else {
            C::Request::try_new_req_query(&url, JSON, JSON, "", V::METHOD)?
        };
        let response = C::send(request).await?;
        let status = response.status();
        let bytes = response.try_into_bytes().await?;
        let unexpected = || ErrorBody::new(0, "The server sent an unexpected answer.");
        if (200..300).contains(&status) {
            serde_json::from_slice(&bytes).map_err(|_| unexpected())
        } else {
            Err(serde_json::from_slice(&bytes).unwrap_or_else(|_| unexpected()))
        }
    }
}

/// The arguments from the body (when the verb has one) and the path's ids.
async fn read_arguments<V, T, R>(request: R) -> Result<T, ErrorBody>
where
    V: Verb,
    T: DeserializeOwned,
    R: Req<ErrorBody> + Send,
{
    let mut object = if V::BODY {
        let content_type = request
            .to_content_type()
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let bytes = request
            .try_into_bytes()
            .await
            .map_err(|_| ErrorBody::new(400, "The request body could not be read."))?;
        json_object(&content_type, &bytes).map_err(|e| ErrorBody::invalid(vec![e]))?
    } else {
        Map::new()
    };
    let ids = leptos::prelude::use_context::<PathIds>().unwrap_or_default();
    for (name, raw) in ids.0 {
        // Ids are numbers; anything else names nothing.
        let id: i64 = raw.parse().map_err(|_| ErrorBody::new(404, "Not found."))?;
        object.insert(name, id.into());
    }
    object_into(object).map_err(ErrorBody::invalid)
}

/// The endpoint's path with each `{name}` segment replaced by that argument, which then
/// leaves the body. `None` when an argument is missing.
fn fill_path(path: &str, arguments: &mut Map<String, Value>) -> Option<String> {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match arguments.remove(name)? {
                    Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                },
                None => Some(segment.to_owned()),
            },
        )
        .collect::<Option<Vec<_>>>()
        .map(|segments| segments.join("/"))
}

/// The status of the answer, through Leptos' response options (the server applies them).
fn set_status(status: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(options), Ok(status)) = (
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(status),
    ) {
        options.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = status;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_arguments_fill_their_segments() {
        let mut arguments = serde_json::json!({"id": 7, "name": "Atlas"})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(
            fill_path("/api/v1/admin/libraries/{id}", &mut arguments).as_deref(),
            Some("/api/v1/admin/libraries/7")
        );
        assert_eq!(arguments.len(), 1, "the id left the body");
        assert_eq!(fill_path("/api/v1/x/{id}", &mut Map::new()), None);
    }
}
