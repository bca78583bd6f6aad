use axum::body::Body;
use axum::http::header;
use axum::middleware;
use axum::response::Response;
use clap::Parser;
use futures_util::StreamExt;
use grimmory::cli::{Cli, Command};
use grimmory::clock::SystemClock;
use grimmory::config::Config;
use grimmory::{build_router, AppState};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    grimmory::memory::limit_malloc_arenas();
    grimmory::memory::return_large_blocks();
    // Settings from ./.env when there is one; variables already set win. Done before the
    // runtime starts: changing the environment is only sound while the process has one thread.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("grimmory: .env: {e}");
            return ExitCode::from(2);
        }
    }
    start()
}

#[tokio::main]
async fn start() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        // Colours only on a terminal: container logs, journald and files get plain text.
        .with_ansi(std::io::stdout().is_terminal())
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

/// How long a stop waits for requests in flight before it drops them. Container runtimes send
/// SIGKILL 10 s after SIGTERM by default; finishing first lets the pool close cleanly.
const DRAIN: Duration = Duration::from_secs(8);
/// Then how long the database connections get to close (a SQLite checkpoint, a PostgreSQL goodbye).
const CLOSE: Duration = Duration::from_secs(2);

async fn serve(config: Config) -> Result<(), String> {
    let state = AppState::new(config, Arc::new(SystemClock)).await?;
    if let Some(token) = &state.setup_token {
        tracing::warn!(
            "no admin yet: open /setup to create one. From this machine (http://{}/setup, when \
             listening on loopback) no token is needed; from anywhere else, or through a reverse \
             proxy, enter this setup token: {token}",
            state.config.bind
        );
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

    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        let name = shutdown_signal().await;
        tracing::info!(
            signal = name,
            "stopping: no new connections, finishing requests in flight"
        );
        let _ = stop_tx.send(true);
        // A second signal means "now": someone is waiting at a terminal.
        let name = shutdown_signal().await;
        tracing::warn!(signal = name, "second signal: exiting without waiting");
        std::process::exit(130);
    });

    let app = build_router(state)
        .layer(middleware::map_response(end_streams_on(stop.clone())))
        .into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(stopped(stop.clone()));
    tokio::select! {
        served = server => served.map_err(|e| format!("server error: {e}"))?,
        () = async { stopped(stop).await; tokio::time::sleep(DRAIN).await } => {
            tracing::warn!("requests still running after {DRAIN:?}: dropping them");
        }
    }
    if tokio::time::timeout(CLOSE, db.close()).await.is_err() {
        tracing::warn!("database connections still busy after {CLOSE:?}: leaving them");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once shutdown has begun.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only on the way out anyway.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Server-sent event streams (an open page's session watch) never finish on their own, so the
/// drain would always wait its full bound while a page is open: end them when shutdown begins.
/// The browser's EventSource reconnects, to another replica or to this server once restarted.
fn end_streams_on(
    stop: watch::Receiver<bool>,
) -> impl Fn(Response) -> std::future::Ready<Response> + Clone {
    move |res: Response| {
        let is_stream = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !is_stream {
            return std::future::ready(res);
        }
        let (parts, body) = res.into_parts();
        let body = Body::from_stream(body.into_data_stream().take_until(stopped(stop.clone())));
        std::future::ready(Response::from_parts(parts, body))
    }
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
        // Idle grants are refused on use anyway; this takes them off the users' lists.
        if let Err(e) = grimmory::grants::revoke::sweep_idle(&state).await {
            tracing::warn!(error = %e, "could not end idle app grants");
        }
    }
}

/// SIGTERM (container runtimes, systemd) or SIGINT (Ctrl-C); answers which. Tokio installs real
/// handlers, so this works as PID 1 too, where the kernel ignores signals without one.
async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => "SIGINT", _ = term => "SIGTERM" }
}
