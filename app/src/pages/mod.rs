mod dashboard;
mod login;
mod not_found;
mod setup;

pub use dashboard::Dashboard;
pub use login::Login;
pub use not_found::NotFound;
pub use setup::Setup;
