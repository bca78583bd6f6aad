//! Pieces every page uses.

mod browser;
mod layout;

pub use browser::{navigate, post_json};
pub use layout::Layout;

use crate::domain::FieldError;
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
