//! The Group Mapping card of the OIDC Settings page.

use crate::api::group_mappings::{
    create_group_mapping, delete_group_mapping, update_group_mapping,
};
use crate::api::oidc_settings::save_oidc_settings;
use crate::components::{confirm, FieldMessage, LibraryChecks, PermissionChecks, Status};
use crate::domain::{
    FieldError, GroupMappingDto, LibraryDto, MappingRequest, OidcSettingsDto, SettingsPatch,
    GROUP_SYNC_MODES, PERMISSIONS,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq)]
enum Dialog {
    Closed,
    New,
    Edit(GroupMappingDto),
}

#[component]
pub fn GroupMappingCard(
    saved: RwSignal<OidcSettingsDto>,
    status: RwSignal<Option<Status>>,
    mappings: Vec<GroupMappingDto>,
    libraries: Vec<LibraryDto>,
) -> impl IntoView {
    let mappings = RwSignal::new(mappings);
    let dialog = RwSignal::new(Dialog::Closed);
    let library_names = libraries.clone();
    let set_mode = move |mode: String| {
        let patch = SettingsPatch {
            group_sync_mode: Some(mode),
            ..SettingsPatch::default()
        };
        leptos::task::spawn_local(async move {
            match save_oidc_settings(patch).await {
                Ok(s) => {
                    saved.set(s);
                    status.set(Some(Status::Ok("Group sync mode saved.".to_owned())));
                }
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };
    let delete = move |m: GroupMappingDto| {
        if !confirm(&format!("Delete the mapping for {}?", m.group_claim)) {
            return;
        }
        leptos::task::spawn_local(async move {
            match delete_group_mapping(m.id).await {
                Ok(_) => {
                    mappings.update(|l| l.retain(|x| x.id != m.id));
                    status.set(Some(Status::Ok(format!(
                        "Deleted the mapping for {}.",
                        m.group_claim
                    ))));
                }
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };
    let add_button = NodeRef::<leptos::html::Button>::new();
    // Closing the form hands focus back to "Add Mapping", so keyboard users are not left at
    // the top of the page.
    let close = move || {
        dialog.set(Dialog::Closed);
        if let Some(button) = add_button.get_untracked() {
            let _ = button.focus();
        }
    };
    let on_saved = Callback::new(move |m: GroupMappingDto| {
        mappings.update(|l| match l.iter_mut().find(|x| x.id == m.id) {
            Some(x) => *x = m.clone(),
            None => l.push(m.clone()),
        });
        status.set(Some(Status::Ok(format!(
            "Saved the mapping for {}.",
            m.group_claim
        ))));
        close();
    });
    let on_cancel = Callback::new(move |()| close());
    view! {
        <section class="card">
            <div class="page-head">
                <h2>"Group Mapping"</h2>
                <button class="primary" node_ref=add_button on:click=move |_| dialog.set(Dialog::New)>
                    "Add Mapping"
                </button>
            </div>
            <label>
                "Group Sync Mode"
                <select name="groupSyncMode" on:change:target=move |ev| set_mode(ev.target().value())>
                    {GROUP_SYNC_MODES
                        .iter()
                        .map(|(value, label)| {
                            let value = *value;
                            view! { <option value=value selected=move || saved.with(|s| s.group_sync_mode == value)>{*label}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <p class="hint">
                "Replace sets admin, permissions and libraries to exactly what the user's groups give at each sign-in; Additive only adds."
            </p>
            {move || {
                let libraries = libraries.clone();
                match dialog.get() {
                    Dialog::Closed => None,
                    Dialog::New => Some(view! { <MappingForm mapping=None libraries on_saved on_cancel/> }.into_any()),
                    Dialog::Edit(m) => Some(view! { <MappingForm mapping=Some(m) libraries on_saved on_cancel/> }.into_any()),
                }
            }}
            <table class="table" data-testid="group-mappings">
                <thead>
                    <tr><th>"Group Claim"</th><th>"Description"</th><th>"Admin"</th><th>"Permissions"</th><th>"Libraries"</th><th><span class="visually-hidden">"Actions"</span></th></tr>
                </thead>
                <tbody>
                    <For each=move || mappings.get() key=|m| format!("{m:?}") let:m>
                        {
                            let (for_edit, for_delete) = (m.clone(), m.clone());
                            let libs: Vec<String> = m
                                .library_ids
                                .iter()
                                .filter_map(|id| library_names.iter().find(|l| l.id == *id).map(|l| l.name.clone()))
                                .collect();
                            let perms: Vec<&str> = PERMISSIONS.iter().filter(|p| m.permissions.iter().any(|k| k == p.key)).map(|p| p.label).collect();
                            view! {
                                <tr data-group=m.group_claim.clone()>
                                    <td class="mono" data-label="Group Claim">{m.group_claim.clone()}</td>
                                    <td data-label="Description">{m.description.clone()}</td>
                                    <td data-label="Admin">{if m.is_admin { "Yes" } else { "No" }}</td>
                                    <td data-label="Permissions">{perms.join(", ")}</td>
                                    <td data-label="Libraries">{libs.join(", ")}</td>
                                    <td class="actions">
                                        <button class="link-button" on:click=move |_| dialog.set(Dialog::Edit(for_edit.clone()))>"Edit"</button>
                                        <button class="link-button danger" on:click=move |_| delete(for_delete.clone())>"Delete"</button>
                                    </td>
                                </tr>
                            }
                        }
                    </For>
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn MappingForm(
    mapping: Option<GroupMappingDto>,
    libraries: Vec<LibraryDto>,
    on_saved: Callback<GroupMappingDto>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let id = mapping.as_ref().map(|m| m.id);
    let claim = RwSignal::new(
        mapping
            .as_ref()
            .map(|m| m.group_claim.clone())
            .unwrap_or_default(),
    );
    let description = RwSignal::new(
        mapping
            .as_ref()
            .map(|m| m.description.clone())
            .unwrap_or_default(),
    );
    let is_admin = RwSignal::new(mapping.as_ref().is_some_and(|m| m.is_admin));
    let permissions: RwSignal<BTreeSet<String>> = RwSignal::new(
        mapping
            .as_ref()
            .map(|m| m.permissions.iter().cloned().collect())
            .unwrap_or_default(),
    );
    let chosen: RwSignal<BTreeSet<i64>> = RwSignal::new(
        mapping
            .as_ref()
            .map(|m| m.library_ids.iter().copied().collect())
            .unwrap_or_default(),
    );
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let message = RwSignal::new(None::<String>);
    // Opening the form moves focus into it, so keyboard and screen-reader users start on its
    // first field instead of somewhere behind it.
    let first_field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move || {
        if let Some(input) = first_field.get() {
            let _ = input.focus();
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let mapping = MappingRequest {
            group_claim: Some(claim.get_untracked()),
            description: Some(description.get_untracked()),
            is_admin: Some(is_admin.get_untracked()),
            permissions: Some(permissions.get_untracked().into_iter().collect()),
            library_ids: Some(chosen.get_untracked().into_iter().collect()),
        };
        leptos::task::spawn_local(async move {
            let answer = match id {
                Some(id) => update_group_mapping(id, mapping).await,
                None => create_group_mapping(mapping).await,
            };
            match answer {
                Ok(m) => on_saved.run(m),
                Err(e) => {
                    message.set(e.errors.is_empty().then_some(e.message));
                    errors.set(e.errors);
                }
            }
        });
    };
    view! {
        <div
            class="dialog"
            role="dialog"
            aria-labelledby="mapping-dialog-title"
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    on_cancel.run(());
                }
            }
        >
            <h3 id="mapping-dialog-title">{if id.is_some() { "Edit Mapping" } else { "Add Mapping" }}</h3>
            {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <form on:submit=on_submit class="grid-form">
                <label>"Group Claim Value" <input name="groupClaim" placeholder="grimmory-users" node_ref=first_field bind:value=claim/></label>
                <FieldMessage errors field="groupClaim"/>
                <label>"Description" <input name="description" bind:value=description/></label>
                <FieldMessage errors field="description"/>
                <label class="check"><input type="checkbox" name="isAdmin" bind:checked=is_admin/>" Grant Admin"</label>
                <fieldset>
                    <legend>"Permissions"</legend>
                    <PermissionChecks chosen=permissions/>
                    <FieldMessage errors field="permissions"/>
                </fieldset>
                <fieldset>
                    <legend>"Library Access"</legend>
                    <LibraryChecks libraries chosen/>
                    <FieldMessage errors field="libraryIds"/>
                </fieldset>
                <div class="buttons">
                    <button type="submit" class="primary">"Save Mapping"</button>
                    <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                </div>
            </form>
        </div>
    }
}
