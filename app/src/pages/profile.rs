use crate::api::{self, paths};
use crate::components::{
    confirm, copy_to_clipboard, navigate, FieldMessage, GrantList, GrantOwner, Layout, Status,
    StatusLine,
};
use crate::domain::{
    AppPasswordCreated, AppPasswordDraft, AppPasswordRequest, ChangePasswordRequest, FieldError,
    GrantDto, PageContext, ProfileData,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// `/profile`: the signed-in user's own details and password.
#[component]
pub fn Profile(data: ProfileData) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let oidc_enabled = data.oidc_enabled;
    let ProfileData {
        grants,
        app_password_draft: draft,
        ..
    } = data;
    let body = ctx.user.map(|user| {
        let linked = user.oidc_link.is_some();
        let link_status = RwSignal::new(None::<Status>);
        let unlink = move |_| {
            if !confirm("Unlink your OIDC identity? You will sign in with your password only.") {
                return;
            }
            leptos::task::spawn_local(async move {
                match api::auth::unlink_own_identity().await {
                    Ok(_) => navigate("/profile"),
                    Err(e) => link_status.set(Some(Status::from_error(&e))),
                }
            });
        };
        let current = RwSignal::new(String::new());
        let new = RwSignal::new(String::new());
        let errors = RwSignal::new(Vec::<FieldError>::new());
        let status = RwSignal::new(None::<Status>);
        let change = move |ev: SubmitEvent| {
            ev.prevent_default();
            let change = ChangePasswordRequest {
                current_password: Some(current.get_untracked()),
                new_password: Some(new.get_untracked()),
            };
            leptos::task::spawn_local(async move {
                match api::auth::change_password(change).await {
                    Ok(_) => {
                        errors.set(Vec::new());
                        current.set(String::new());
                        new.set(String::new());
                        status.set(Some(Status::Ok("Password changed. Your other sessions were signed out.".to_owned())));
                    }
                    Err(e) => {
                        status.set(e.errors.is_empty().then(|| Status::from_error(&e)));
                        errors.set(e.errors);
                    }
                }
            });
        };
        view! {
            <div class="page-head"><h1>"Profile"</h1></div>
            <section class="card">
                <dl class="facts">
                    <dt>"Username"</dt><dd>{user.username.clone()}</dd>
                    <dt>"Display Name"</dt><dd>{user.name.clone()}</dd>
                    <dt>"Email"</dt><dd>{user.email.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                    <dt>"Role"</dt><dd>{if user.is_admin { "Admin" } else { "User" }}</dd>
                </dl>
            </section>
            <section class="card">
                <h2>"Single Sign-On"</h2>
                {match user.oidc_link.clone() {
                    Some(link) => view! {
                        <p data-testid="oidc-link">"Linked to " <span class="mono">{link.issuer}</span> " as " <span class="mono">{link.subject}</span></p>
                        <button type="button" on:click=unlink>"Unlink"</button>
                    }.into_any(),
                    None => view! {
                        <p class="muted" data-testid="oidc-link">"Not linked to an OIDC identity."</p>
                        {oidc_enabled.then(|| view! {
                            <form method="post" action=paths::LINK_OIDC_ACCOUNT>
                                <button type="submit">"Link OIDC account"</button>
                            </form>
                        })}
                    }.into_any(),
                }}
                <StatusLine status=link_status/>
            </section>
            <DevicesAndApps grants draft linked/>
            {user.has_password.then(|| view! {
                <section class="card">
                    <h2>"Change Password"</h2>
                    <StatusLine status/>
                    <form on:submit=change class="grid-form">
                        <label>"Current Password" <input type="password" autocomplete="current-password" bind:value=current/></label>
                        <FieldMessage errors field="currentPassword"/>
                        <label>"New Password" <input type="password" autocomplete="new-password" bind:value=new/></label>
                        <FieldMessage errors field="newPassword"/>
                        <div class="buttons"><button type="submit" class="primary">"Change Password"</button></div>
                    </form>
                </section>
            })}
        }
    });
    view! { <Layout>{body}</Layout> }
}

/// "Devices and apps": the user's grants, connecting a device, and app passwords (spec
/// section 11.4). A user with a linked identity approves through the provider first: the
/// server answers with the provider's URL, and the round trip comes back here with the form
/// filled in again (`draft`).
#[component]
fn DevicesAndApps(
    grants: Vec<GrantDto>,
    draft: Option<AppPasswordDraft>,
    /// The user has a linked identity: no password to type, the provider confirms.
    linked: bool,
) -> impl IntoView {
    let grants = RwSignal::new(grants);
    let status = RwSignal::new(None::<Status>);
    let returned = draft.is_some();
    let (name, scope) = match draft {
        Some(d) => (d.name, d.scope),
        None => (String::new(), "full".to_owned()),
    };
    let name = RwSignal::new(name);
    let scope = RwSignal::new(scope);
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let form_status = RwSignal::new(returned.then(|| {
        Status::Ok("Confirmed with your provider. Create the app password to finish.".to_owned())
    }));
    let created = RwSignal::new(None::<AppPasswordCreated>);
    let pending = RwSignal::new(false);
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let request = AppPasswordRequest {
            name: Some(name.get_untracked()),
            scope: Some(scope.get_untracked()),
            password: (!linked).then(|| password.get_untracked()),
        };
        pending.set(true);
        leptos::task::spawn_local(async move {
            match api::grants::create_app_password(request).await {
                Ok(answer) => {
                    grants.update(|list| list.insert(0, answer.grant.clone()));
                    created.set(Some(answer));
                    name.set(String::new());
                    password.set(String::new());
                    errors.set(Vec::new());
                    form_status.set(None);
                }
                // The provider confirms first; this page comes back with the form filled in.
                Err(e) if e.url.is_some() => navigate(e.url.as_deref().unwrap_or("/profile")),
                Err(e) => {
                    form_status.set(e.errors.is_empty().then(|| Status::from_error(&e)));
                    errors.set(e.errors);
                }
            }
            pending.set(false);
        });
    };
    view! {
        <section class="card" data-testid="devices-and-apps">
            <h2>"Devices and apps"</h2>
            <StatusLine status/>
            <GrantList grants owner=GrantOwner::Me status/>
            <p><a class="button" href="/device" rel="external">"Connect a device"</a></p>
            <h3>"Create app password"</h3>
            <p class="hint">"For apps that sign in with a username and password, such as OPDS readers."</p>
            <StatusLine status=form_status/>
            <form on:submit=create class="grid-form" data-testid="app-password-form">
                <label>"Name" <input name="appPasswordName" maxlength="64" required placeholder="KOReader OPDS" bind:value=name/></label>
                <FieldMessage errors field="name"/>
                <label>
                    "Scope"
                    <select name="appPasswordScope" bind:value=scope>
                        <option value="full">"Full access"</option>
                        <option value="read">"Read only"</option>
                    </select>
                </label>
                <FieldMessage errors field="scope"/>
                {(!linked).then(|| view! {
                    <label>"Your password" <input name="currentPassword" type="password" autocomplete="current-password" bind:value=password/></label>
                    <FieldMessage errors field="password"/>
                })}
                <div class="buttons"><button type="submit" class="primary" disabled=move || pending.get()>"Create app password"</button></div>
            </form>
            {move || created.get().map(|answer| {
                let secret = answer.password.clone();
                view! {
                    <div class="secret" role="status" data-testid="new-app-password">
                        <p>{format!("The app password for {}:", answer.grant.name)}</p>
                        <p class="secret-value">
                            <code class="mono" data-testid="app-password">{answer.password.clone()}</code>
                            <button type="button" on:click=move |_| copy_to_clipboard(&secret)>"Copy"</button>
                        </p>
                        <p><strong>"You won't see it again."</strong>" Use it with your username in the app."</p>
                        <button type="button" on:click=move |_| created.set(None)>"Done"</button>
                    </div>
                }
            })}
        </section>
    }
}
