//! A chip input: a list of short values typed one at a time.

use leptos::ev::KeyboardEvent;
use leptos::prelude::*;

/// Values typed one at a time into `values`: Enter or a comma adds what is typed (leaving
/// the input blurred adds it too, so nothing typed is lost on Save), Backspace in an empty
/// input removes the last, and each chip has its own remove button.
#[component]
pub fn ChipInput(
    label: &'static str,
    /// The input's id and name.
    id: &'static str,
    values: RwSignal<Vec<String>>,
    #[prop(optional)] placeholder: &'static str,
    /// The id of the hint that describes the input.
    #[prop(optional)]
    described_by: &'static str,
) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let add = move || {
        let new: Vec<String> = typed
            .get_untracked()
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        typed.set(String::new());
        values.update(|list| {
            for v in new {
                if !list.contains(&v) {
                    list.push(v);
                }
            }
        });
    };
    let on_key = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Enter" | "," => {
            // Enter would submit the form; the comma is a separator, never part of a value.
            ev.prevent_default();
            add();
        }
        "Backspace" if typed.with_untracked(String::is_empty) => {
            values.update(|list| {
                list.pop();
            });
        }
        _ => {}
    };
    view! {
        <div class="chips-field">
            <label for=id>{label}</label>
            <ul class="chips" aria-label=format!("{label} added")>
                {move || {
                    values
                        .get()
                        .into_iter()
                        .map(|v| {
                            let gone = v.clone();
                            view! {
                                <li class="chip">
                                    <span class="mono">{v.clone()}</span>
                                    <button
                                        type="button"
                                        class="chip-remove"
                                        aria-label=format!("Remove {v}")
                                        on:click=move |_| values.update(|list| list.retain(|x| *x != gone))
                                    >
                                        "×"
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <input
                id=id
                name=id
                autocomplete="off"
                placeholder=placeholder
                aria-describedby=(!described_by.is_empty()).then_some(described_by)
                bind:value=typed
                on:keydown=on_key
                on:blur=move |_| add()
            />
        </div>
    }
}
