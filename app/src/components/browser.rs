//! Calls to the JSON API and navigation, from the hydrated page. Without JavaScript the same
//! forms post to the same endpoints and the server answers with redirects.

use crate::domain::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Sends `body` as JSON with `method` and decodes a success, or the API's error body.
pub async fn send_json<B: Serialize, T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: Option<&B>,
) -> Result<T, ErrorBody> {
    let failed = |message: &str| ErrorBody {
        status: 0,
        message: message.to_owned(),
        errors: Vec::new(),
        reference: None,
    };
    #[cfg(feature = "hydrate")]
    {
        use gloo_net::http::{Method, RequestBuilder};
        let method = match method {
            "PUT" => Method::PUT,
            "DELETE" => Method::DELETE,
            "GET" => Method::GET,
            _ => Method::POST,
        };
        let builder = RequestBuilder::new(url).method(method);
        let request = match body {
            Some(b) => builder.json(b),
            None => builder.build(),
        }
        .map_err(|_| failed("Could not prepare the request."))?;
        let response = request.send().await.map_err(|_| {
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
        let _ = (method, url, body);
        Err(failed("Only available in the browser."))
    }
}

pub async fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, ErrorBody> {
    send_json("POST", url, Some(body)).await
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

/// Asks the user to confirm a destructive action.
pub fn confirm(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(question).ok())
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}

/// Copies `text` to the clipboard.
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(navigator) = web_sys::window().map(|w| w.navigator()) else {
            return;
        };
        // Through Reflect: the typed Clipboard API is still behind an unstable flag in web-sys.
        let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into()).ok();
        let write = clipboard
            .as_ref()
            .and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok())
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        if let (Some(clipboard), Some(write)) = (clipboard, write) {
            let _ = write.call1(&clipboard, &text.into());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}
