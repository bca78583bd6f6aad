//! Pieces every page uses.

mod browser;
mod layout;

pub use browser::{confirm, navigate, post_json, send_json};
pub use layout::{AdminOnly, Layout};

use crate::domain::{ErrorBody, FieldError};
use leptos::prelude::*;

/// The message for `field` among `errors`, shown under that field.
#[component]
pub fn FieldMessage(errors: RwSignal<Vec<FieldError>>, field: &'static str) -> impl IntoView {
    move || {
        errors.with(|list| {
            list.iter()
                .find(|e| e.field == field)
                .map(|e| view! { <p class="field-error" role="alert">{e.message.clone()}</p> })
        })
    }
}

/// A page-level status line: success in green, failure in red.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok(String),
    Failed(String),
}

impl Status {
    /// The failure to show for an API error; field errors are shown next to their fields.
    pub fn from_error(e: &ErrorBody) -> Self {
        Self::Failed(e.message.clone())
    }
}

#[component]
pub fn StatusLine(status: RwSignal<Option<Status>>) -> impl IntoView {
    move || {
        status.get().map(|s| match s {
            Status::Ok(text) => view! { <p class="notice" role="status">{text}</p> }.into_any(),
            Status::Failed(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
        })
    }
}
