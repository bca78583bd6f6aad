use clap::Parser;
use grimmory::cli::{Cli, Command};
use grimmory::clock::SystemClock;
use grimmory::config::Config;
use grimmory::{build_router, AppState};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn")),
        )
        .init();
    let config = match Config::from_raw(&cli.settings) {
        Ok(c) => c,
        Err(line) => {
            eprintln!("grimmory: {line}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Admin { command } => grimmory::cli::run(config, command)
            .await
            .map(|line| println!("{line}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("grimmory: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let state = AppState::new(config, Arc::new(SystemClock)).await?;
    if let Some(token) = &state.setup_token {
        tracing::warn!("setup token (needed to create the first admin): {token}");
    }
    let listener = tokio::net::TcpListener::bind(state.config.bind)
        .await
        .map_err(|e| format!("GRIMMORY_BIND {}: cannot listen: {e}", state.config.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Test harnesses bind port 0 and read the real address from this line.
    println!("grimmory listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let db = state.db.clone();
    tokio::spawn(sweep_expired_sessions(state.clone()));
    let app = build_router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    db.close().await;
    Ok(())
}

/// Expired sessions are already refused; this only keeps the table small.
async fn sweep_expired_sessions(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        if let Err(e) = state
            .db
            .delete_expired_sessions(state.clock.now(), state.config.session_idle_ms)
            .await
        {
            tracing::warn!(error = %e, "could not delete expired sessions");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
