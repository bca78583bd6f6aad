//! Recovery commands that work directly on the configured database, with or without the
//! server running: the way back in when nobody can sign in through the web UI.

use crate::auth::password;
use crate::clock::SystemClock;
use crate::config::{Config, RawSettings};
use crate::db::{AuditEntry, AuditEvent, NewUser, UserChanges};
use crate::validation;
use crate::AppState;
use app::domain::PERMISSIONS;
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "grimmory",
    version,
    about = "Grimmory sign-in and access server"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: RawSettings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the web server (the default).
    Serve,
    /// Recovery commands that work directly on the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Set a new password for a user and end their sessions. Prompts for it, or reads one line
    /// from standard input.
    ResetPassword { username: String },
    /// Create a user with a password (prompted, or one line from standard input).
    Create {
        username: String,
        /// Make the user an admin with every permission.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        email: Option<String>,
        /// Display name (default: the username).
        #[arg(long)]
        name: Option<String>,
    },
}

fn read_new_password() -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Repeat it: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ".to_owned());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    validation::new_password(Some(&password))
        .map_err(|m| m.to_lowercase().trim_end_matches('.').to_owned())
}

/// Runs one command and answers the line to print.
pub async fn run(config: Config, command: AdminCommand) -> Result<String, String> {
    let state = AppState::new(config, Arc::new(SystemClock)).await?;
    let internal = |e: crate::error::AppError| e.body().message;
    match command {
        AdminCommand::ResetPassword { username } => {
            let user = state
                .db
                .user_by_username(&username)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user named \"{username}\""))?;
            let hash = password::hash(read_new_password()?)
                .await
                .map_err(internal)?;
            let changes = UserChanges {
                password_hash: Some(Some(hash)),
                ..UserChanges::default()
            };
            let now = state.clock.now();
            let audit = AuditEntry::new(AuditEvent::UserUpdated, now).detail("via", "cli");
            state
                .db
                .update_user(
                    user.id,
                    &changes,
                    now,
                    state.config.force_disable_oidc,
                    None,
                    audit,
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "The password of \"{username}\" was changed and their sessions ended."
            ))
        }
        AdminCommand::Create {
            username,
            admin,
            email,
            name,
        } => {
            let username = validation::username(Some(&username)).map_err(str::to_owned)?;
            let email = validation::email(email.as_deref()).map_err(str::to_owned)?;
            let name =
                validation::display_name(name.as_deref(), &username).map_err(str::to_owned)?;
            let hash = password::hash(read_new_password()?)
                .await
                .map_err(internal)?;
            let new = NewUser {
                username: username.clone(),
                email,
                name,
                password_hash: Some(hash),
                is_admin: admin,
                permissions: vec![admin; PERMISSIONS.len()],
            };
            let now = state.clock.now();
            let audit = AuditEntry::new(AuditEvent::UserCreated, now).detail("via", "cli");
            state
                .db
                .create_user(&new, &[], now, audit)
                .await
                .map_err(|e| e.to_string())?;
            let role = if admin { "admin" } else { "user" };
            Ok(format!("Created the {role} \"{username}\"."))
        }
    }
}
