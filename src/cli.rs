//! Recovery commands that work directly on the configured database, with or without the
//! server running: the way back in when nobody can sign in through the web UI.

use crate::admin::users;
use crate::admin::Actor;
use crate::clock::SystemClock;
use crate::config::{sqlite_dir, Config, RawSettings};
use crate::db::StoreError;
use crate::error::AppError;
use crate::AppState;
use app::domain::{CreateUserRequest, UpdateUserRequest, PERMISSIONS};
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
    /// Copy the SQLite database into a new file, consistent even while the server runs and
    /// writes. (PostgreSQL: use pg_dump.) Keep the secret key with it.
    Backup {
        /// The file to create; it must not exist yet.
        file: std::path::PathBuf,
    },
}

/// Prompts for the new password twice, or reads one line from standard input; the service
/// checks it like any other. Empty is refused here: to the service it means "no password".
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
    if password.is_empty() {
        return Err("the password must not be empty".to_owned());
    }
    Ok(password)
}

/// Runs one command through the same services as the API, and answers the line to print.
pub async fn run(config: Config, command: AdminCommand) -> Result<String, String> {
    let state = AppState::new(config, Arc::new(SystemClock)).await?;
    // The first problem, in the API's words (a field error names its field).
    let refused = |e: AppError| e.body().message;
    match command {
        AdminCommand::ResetPassword { username } => {
            let user = state
                .db
                .user_by_username(&username)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user named \"{username}\""))?;
            let change = UpdateUserRequest {
                password: Some(Some(read_new_password()?)),
                ..UpdateUserRequest::default()
            };
            users::update(&state, Actor::Cli, None, user.id, change)
                .await
                .map_err(refused)?;
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
            let request = CreateUserRequest {
                username: Some(username.clone()),
                email,
                name,
                password: Some(read_new_password()?),
                is_admin: Some(admin),
                permissions: Some(
                    PERMISSIONS
                        .iter()
                        .map(|p| (p.key.to_owned(), admin))
                        .collect(),
                ),
                library_ids: None,
            };
            users::create(&state, Actor::Cli, request)
                .await
                .map_err(refused)?;
            let role = if admin { "admin" } else { "user" };
            Ok(format!("Created the {role} \"{username}\"."))
        }
        AdminCommand::Backup { file } => {
            state.db.backup_into(&file).await.map_err(|e| match e {
                StoreError::Invariant(line) => line.to_owned(),
                other => format!("the backup failed: {other}"),
            })?;
            let key = match (
                &state.config.secret_key,
                sqlite_dir(&state.config.database_url),
            ) {
                (None, Some(dir)) => dir.join("secret.key").display().to_string(),
                _ => "the GRIMMORY_SECRET_KEY you set".to_owned(),
            };
            Ok(format!(
                "Backed up the database to {}. Keep {key} with it: the stored secrets cannot be read without it.",
                file.display()
            ))
        }
    }
}
