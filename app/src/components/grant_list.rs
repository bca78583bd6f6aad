//! A user's app grants (spec section 11.4): on `/profile` the user's own (renamed and
//! revoked there), on the admin's user page someone's (revoked there).

use super::{confirm, Status};
use crate::api::grants::{rename_grant, revoke_grant, revoke_user_grant};
use crate::domain::{FieldError, GrantDto, RenameGrantRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// Whose grants a list shows, which decides what may be done with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantOwner {
    /// The signed-in user's own: rename and revoke.
    Me,
    /// Another user's, for an admin: revoke.
    User(i64),
}

/// What a grant's kind is called on the page.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "mobile" => "Mobile app",
        "device" => "Device",
        "app_password" => "App password",
        _ => "App",
    }
}

fn scope_label(scope: &str) -> &'static str {
    match scope {
        "full" => "Full access",
        _ => "Read only",
    }
}

/// An RFC 3339 time as the audit log shows it.
fn when(at: &str) -> String {
    at.replace('T', " ").replace('Z', " UTC")
}

#[component]
pub fn GrantList(
    grants: RwSignal<Vec<GrantDto>>,
    owner: GrantOwner,
    status: RwSignal<Option<Status>>,
) -> impl IntoView {
    let renaming = RwSignal::new(None::<i64>);
    let revoke = move |grant: GrantDto| {
        if !confirm(&format!(
            "Revoke \"{}\"? It will have to be connected again.",
            grant.name
        )) {
            return;
        }
        leptos::task::spawn_local(async move {
            let done = match owner {
                GrantOwner::Me => revoke_grant(grant.id).await,
                GrantOwner::User(user_id) => revoke_user_grant(user_id, grant.id).await,
            };
            match done {
                Ok(_) => {
                    grants.update(|list| list.retain(|g| g.id != grant.id));
                    status.set(Some(Status::Ok(format!("Revoked {}.", grant.name))));
                }
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };
    view! {
        {move || grants.with(Vec::is_empty).then(|| view! {
            <p class="muted" data-testid="no-grants">"No devices or apps are connected."</p>
        })}
        <div class="table-wrap" class:hidden=move || grants.with(Vec::is_empty)>
            <table class="table" data-testid="grants-table">
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Kind"</th>
                        <th>"Scope"</th>
                        <th>"Created"</th>
                        <th>"Last used"</th>
                        <th><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || grants.get() key=|g| format!("{g:?}") let:grant>
                        {
                            let (for_rename, for_revoke) = (grant.id, grant.clone());
                            let last_used = match (&grant.last_used_at, &grant.last_used_ip) {
                                (Some(at), Some(ip)) => format!("{} from {ip}", when(at)),
                                (Some(at), None) => when(at),
                                _ => "Never".to_owned(),
                            };
                            view! {
                                <tr data-grant=grant.name.clone()>
                                    <td data-label="Name">
                                        {move || if renaming.get() == Some(for_rename) {
                                            let grant = grants.with_untracked(|l| l.iter().find(|g| g.id == for_rename).cloned());
                                            grant.map(|g| view! { <RenameForm grant=g grants renaming status/> }.into_any())
                                        } else {
                                            grants.with(|l| l.iter().find(|g| g.id == for_rename).map(|g| g.name.clone()))
                                                .map(|name| view! { <span>{name}</span> }.into_any())
                                        }}
                                    </td>
                                    <td data-label="Kind">{kind_label(&grant.kind)}</td>
                                    <td data-label="Scope">{scope_label(&grant.scope)}</td>
                                    <td class="mono" data-label="Created">{when(&grant.created_at)}</td>
                                    <td class="mono" data-label="Last used">{last_used}</td>
                                    <td class="actions">
                                        {(owner == GrantOwner::Me).then(|| view! {
                                            <button
                                                type="button"
                                                class="link-button"
                                                aria-label=format!("Rename {}", grant.name)
                                                on:click=move |_| renaming.set(Some(for_rename))
                                            >
                                                "Rename"
                                            </button>
                                        })}
                                        <button
                                            type="button"
                                            class="link-button danger"
                                            aria-label=format!("Revoke {}", grant.name)
                                            on:click=move |_| revoke(for_revoke.clone())
                                        >
                                            "Revoke"
                                        </button>
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </div>
    }
}

/// Renames one of the user's own grants, in its row.
#[component]
fn RenameForm(
    grant: GrantDto,
    grants: RwSignal<Vec<GrantDto>>,
    renaming: RwSignal<Option<i64>>,
    status: RwSignal<Option<Status>>,
) -> impl IntoView {
    let name = RwSignal::new(grant.name.clone());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let id = grant.id;
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let change = RenameGrantRequest {
            name: Some(name.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            match rename_grant(id, change).await {
                Ok(renamed) => {
                    status.set(Some(Status::Ok(format!("Renamed to {}.", renamed.name))));
                    grants.update(|list| {
                        if let Some(g) = list.iter_mut().find(|g| g.id == id) {
                            *g = renamed;
                        }
                    });
                    renaming.set(None);
                }
                Err(e) => errors.set(if e.errors.is_empty() {
                    vec![FieldError {
                        field: "name".to_owned(),
                        message: e.message,
                    }]
                } else {
                    e.errors
                }),
            }
        });
    };
    view! {
        <form class="inline-form" on:submit=save>
            <label>
                {format!("New name for {}", grant.name)}
                <input name="grantName" maxlength="64" required bind:value=name/>
            </label>
            <div class="buttons">
                <button type="submit" class="primary">"Save"</button>
                <button type="button" on:click=move |_| renaming.set(None)>"Cancel"</button>
            </div>
            <super::FieldMessage errors field="name"/>
        </form>
    }
}
