use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="auth-page">
            <div class="card auth-card">
                <h1>"Page not found"</h1>
                <p><a href="/">"Go to your libraries"</a></p>
            </div>
        </main>
    }
}
