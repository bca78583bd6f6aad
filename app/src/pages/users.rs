use crate::api::grants::sign_out_everywhere;
use crate::api::users::{create_user, delete_user, unlink_user, update_user};
use crate::components::{
    confirm, FieldMessage, GrantList, GrantOwner, Layout, LibraryChecks, PermissionChecks, Status,
    StatusLine,
};
use crate::domain::{
    CreateUserRequest, FieldError, GrantDto, LibraryDto, PageContext, UpdateUserRequest, UserDto,
    UsersData, PERMISSIONS,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// `/admin/users`: every user, and creating, editing, unlinking and deleting them.
#[component]
pub fn Users(data: UsersData) -> impl IntoView {
    view! {
        <Layout>
            <UsersPanel data/>
        </Layout>
    }
}

/// Which form is open: none, the create form, or the edit form of one user.
#[derive(Debug, Clone, PartialEq)]
enum Editing {
    Nobody,
    New,
    User(i64),
}

#[component]
fn UsersPanel(data: UsersData) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let me = ctx.user.as_ref().map(|u| u.id);
    let users = RwSignal::new(data.users);
    let libraries = data.libraries;
    let all_grants = data.grants;
    let editing = RwSignal::new(Editing::Nobody);
    let status = RwSignal::new(None::<Status>);

    let saved = Callback::new(move |user: UserDto| {
        users.update(|list| match list.iter_mut().find(|u| u.id == user.id) {
            Some(existing) => *existing = user.clone(),
            None => list.push(user.clone()),
        });
        status.set(Some(Status::Ok(format!("Saved {}.", user.username))));
        editing.set(Editing::Nobody);
    });
    let cancel = Callback::new(move |()| editing.set(Editing::Nobody));

    let unlink = move |user: UserDto| {
        if !confirm(&format!("Unlink the OIDC identity of {}?", user.username)) {
            return;
        }
        leptos::task::spawn_local(async move {
            match unlink_user(user.id).await {
                Ok(updated) => saved.run(updated),
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };
    let delete = move |user: UserDto| {
        if !confirm(&format!(
            "Delete the user {}? This cannot be undone.",
            user.username
        )) {
            return;
        }
        leptos::task::spawn_local(async move {
            match delete_user(user.id).await {
                Ok(_) => {
                    users.update(|list| list.retain(|u| u.id != user.id));
                    status.set(Some(Status::Ok(format!("Deleted {}.", user.username))));
                }
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };

    let libraries_for_form = libraries.clone();
    view! {
        <div class="page-head">
            <h1>"Users"</h1>
            <button
                class="primary"
                on:click=move |_| {
                    status.set(None);
                    editing.set(Editing::New);
                }
            >
                "Create User"
            </button>
        </div>
        <StatusLine status/>
        {move || {
            let libraries = libraries_for_form.clone();
            match editing.get() {
                Editing::Nobody => None,
                Editing::New => Some(view! { <UserForm user=None libraries saved cancel/> }.into_any()),
                Editing::User(id) => users
                    .with_untracked(|list| list.iter().find(|u| u.id == id).cloned())
                    .map(|user| {
                        let grants = all_grants
                            .iter()
                            .find(|g| g.user_id == id)
                            .map(|g| g.grants.clone())
                            .unwrap_or_default();
                        let username = user.username.clone();
                        view! {
                            <UserForm user=Some(user) libraries saved cancel/>
                            <UserGrants user_id=id username grants/>
                        }
                        .into_any()
                    }),
            }
        }}
        <div class="card table-wrap">
            <table class="table" data-testid="users-table">
                <thead>
                    <tr>
                        <th>"Username"</th>
                        <th>"Display Name"</th>
                        <th>"Email"</th>
                        <th>"Sign-in"</th>
                        <th>"Linked Identity"</th>
                        <th>"Admin"</th>
                        <th><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || users.get() key=|u| format!("{:?}", u) let:user>
                        {
                            let (for_edit, for_unlink, for_delete) = (user.id, user.clone(), user.clone());
                            let linked = user.oidc_link.is_some();
                            view! {
                                <tr data-username=user.username.clone()>
                                    <td data-label="Username">{user.username.clone()}</td>
                                    <td data-label="Display Name">{user.name.clone()}</td>
                                    <td data-label="Email">{user.email.clone().unwrap_or_default()}</td>
                                    <td data-label="Sign-in">
                                        {if linked {
                                            view! { <span class="badge badge-oidc">"OIDC"</span> }.into_any()
                                        } else {
                                            view! { <span class="badge">"LOCAL"</span> }.into_any()
                                        }}
                                    </td>
                                    <td class="mono" data-label="Linked Identity">
                                        {user.oidc_link.clone().map(|l| format!("{} · {}", l.issuer, l.subject))}
                                    </td>
                                    <td data-label="Admin">{if user.is_admin { "Yes" } else { "No" }}</td>
                                    <td class="actions">
                                        <button
                                            class="link-button"
                                            on:click=move |_| {
                                                status.set(None);
                                                editing.set(Editing::User(for_edit));
                                            }
                                        >
                                            "Edit"
                                        </button>
                                        {linked.then(|| view! {
                                            <button class="link-button" on:click=move |_| unlink(for_unlink.clone())>"Unlink"</button>
                                        })}
                                        {(Some(user.id) != me).then(|| view! {
                                            <button class="link-button danger" on:click=move |_| delete(for_delete.clone())>"Delete"</button>
                                        })}
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

/// Creates a user (`user` is `None`) or edits one.
#[component]
fn UserForm(
    user: Option<UserDto>,
    libraries: Vec<LibraryDto>,
    saved: Callback<UserDto>,
    cancel: Callback<()>,
) -> impl IntoView {
    let editing_id = user.as_ref().map(|u| u.id);
    let username = RwSignal::new(
        user.as_ref()
            .map(|u| u.username.clone())
            .unwrap_or_default(),
    );
    let name = RwSignal::new(user.as_ref().map(|u| u.name.clone()).unwrap_or_default());
    let email = RwSignal::new(
        user.as_ref()
            .and_then(|u| u.email.clone())
            .unwrap_or_default(),
    );
    let password = RwSignal::new(String::new());
    let remove_password = RwSignal::new(false);
    let has_password = user.as_ref().is_some_and(|u| u.has_password);
    let is_admin = RwSignal::new(user.as_ref().is_some_and(|u| u.is_admin));
    // An admin's permissions and libraries shown by the API are the implicit "all"; when the
    // admin flag is taken away, the choice starts empty rather than from that view.
    let shown = user.as_ref().filter(|u| !u.is_admin);
    let permissions: RwSignal<BTreeSet<String>> = RwSignal::new(
        shown
            .map(|u| {
                u.permissions
                    .iter()
                    .filter(|(_, on)| **on)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default(),
    );
    let chosen: RwSignal<BTreeSet<i64>> = RwSignal::new(
        shown
            .map(|u| u.library_ids.iter().copied().collect())
            .unwrap_or_default(),
    );
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let status = RwSignal::new(None::<Status>);
    let pending = RwSignal::new(false);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        pending.set(true);
        let name = Some(name.get_untracked());
        let email = email.get_untracked();
        let is_admin = Some(is_admin.get_untracked());
        let permissions = Some(
            PERMISSIONS
                .iter()
                .map(|p| {
                    let on = permissions.with_untracked(|set| set.contains(p.key));
                    (p.key.to_owned(), on)
                })
                .collect::<BTreeMap<_, _>>(),
        );
        let library_ids = Some(chosen.get_untracked().into_iter().collect::<Vec<_>>());
        // `None` removes the password; an empty one keeps it (editing) or makes none (new).
        let password = (!remove_password.get_untracked()).then(|| password.get_untracked());
        let username = username.get_untracked();
        leptos::task::spawn_local(async move {
            let answer = match editing_id {
                Some(id) => {
                    let changes = UpdateUserRequest {
                        email: Some(Some(email)),
                        name,
                        is_admin,
                        permissions,
                        library_ids,
                        password: Some(password),
                    };
                    update_user(id, changes).await
                }
                None => {
                    let user = CreateUserRequest {
                        username: Some(username),
                        email: Some(email),
                        name,
                        password,
                        is_admin,
                        permissions,
                        library_ids,
                    };
                    create_user(user).await
                }
            };
            match answer {
                Ok(user) => saved.run(user),
                Err(e) => {
                    status.set(e.errors.is_empty().then(|| Status::from_error(&e)));
                    errors.set(e.errors);
                }
            }
            pending.set(false);
        });
    };

    let title = if editing_id.is_some() {
        "Edit User"
    } else {
        "Create User"
    };
    view! {
        <section class="card" data-testid="user-form">
            <h2>{title}</h2>
            <StatusLine status/>
            <form on:submit=on_submit class="grid-form">
                {editing_id.is_none().then(|| view! {
                    <label>"Username" <input name="username" required bind:value=username/></label>
                    <FieldMessage errors field="username"/>
                })}
                <label>"Display Name" <input name="name" bind:value=name/></label>
                <FieldMessage errors field="name"/>
                <label>"Email" <input name="email" type="email" bind:value=email/></label>
                <FieldMessage errors field="email"/>
                <label>
                    {if editing_id.is_some() { "New Password (leave empty to keep)" } else { "Password (leave empty for OIDC-only sign-in)" }}
                    <input name="password" type="password" autocomplete="new-password" bind:value=password/>
                </label>
                {has_password.then(|| view! {
                    <label class="check"><input type="checkbox" bind:checked=remove_password/>" Remove password (OIDC sign-in only)"</label>
                })}
                <FieldMessage errors field="password"/>
                <label class="check"><input type="checkbox" name="isAdmin" bind:checked=is_admin/>" Admin (every permission and library)"</label>
                <p class="muted" class:hidden=move || !is_admin.get()>
                    "Admins have every permission and see every library."
                </p>
                <fieldset class:hidden=move || is_admin.get()>
                    <legend>"Permissions"</legend>
                    <PermissionChecks chosen=permissions/>
                    <FieldMessage errors field="permissions"/>
                </fieldset>
                <fieldset class:hidden=move || is_admin.get()>
                    <legend>"Library Access"</legend>
                    <LibraryChecks libraries chosen/>
                    <FieldMessage errors field="libraryIds"/>
                </fieldset>
                <div class="buttons">
                    <button type="submit" class="primary" disabled=move || pending.get()>"Save"</button>
                    <button type="button" on:click=move |_| cancel.run(())>"Cancel"</button>
                </div>
            </form>
        </section>
    }
}

/// A user's app grants with "Revoke", and "Sign out everywhere" (spec section 11.4).
#[component]
fn UserGrants(user_id: i64, username: String, grants: Vec<GrantDto>) -> impl IntoView {
    let grants = RwSignal::new(grants);
    let status = RwSignal::new(None::<Status>);
    let everywhere = move |_| {
        if !confirm(&format!(
            "Sign {username} out everywhere? Every session, device and app of theirs ends."
        )) {
            return;
        }
        let username = username.clone();
        leptos::task::spawn_local(async move {
            match sign_out_everywhere(user_id).await {
                Ok(_) => {
                    grants.set(Vec::new());
                    status.set(Some(Status::Ok(format!(
                        "{username} was signed out everywhere."
                    ))));
                }
                Err(e) => status.set(Some(Status::from_error(&e))),
            }
        });
    };
    view! {
        <section class="card" data-testid="user-grants">
            <h2>"Devices and apps"</h2>
            <StatusLine status/>
            <GrantList grants owner=GrantOwner::User(user_id) status/>
            <div class="buttons">
                <button type="button" class="danger" on:click=everywhere>"Sign out everywhere"</button>
            </div>
        </section>
    }
}
