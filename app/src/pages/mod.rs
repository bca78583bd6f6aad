mod audit;
mod dashboard;
mod libraries;
mod login;
mod not_found;
mod profile;
mod setup;
mod users;

pub use audit::Audit;
pub use dashboard::Dashboard;
pub use libraries::Libraries;
pub use login::Login;
pub use not_found::NotFound;
pub use profile::Profile;
pub use setup::Setup;
pub use users::Users;
