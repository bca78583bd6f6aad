use crate::api::{self, paths};
use crate::components::{confirm, navigate, FieldMessage, Layout, Status, StatusLine};
use crate::domain::{ChangePasswordRequest, FieldError, PageContext, ProfileData};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// `/profile`: the signed-in user's own details and password.
#[component]
pub fn Profile(data: ProfileData) -> impl IntoView {
    let ctx = expect_context::<PageContext>();
    let oidc_enabled = data.oidc_enabled;
    let body = ctx.user.map(|user| {
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
