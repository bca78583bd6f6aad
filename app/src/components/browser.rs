//! Calls to the JSON API and navigation, from the hydrated page. Without JavaScript the same
//! forms post to the same endpoints and the server answers with redirects.

use crate::domain::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Posts `body` as JSON and decodes a success, or the API's error body.
pub async fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, ErrorBody> {
    #[cfg(feature = "hydrate")]
    {
        let failed = |message: &str| ErrorBody {
            status: 0,
            message: message.to_owned(),
            errors: Vec::new(),
            reference: None,
        };
        let response = gloo_net::http::Request::post(url)
            .json(body)
            .map_err(|_| failed("Could not prepare the request."))?
            .send()
            .await
            .map_err(|_| {
                failed("Could not reach the server. Check your connection and try again.")
            })?;
        if response.ok() {
            response
                .json::<T>()
                .await
                .map_err(|_| failed("The server sent an unexpected answer."))
        } else {
            Err(response
                .json::<ErrorBody>()
                .await
                .unwrap_or_else(|_| failed("The server sent an unexpected answer.")))
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (url, body);
        Err(ErrorBody {
            status: 0,
            message: "Only available in the browser.".to_owned(),
            errors: Vec::new(),
            reference: None,
        })
    }
}

/// A full page load, so the server renders the next page with the new session.
pub fn navigate(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}
