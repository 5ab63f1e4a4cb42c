//! The API's authentication: the bearer token (or the console's cookie, for reads),
//! compared in constant time; failures counted (`swarmvote_api_auth_failures_total`, by
//! reason) and logged at most once every [`LOG_EVERY`], with how many were held back.
//! Nothing logged or answered ever contains a token, right or wrong.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tracing::warn;

use super::serve::peer_of;
use super::{ApiError, AppState};
use crate::daemon::metrics::ReasonLabel;

/// At most one WARN about failed authentications this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Failed authentications since the last WARN.
#[derive(Clone, Default)]
pub(super) struct AuthLog(Arc<Mutex<(Option<Instant>, u64)>>);

impl AuthLog {
    /// Counts a failure and logs it unless one was logged within [`LOG_EVERY`].
    fn failed(&self, reason: &'static str, req: &Request) {
        let Ok(mut guard) = self.0.lock() else {
            return;
        };
        let (last, held) = &mut *guard;
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            *held = held.saturating_add(1);
            return;
        }
        warn!(
            reason,
            path = req.uri().path(),
            peer = peer_of(req).map(|p| p.to_string()).unwrap_or_default(),
            held_back = *held,
            "api authentication failed"
        );
        *last = Some(now);
        *held = 0;
    }
}

/// Compares the SHA-256 digests of the two, without stopping at the first difference: the
/// time taken tells neither how much of a guessed token was right nor how long the real
/// one is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The token: the bearer header, or else the console's cookie. The cookie is accepted
/// only on GET requests to the API (`/v1/...` and `/metrics`): the console only reads,
/// and a cookie a browser attaches by itself must not be able to propose or vote
/// (cross-site request forgery; SameSite=Strict is the first line, this the second).
pub(super) async fn auth(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let refuse = |reason: &'static str, message: &str, req: &Request| {
        state
            .metrics
            .api_auth_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
        state.auth_log.failed(reason, req);
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response()
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = crate::console::cookie_token(&headers);
    let given = match (bearer, cookie) {
        (Some(t), _) => t.trim(),
        (None, Some(c)) => {
            let path = req.uri().path();
            let readable = path.starts_with("/v1/") || path == "/metrics";
            if req.method() != axum::http::Method::GET || !readable {
                return refuse(
                    "cookie_not_allowed",
                    "the console's cookie is accepted only for GET requests to the API; \
                     send 'Authorization: Bearer <token>'",
                    &req,
                );
            }
            c
        }
        (None, None) => {
            return refuse(
                "missing",
                "missing 'Authorization: Bearer <token>'; the token is in <data_dir>/api.cookie",
                &req,
            );
        }
    };
    if constant_time_eq(given.as_bytes(), state.token.as_bytes()) {
        next.run(req).await
    } else {
        refuse("wrong_token", "wrong token", &req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_equal_whatever_the_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
