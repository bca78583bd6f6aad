use crate::api::libraries::{create_library, delete_library, rename_library};
use crate::components::{confirm, FieldMessage, Layout, Status, StatusLine};
use crate::domain::{FieldError, LibrariesData, LibraryDto, LibraryRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// `/admin/libraries`: create, rename and delete libraries.
#[component]
pub fn Libraries(data: LibrariesData) -> impl IntoView {
    view! {
        <Layout>
            <LibrariesPanel data/>
        </Layout>
    }
}

#[component]
fn LibrariesPanel(data: LibrariesData) -> impl IntoView {
    let libraries = RwSignal::new(data.libraries);
    let status = RwSignal::new(None::<Status>);
    let new_name = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let library = LibraryRequest {
            name: Some(new_name.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            match create_library(library).await {
                Ok(lib) => {
                    status.set(Some(Status::Ok(format!("Created {}.", lib.name))));
                    libraries.update(|l| l.push(lib));
                    new_name.set(String::new());
                    errors.set(Vec::new());
                }
                Err(e) => {
                    status.set(e.errors.is_empty().then(|| Status::from_error(&e)));
                    errors.set(e.errors);
                }
            }
        });
    };

    view! {
        <div class="page-head"><h1>"Libraries"</h1></div>
        <StatusLine status/>
        <section class="card">
            <h2>"New Library"</h2>
            <form on:submit=create class="inline-form">
                <label>"Name" <input name="name" required bind:value=new_name/></label>
                <button type="submit" class="primary">"Create Library"</button>
            </form>
            <FieldMessage errors field="name"/>
        </section>
        <section class="card">
            <ul class="rows" data-testid="libraries">
                <For each=move || libraries.get() key=|l| (l.id, l.name.clone()) let:lib>
                    <LibraryRow lib libraries status/>
                </For>
            </ul>
            {move || libraries.with(Vec::is_empty).then(|| view! { <p class="muted">"No libraries yet."</p> })}
        </section>
    }
}

#[component]
fn LibraryRow(
    lib: LibraryDto,
    libraries: RwSignal<Vec<LibraryDto>>,
    status: RwSignal<Option<Status>>,
) -> impl IntoView {
    let id = lib.id;
    let name = RwSignal::new(lib.name.clone());
    let rename = move |ev: SubmitEvent| {
        ev.prevent_default();
        let library = LibraryRequest {
            name: Some(name.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            match rename_library(id, library).await {
                Ok(updated) => {
                    status.set(Some(Status::Ok(format!("Renamed to {}.", updated.name))));
                    libraries.update(|l| {
                        if let Some(x) = l.iter_mut().find(|x| x.id == id) {
                            *x = updated;
                        }
                    });
                }
                Err(e) => status.set(Some(Status::Failed(
                    e.errors
                        .first()
                        .map(|f| f.message.clone())
                        .unwrap_or(e.message),
                ))),
            }
        });
    };
    let original = lib.name.clone();
    let delete = move |_| {
        if !confirm(&format!(
            "Delete the library {original}? Users lose access to it."
        )) {
            return;
        }
        let original = original.clone();
        leptos::task::spawn_local(async move {
            match delete_library(id).await {
                Ok(_) => {
                    status.set(Some(Status::Ok(format!("Deleted {original}."))));
                    libraries.update(|l| l.retain(|x| x.id != id));
                }
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };
    view! {
        <li class="row" data-library=lib.name.clone()>
            <form on:submit=rename class="inline-form">
                <input aria-label="Library name" bind:value=name/>
                <button type="submit">"Rename"</button>
                <button type="button" class="danger" on:click=delete>"Delete"</button>
            </form>
        </li>
    }
}
