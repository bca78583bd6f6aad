mod audit;
mod dashboard;
mod device;
mod group_mappings;
mod libraries;
mod login;
mod not_found;
mod oidc_settings;
mod profile;
mod setup;
mod try_sign_in;
mod users;

pub use not_found::NotFound;

use crate::components::{Forbidden, Layout};
use crate::domain::{PageContext, PageData};
use leptos::prelude::*;

/// The page whose data the server loaded for this request (`crate::page` has the table).
#[component]
pub fn Loaded() -> impl IntoView {
    match expect_context::<PageContext>().data {
        PageData::Dashboard(data) => view! { <dashboard::Dashboard data/> }.into_any(),
        PageData::Login(data) => view! { <login::Login data/> }.into_any(),
        PageData::Setup(data) => view! { <setup::Setup data/> }.into_any(),
        PageData::Profile(data) => view! { <profile::Profile data/> }.into_any(),
        PageData::Users(data) => view! { <users::Users data/> }.into_any(),
        PageData::Libraries(data) => view! { <libraries::Libraries data/> }.into_any(),
        PageData::Audit(data) => view! { <audit::Audit data/> }.into_any(),
        PageData::Device(data) => view! { <device::Device data/> }.into_any(),
        PageData::OidcSettings(data) => {
            view! { <oidc_settings::OidcSettings data=*data/> }.into_any()
        }
        PageData::TrySignIn(report) => {
            view! { <try_sign_in::TrySignIn report=*report/> }.into_any()
        }
        PageData::Forbidden => view! { <Layout><Forbidden/></Layout> }.into_any(),
        PageData::NotFound => view! { <NotFound/> }.into_any(),
    }
}
