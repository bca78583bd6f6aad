//! Pieces every page uses.

mod browser;
mod chips;
mod grant_list;
mod layout;

pub use browser::{confirm, copy_to_clipboard, navigate, NewTab};
pub use chips::ChipInput;
pub use grant_list::{GrantList, GrantOwner};
pub use layout::{Forbidden, Layout};

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

/// An on/off switch: a checkbox styled as a toggle, with its label.
#[component]
pub fn Toggle(
    label: &'static str,
    checked: Signal<bool>,
    #[prop(into)] disabled: Signal<bool>,
    on_change: Callback<bool>,
) -> impl IntoView {
    view! {
        <label class="toggle">
            <input
                type="checkbox"
                role="switch"
                prop:checked=move || checked.get()
                disabled=move || disabled.get()
                on:change:target=move |ev| on_change.run(ev.target().checked())
            />
            <span class="slider"></span>
            <span>{label}</span>
        </label>
    }
}

/// Every permission as a checkbox over `chosen` (JSON names), with "Read Books" locked on.
#[component]
pub fn PermissionChecks(chosen: RwSignal<std::collections::BTreeSet<String>>) -> impl IntoView {
    view! {
        <div class="checks">
            <label class="check"><input type="checkbox" checked disabled/>" Read Books"</label>
            {crate::domain::PERMISSIONS
                .iter()
                .map(|p| {
                    let key = p.key;
                    view! {
                        <label class="check">
                            <input
                                type="checkbox"
                                name=key
                                prop:checked=move || chosen.with(|s| s.contains(key))
                                on:change:target=move |ev| {
                                    let on = ev.target().checked();
                                    chosen.update(|s| {
                                        if on {
                                            s.insert(key.to_owned());
                                        } else {
                                            s.remove(key);
                                        }
                                    });
                                }
                            />
                            " "
                            {p.label}
                        </label>
                    }
                })
                .collect_view()}
        </div>
    }
}

/// Every library as a checkbox over `chosen` ids.
#[component]
pub fn LibraryChecks(
    libraries: Vec<crate::domain::LibraryDto>,
    chosen: RwSignal<std::collections::BTreeSet<i64>>,
) -> impl IntoView {
    if libraries.is_empty() {
        return view! { <p class="muted">"No libraries yet."</p> }.into_any();
    }
    view! {
        <div class="checks">
            {libraries
                .into_iter()
                .map(|lib| {
                    let id = lib.id;
                    view! {
                        <label class="check">
                            <input
                                type="checkbox"
                                name="libraryIds"
                                prop:checked=move || chosen.with(|s| s.contains(&id))
                                on:change:target=move |ev| {
                                    let on = ev.target().checked();
                                    chosen.update(|s| {
                                        if on {
                                            s.insert(id);
                                        } else {
                                            s.remove(&id);
                                        }
                                    });
                                }
                            />
                            " "
                            {lib.name}
                        </label>
                    }
                })
                .collect_view()}
        </div>
    }
    .into_any()
}

/// The mark shown beside a check's status (PASS, FAIL, WARN, SKIP) in Test Connection and Try
/// Sign-in.
pub fn check_icon(status: &str) -> &'static str {
    match status {
        "PASS" => "✓",
        "FAIL" => "✗",
        "WARN" => "!",
        _ => "–",
    }
}
