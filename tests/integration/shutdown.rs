//! The server process stops cleanly on SIGTERM (a container runtime's stop, where it runs as
//! PID 1 and is killed 10 s later) and on SIGINT (Ctrl-C): exit 0, well before that, even
//! with a page's event stream open, which never ends on its own.

use crate::common::{Engine, TestApp};
use crate::on_both_engines;
use openidconnect::reqwest;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

on_both_engines!(
    sigterm_with_an_open_event_stream_exits_zero_at_once,
    a_request_in_flight_at_sigterm_is_answered
);

/// Far below the runtime's 10 s and the server's own 8 s drain bound, so passing means the
/// server did not just wait its bound out.
const PROMPT: Duration = Duration::from_secs(5);

struct Server {
    url: String,
    child: Child,
    /// The server logs to standard output; the rest of it is read when the process ends.
    log: Option<BufReader<ChildStdout>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only when an assertion failed before the process ended.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(database_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_grimmory"))
        .env("DATABASE_URL", database_url)
        .env("GRIMMORY_SECRET_KEY", "integration test key material")
        .env("GRIMMORY_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary runs");
    let mut log = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert_ne!(
            log.read_line(&mut line).unwrap(),
            0,
            "exited before listening"
        );
        if let Some(url) = line.trim().strip_prefix("grimmory listening on ") {
            break url.to_owned();
        }
    };
    Server {
        url,
        child,
        log: Some(log),
    }
}

/// Sends `signal` and waits, at most `PROMPT`, for the process to end; answers its status,
/// its log and how long it took.
async fn stop_with(server: &mut Server, signal: &str) -> (ExitStatus, String, Duration) {
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stop_with_signal_sent(server).await
}

/// Waits, at most `PROMPT`, for the signalled process to end.
async fn stop_with_signal_sent(server: &mut Server) -> (ExitStatus, String, Duration) {
    let sent = Instant::now();
    let mut out = server.log.take().unwrap();
    // Reading the log to its end is waiting for the process: the pipe closes when it exits.
    let log = tokio::time::timeout(
        PROMPT,
        tokio::task::spawn_blocking(move || {
            let mut log = String::new();
            let _ = out.read_to_string(&mut log);
            log
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("still running {PROMPT:?} after the signal"))
    .unwrap();
    let status = server.child.wait().unwrap();
    (status, log, sent.elapsed())
}

async fn sigterm_with_an_open_event_stream_exits_zero_at_once(engine: Engine) {
    let app = TestApp::new(engine).await;
    let cookie = app.setup_admin().await;
    let mut server = start(&app.database_url);

    // A signed-in page's session watch: the response has begun and the stream stays open.
    let mut events = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/events", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);

    let (status, log, took) = stop_with(&mut server, "TERM").await;
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("stopped"), "the pool was not closed:\n{log}");
    assert!(!log.contains("dropping them"), "the drain ran out:\n{log}");
    // The stream ended rather than being cut (the page's EventSource will reconnect): it named
    // whose session it watches, then sent only keep-alives.
    let mut body = Vec::new();
    while let Some(chunk) = events.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8(body).unwrap();
    let (first, rest) = body.split_once("\n\n").expect("one event at least");
    assert!(first.starts_with("event: session\ndata: "), "{body:?}");
    assert!(
        rest.split("\n\n")
            .all(|e| e.is_empty() || e.starts_with(':')),
        "only keep-alives after it: {body:?}"
    );
    println!("exit after SIGTERM: {} ms", took.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_exits_zero() {
    let app = TestApp::new(Engine::Sqlite).await;
    let mut server = start(&app.database_url);
    let r = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, log, _) = stop_with(&mut server, "INT").await;
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert!(log.contains("SIGINT"), "{log}");
}

/// Waits until the server has logged that it is stopping (it has taken the signal).
async fn logged_stopping(server: &mut Server) {
    let mut out = server.log.take().unwrap();
    let out = tokio::time::timeout(
        PROMPT,
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            loop {
                line.clear();
                assert_ne!(
                    out.read_line(&mut line).unwrap(),
                    0,
                    "exited before stopping"
                );
                if line.contains("stopping") {
                    return out;
                }
            }
        }),
    )
    .await
    .expect("the server logs that it is stopping")
    .unwrap();
    server.log = Some(out);
}

async fn a_request_in_flight_at_sigterm_is_answered(engine: Engine) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::new(engine).await;
    app.setup_admin().await;
    let mut server = start(&app.database_url);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let body = r#"{"username": "admin", "password": "correct horse battery"}"#;
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // `Expect: 100-continue`: the server answers "100 Continue" only once the handler reads
    // the body, so after it the request is certainly in flight.
    conn.write_all(
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut continued = [0u8; 25];
    conn.read_exact(&mut continued).await.unwrap();
    assert!(continued.starts_with(b"HTTP/1.1 100 Continue"));

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    logged_stopping(&mut server).await;
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PROMPT, conn.read_to_string(&mut answer))
        .await
        .expect("the request in flight is answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let (status, log, _) = stop_with_signal_sent(&mut server).await;
    assert!(status.success(), "exit {status}; log:\n{log}");
}
