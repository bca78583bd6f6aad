//! `GET /api/v1/auth/events`: a server-sent event stream that first names whose session it
//! watches (`session`, the user id), then tells an open page when that session ends
//! (`revoked`: revoked by back-channel logout, signed out elsewhere, expired). It reads the
//! session from the database, so a revocation on any replica reaches pages served by any
//! other within one check.

use crate::error::AppError;
use crate::http::session::{SessionCookie, SignedIn};
use crate::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;

const CHECK_EVERY: Duration = Duration::from_secs(2);

pub async fn session_events(
    State(state): State<AppState>,
    SignedIn { user }: SignedIn,
    SessionCookie(hash): SessionCookie,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let hash = hash.ok_or_else(|| AppError::Unauthorized("You are not signed in.".to_owned()))?;
    let whose = Event::default().event("session").data(user.id.to_string());
    let ends = stream::unfold(Some((state, hash)), |watching| async move {
        let (state, hash) = watching?;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let live = state
                .db
                .session_is_live(&hash, state.clock.now(), state.config.session_idle_ms)
                .await
                // A database hiccup is not a revocation: ask again next time.
                .unwrap_or(true);
            if !live {
                let event = Event::default().event("revoked").data("session_revoked");
                return Some((Ok(event), None));
            }
        }
    });
    let stream = stream::once(async { Ok(whose) }).chain(ends);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
