//! The server's side of the UI's server functions (`app::api`). Each is mounted on its own
//! path and method beside the REST handlers, under the same middleware (client address, CSRF
//! guard, session). For each call the server builds a [`CallBackend`]: who is calling and
//! from where. It checks the caller's rights and calls the same services as the REST
//! handlers, so every operation has one logic whichever way it is reached.

use super::admin::Admin;
use crate::admin::{libraries, users, Actor};
use crate::auth::session::SessionToken;
use crate::auth::sign_in::dry_run;
use crate::auth::{local_login, logout, own_identity, own_password, setup};
use crate::db::User;
use crate::error::{AppError, AppResult};
use crate::grants::confirm::Approver;
use crate::grants::{self, app_passwords, device, revoke};
use crate::http::client::Client;
use crate::http::cookies;
use crate::http::session::{SessionCookie, SignedIn};
use crate::oidc_settings::{self as settings, group_mappings, test_connection};
use crate::AppState;
use app::api::{self, Backend, PathIds, Reply};
use app::domain::{
    AppPasswordCreated, AppPasswordRequest, ChangePasswordRequest, ConnectionTestResult,
    CreateUserRequest, DeviceApproval, DeviceApprovalRequest, Done, ErrorBody, GrantDto,
    GroupMappingDto, LibraryDto, LibraryRequest, LoginRequest, LogoutResponse, MappingRequest,
    OidcSettingsDto, RenameGrantRequest, SettingsPatch, SetupRequest, TrySignInStarted,
    UpdateUserRequest, UserDto,
};
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::{Extensions, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use leptos::prelude::{provide_context, Owner};
use leptos::reactive::computed::ScopedFuture;
use leptos::server_fn::axum::AxumServerFnBackend;
use leptos::server_fn::{Protocol, ServerFn};
use leptos_axum::{ResponseOptions, ResponseParts};
use std::future::Future;
use std::sync::{Arc, PoisonError};

/// Every server function, on its path and method.
pub fn router() -> Router<AppState> {
    Mounted::new()
        .mount::<api::auth::Login>()
        .mount::<api::auth::Setup>()
        .mount::<api::auth::Logout>()
        .mount::<api::auth::ChangePassword>()
        .mount::<api::auth::UnlinkOwnIdentity>()
        .mount::<api::users::CreateUser>()
        .mount::<api::users::UpdateUser>()
        .mount::<api::users::DeleteUser>()
        .mount::<api::users::UnlinkUser>()
        .mount::<api::libraries::CreateLibrary>()
        .mount::<api::libraries::RenameLibrary>()
        .mount::<api::libraries::DeleteLibrary>()
        .mount::<api::oidc_settings::SaveOidcSettings>()
        .mount::<api::oidc_settings::TestOidcConnection>()
        .mount::<api::oidc_settings::TryOidcSignIn>()
        .mount::<api::group_mappings::CreateGroupMapping>()
        .mount::<api::group_mappings::UpdateGroupMapping>()
        .mount::<api::group_mappings::DeleteGroupMapping>()
        .mount::<api::grants::RenameGrant>()
        .mount::<api::grants::RevokeGrant>()
        .mount::<api::grants::CreateAppPassword>()
        .mount::<api::grants::ApproveDevice>()
        .mount::<api::grants::RevokeUserGrant>()
        .mount::<api::grants::SignOutEverywhere>()
        .finish()
}

/// Server functions mounted so far.
struct Mounted {
    router: Router<AppState>,
    endpoints: Vec<(&'static str, Method)>,
}

impl Mounted {
    fn new() -> Self {
        Self {
            router: Router::new(),
            endpoints: Vec::new(),
        }
    }

    fn mount<F>(mut self) -> Self
    where
        F: ServerFn<Server = AxumServerFnBackend, Error = ErrorBody> + 'static,
    {
        let method = <F::Protocol as Protocol<
            F,
            F::Output,
            F::Client,
            F::Server,
            F::Error,
            F::InputStreamError,
            F::OutputStreamError,
        >>::METHOD;
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} {} cannot be routed", F::PATH));
        self.router = self.router.route(F::PATH, on(filter, serve::<F>));
        self.endpoints.push((F::PATH, method));
        self
    }

    /// The router. Leptos would mount a forgotten server function itself, without the backend
    /// it needs (`routes::pages` turns that off), so one missing here stops the start.
    fn finish(self) -> Router<AppState> {
        for (path, method) in leptos::server_fn::axum::server_fn_paths() {
            assert!(
                self.endpoints.contains(&(path, method.clone())),
                "server function {method} {path} is not mounted in routes::server_fns"
            );
        }
        self.router
    }
}

/// Runs the server function `F` for one request: in a Leptos owner with this call's
/// backend, the ids of the matched path and response options, whose status and headers
/// (cookies) then go on the answer.
async fn serve<F>(
    State(state): State<AppState>,
    ids: Result<RawPathParams, RawPathParamsRejection>,
    req: Request,
) -> Response
where
    F: ServerFn<Server = AxumServerFnBackend, Error = ErrorBody>,
{
    // Only a path that is not UTF-8 is refused here: it names nothing.
    let Ok(ids) = ids else {
        return AppError::NotFound("Not found.".to_owned()).into_response();
    };
    let ids = PathIds(
        ids.iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
    );
    let options = ResponseOptions::default();
    let backend: Arc<dyn Backend> = match CallBackend::new(state, &req, options.clone()) {
        Ok(backend) => Arc::new(backend),
        Err(e) => return e.into_response(),
    };
    let in_context = options.clone();
    let owner = Owner::new();
    let mut response = owner
        .with(|| {
            ScopedFuture::new(async move {
                provide_context(backend);
                provide_context(ids);
                provide_context(in_context);
                F::run_on_server(req).await
            })
        })
        .await;
    let ResponseParts { status, headers } =
        std::mem::take(&mut *options.0.write().unwrap_or_else(PoisonError::into_inner));
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response.headers_mut().extend(headers);
    response
}

/// The backend of one call: the caller (from the session middleware) and their address.
struct CallBackend {
    state: AppState,
    extensions: Extensions,
    client: Client,
    /// The hash of the session cookie the request carried, live or not.
    session: Option<String>,
    /// The known-device cookie the request carried.
    known_device: Option<String>,
    /// The per-browser id that owns pending sign-ins, when the browser has one.
    browser: Option<String>,
    response: ResponseOptions,
}

impl CallBackend {
    fn new(state: AppState, req: &Request, response: ResponseOptions) -> AppResult<Self> {
        let extensions = req.extensions();
        let client = extensions
            .get::<Client>()
            .cloned()
            .ok_or_else(|| AppError::internal("client middleware missing"))?;
        let session = extensions
            .get::<SessionCookie>()
            .and_then(|cookie| cookie.0.clone());
        let known_device =
            cookies::find(req.headers(), cookies::KNOWN_DEVICE, client.https).map(str::to_owned);
        Ok(Self {
            state,
            extensions: extensions.clone(),
            browser: super::oidc::browser_id(req.headers(), &client),
            client,
            session,
            known_device,
            response,
        })
    }

    /// The browser id, made and set as a cookie when the browser has none.
    fn browser_id(&self) -> AppResult<String> {
        if let Some(browser) = &self.browser {
            return Ok(browser.clone());
        }
        let browser = SessionToken::generate().as_cookie_value().to_owned();
        self.set_cookie(cookies::browser(&browser, self.https()))?;
        Ok(browser)
    }

    fn ip(&self) -> String {
        self.client.ip_string()
    }

    fn own_origin(&self) -> Option<&str> {
        self.client.own_origin.as_deref()
    }

    fn signed_in(&self) -> AppResult<User> {
        SignedIn::from_extensions(&self.extensions).map(|SignedIn { user }| user)
    }

    fn admin(&self) -> AppResult<User> {
        Admin::from_extensions(&self.extensions).map(|Admin(user)| user)
    }

    fn set_cookie(&self, cookie: String) -> AppResult<()> {
        let value = HeaderValue::from_str(&cookie).map_err(AppError::internal)?;
        self.response.append_header(SET_COOKIE, value);
        Ok(())
    }

    /// Who approves an app: the signed-in user, the browser id a provider round trip is
    /// bound to (set as a cookie when the browser has none), and the client's address.
    fn approver_parts(&self) -> AppResult<(User, String, String)> {
        Ok((self.signed_in()?, self.browser_id()?, self.ip()))
    }

    /// Whether the user reaches us over https (cookies are Secure and `__Host-` then).
    fn https(&self) -> bool {
        self.client.https
    }
}

/// A service's answer in the API's error shape (an internal error is logged with the
/// reference the body carries).
fn reply<'a, T: 'a>(work: impl Future<Output = AppResult<T>> + Send + 'a) -> Reply<'a, T> {
    Box::pin(async move { work.await.map_err(|e| e.body()) })
}

impl Backend for CallBackend {
    fn login(&self, credentials: LoginRequest) -> Reply<'_, UserDto> {
        reply(async move {
            let signed_in = local_login::sign_in(
                &self.state,
                credentials,
                self.session.as_deref(),
                &self.ip(),
                self.known_device.as_deref(),
            )
            .await?;
            let https = self.https();
            self.set_cookie(cookies::session(&signed_in.token, https))?;
            self.set_cookie(cookies::known_device(&signed_in.known_device, https))?;
            Ok(signed_in.user)
        })
    }

    fn setup(&self, admin: SetupRequest) -> Reply<'_, UserDto> {
        reply(async move {
            let ip = self.ip();
            let from = setup::Requester {
                ip: &ip,
                own_origin: self.own_origin(),
                on_this_host: self.client.on_this_host,
            };
            let (user, token) =
                setup::complete(&self.state, admin, &from, self.session.as_deref()).await?;
            self.set_cookie(cookies::session(&token, self.https()))?;
            Ok(user)
        })
    }

    fn logout(&self) -> Reply<'_, LogoutResponse> {
        reply(async move {
            let logout_url =
                logout::sign_out(&self.state, self.session.as_deref(), &self.ip()).await?;
            self.set_cookie(cookies::clear_session(self.https()))?;
            Ok(LogoutResponse { logout_url })
        })
    }

    fn change_password(&self, change: ChangePasswordRequest) -> Reply<'_, Done> {
        reply(async move {
            let user = self.signed_in()?;
            let session = self.session.as_deref().unwrap_or_default();
            own_password::change(&self.state, &user, session, &self.ip(), change).await?;
            Ok(Done {})
        })
    }

    fn unlink_own_identity(&self) -> Reply<'_, UserDto> {
        reply(
            async move { own_identity::unlink(&self.state, &self.signed_in()?, &self.ip()).await },
        )
    }

    fn create_user(&self, user: CreateUserRequest) -> Reply<'_, UserDto> {
        reply(async move {
            let (actor, ip) = (self.admin()?, self.ip());
            let by = Actor::Admin {
                user: &actor,
                ip: &ip,
            };
            users::create(&self.state, by, user).await
        })
    }

    fn update_user(&self, id: i64, changes: UpdateUserRequest) -> Reply<'_, UserDto> {
        reply(async move {
            let (actor, ip) = (self.admin()?, self.ip());
            let by = Actor::Admin {
                user: &actor,
                ip: &ip,
            };
            users::update(&self.state, by, self.session.as_deref(), id, changes).await
        })
    }

    fn delete_user(&self, id: i64) -> Reply<'_, Done> {
        reply(async move {
            users::delete(&self.state, &self.admin()?, &self.ip(), id).await?;
            Ok(Done {})
        })
    }

    fn unlink_user(&self, id: i64) -> Reply<'_, UserDto> {
        reply(async move { users::unlink(&self.state, &self.admin()?, &self.ip(), id).await })
    }

    fn create_library(&self, library: LibraryRequest) -> Reply<'_, LibraryDto> {
        reply(
            async move { libraries::create(&self.state, &self.admin()?, &self.ip(), library).await },
        )
    }

    fn rename_library(&self, id: i64, library: LibraryRequest) -> Reply<'_, LibraryDto> {
        reply(async move {
            libraries::rename(&self.state, &self.admin()?, &self.ip(), id, library).await
        })
    }

    fn delete_library(&self, id: i64) -> Reply<'_, Done> {
        reply(async move {
            libraries::delete(&self.state, &self.admin()?, &self.ip(), id).await?;
            Ok(Done {})
        })
    }

    fn save_oidc_settings(&self, patch: SettingsPatch) -> Reply<'_, OidcSettingsDto> {
        reply(async move {
            let (admin, ip) = (self.admin()?, self.ip());
            settings::save(&self.state, &admin, &ip, self.own_origin(), patch).await
        })
    }

    fn test_oidc_connection(&self, form: SettingsPatch) -> Reply<'_, ConnectionTestResult> {
        reply(async move {
            test_connection::for_form(&self.state, &self.admin()?, &self.client, form).await
        })
    }

    fn try_oidc_sign_in(&self, form: SettingsPatch) -> Reply<'_, TrySignInStarted> {
        reply(async move {
            let (admin, ip, browser) = (self.admin()?, self.ip(), self.browser_id()?);
            let by = dry_run::Starter {
                admin: &admin,
                session_hash: self.session.as_deref(),
                browser_id: &browser,
                ip: &ip,
                own_origin: self.own_origin(),
            };
            dry_run::start(&self.state, by, &form).await
        })
    }

    fn create_group_mapping(&self, mapping: MappingRequest) -> Reply<'_, GroupMappingDto> {
        reply(async move {
            group_mappings::create(&self.state, &self.admin()?, &self.ip(), mapping).await
        })
    }

    fn update_group_mapping(&self, id: i64, mapping: MappingRequest) -> Reply<'_, GroupMappingDto> {
        reply(async move {
            group_mappings::update(&self.state, &self.admin()?, &self.ip(), id, mapping).await
        })
    }

    fn delete_group_mapping(&self, id: i64) -> Reply<'_, Done> {
        reply(async move {
            group_mappings::delete(&self.state, &self.admin()?, &self.ip(), id).await?;
            Ok(Done {})
        })
    }

    fn rename_grant(&self, id: i64, change: RenameGrantRequest) -> Reply<'_, GrantDto> {
        reply(async move { grants::rename(&self.state, &self.signed_in()?, id, change).await })
    }

    fn revoke_grant(&self, id: i64) -> Reply<'_, Done> {
        reply(async move {
            revoke::own(&self.state, &self.signed_in()?, id, &self.ip()).await?;
            Ok(Done {})
        })
    }

    fn create_app_password(&self, request: AppPasswordRequest) -> Reply<'_, AppPasswordCreated> {
        reply(async move {
            let (user, browser, ip) = self.approver_parts()?;
            // The round trip brings the person back to the form, filled in again.
            let return_to = format!(
                "/profile?{}",
                serde_urlencoded::to_string([
                    ("appPassword", request.name.as_deref().unwrap_or_default()),
                    ("scope", request.scope.as_deref().unwrap_or("full")),
                ])
                .map_err(AppError::internal)?
            );
            let approver = Approver {
                user: &user,
                session_hash: self.session.as_deref().unwrap_or_default(),
                browser_id: &browser,
                ip: &ip,
                return_to: &return_to,
            };
            app_passwords::create(&self.state, &approver, request).await
        })
    }

    fn approve_device(&self, request: DeviceApprovalRequest) -> Reply<'_, DeviceApproval> {
        reply(async move {
            let (user, browser, ip) = self.approver_parts()?;
            // The round trip brings the person back to the code they were approving.
            let code = request
                .user_code
                .as_deref()
                .and_then(device::normalize_user_code);
            let return_to = match code {
                Some(code) => format!("/device?code={}", device::display_user_code(&code)),
                None => "/device".to_owned(),
            };
            let approver = Approver {
                user: &user,
                session_hash: self.session.as_deref().unwrap_or_default(),
                browser_id: &browser,
                ip: &ip,
                return_to: &return_to,
            };
            device::decide(&self.state, &approver, request).await
        })
    }

    fn revoke_user_grant(&self, user_id: i64, grant_id: i64) -> Reply<'_, Done> {
        reply(async move {
            revoke::by_admin(&self.state, &self.admin()?, user_id, grant_id, &self.ip()).await?;
            Ok(Done {})
        })
    }

    fn sign_out_everywhere(&self, user_id: i64) -> Reply<'_, Done> {
        reply(async move {
            revoke::sign_out_everywhere(&self.state, &self.admin()?, user_id, &self.ip()).await?;
            Ok(Done {})
        })
    }
}
