//! The local HTTP JSON API (axum). Every request needs `Authorization: Bearer <token>`
//! (or, for GET requests only, the web console's `swarmvote_token` cookie holding the
//! same token); the token is in `<data_dir>/api.cookie` (mode 0600, new at every start)
//! unless the config fixes one. The console itself (`/ui`, see [`crate::console`]) is
//! served beside the API without a token: it holds no data. Errors are `{"error": {"code", "message"}}` with a fitting status.
//! Each handler carries its route's OpenAPI description; [`openapi`] assembles the
//! document, served at `GET /v1/openapi.json` behind the same token as every route.

mod auth;
mod export;
pub mod limits;
mod proposals;
pub mod serve;

pub(crate) use auth::constant_time_eq;
use auth::{AuthLog, auth};

use std::path::{Path, PathBuf};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use swarmvote_protocol::engine::{CommandError, Pause};
use utoipa::OpenApi;

pub use crate::api::{DEFAULT_TTL_MS, MAX_WAIT_MS};
use crate::api::{ErrorBody, ErrorDetail, LogPage, RosterHistory, RosterView, StatusReport};
use crate::daemon::driver::{Client, Stopped};
use crate::daemon::metrics::{self, Metrics};

/// Largest request body.
pub const MAX_BODY: usize = 64 * 1024;

/// An API error: HTTP status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<Stopped> for ApiError {
    fn from(_: Stopped) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        )
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let (status, code) = match &e {
            CommandError::UnknownProposal { .. } => (StatusCode::NOT_FOUND, "unknown_proposal"),
            CommandError::AlreadyVoted { .. } => (StatusCode::CONFLICT, "already_voted"),
            CommandError::Decided { .. } => (StatusCode::CONFLICT, "decided"),
            CommandError::Expired { .. } => (StatusCode::CONFLICT, "expired"),
            CommandError::Capacity { .. } => (StatusCode::TOO_MANY_REQUESTS, "capacity"),
            CommandError::Paused {
                pause: Pause::Listening,
            } => (StatusCode::SERVICE_UNAVAILABLE, "doppelganger_listening"),
            CommandError::Paused {
                pause: Pause::Doppelganger,
            } => (StatusCode::SERVICE_UNAVAILABLE, "doppelganger_detected"),
            CommandError::Codec(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            CommandError::Receipt(_) => (StatusCode::BAD_REQUEST, "invalid_receipt"),
            CommandError::Change(_) => (StatusCode::BAD_REQUEST, "invalid_roster_change"),
            CommandError::NotAMember { .. } => (StatusCode::FORBIDDEN, "not_a_member"),
            CommandError::StaleChange { .. } => (StatusCode::CONFLICT, "stale_roster_change"),
            CommandError::ChangeConflict { .. } => (StatusCode::CONFLICT, "roster_change_conflict"),
            CommandError::ProposerRemoved { .. } => (StatusCode::CONFLICT, "proposer_removed"),
            CommandError::Message(m) => match m {
                swarmvote_protocol::MessageError::PayloadTooLarge { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                }
                _ => (StatusCode::BAD_REQUEST, "bad_request"),
            },
        };
        Self::new(status, code, e.to_string())
    }
}

/// `Json<T>` whose rejections are API errors.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("request body exceeds {MAX_BODY} bytes"),
                ))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

#[derive(Clone)]
struct AppState {
    client: Client,
    metrics: Metrics,
    token: String,
    /// Becomes true when the node shuts down; open event streams end then, so a
    /// connected watcher cannot hold up a graceful shutdown.
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Failed authentications not yet logged (logging is rate-limited).
    auth_log: AuthLog,
}

/// Every route the server answers behind the token, as (method, path). The OpenAPI
/// document lists exactly these; a test checks both that and that the router serves
/// them. The console's own routes ([`crate::console::ROUTES`]) are not API: they serve
/// static files and the login cookie, not JSON, so the document leaves them out.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/metrics"),
    ("GET", "/v1/events"),
    ("GET", "/v1/export"),
    ("GET", "/v1/logs"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/proposals"),
    ("GET", "/v1/proposals/{id}"),
    ("GET", "/v1/proposals/{id}/certificate"),
    ("GET", "/v1/proposals/{id}/receipts"),
    ("GET", "/v1/roster"),
    ("GET", "/v1/roster/history"),
    ("GET", "/v1/status"),
    ("POST", "/v1/proposals"),
    ("POST", "/v1/proposals/{id}/vote"),
];

/// Builds the router. `extra` routes (the MCP service at `/mcp`) are served behind the
/// same token and body limit.
pub fn router(
    client: Client,
    metrics: Metrics,
    token: String,
    shutdown: tokio::sync::watch::Receiver<bool>,
    extra: Router,
) -> Router {
    let console = crate::console::router(token.clone());
    let state = AppState {
        client,
        metrics,
        token,
        shutdown,
        auth_log: AuthLog::default(),
    };
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/v1/logs", get(logs))
        .route(
            "/v1/proposals",
            post(proposals::propose).get(proposals::list),
        )
        .route("/v1/events", get(proposals::events))
        .route("/v1/export", get(export::export))
        .route("/v1/proposals/{id}", get(proposals::proposal))
        .route("/v1/proposals/{id}/vote", post(proposals::vote))
        .route(
            "/v1/proposals/{id}/certificate",
            get(proposals::certificate),
        )
        .route("/v1/proposals/{id}/receipts", get(proposals::receipts))
        .route("/v1/status", get(status))
        .route("/v1/roster", get(roster))
        .route("/v1/roster/history", get(roster_history))
        .route("/v1/openapi.json", get(openapi_json))
        .with_state(state.clone())
        .merge(extra)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state, auth))
        // After the token layer, so that the login page can be loaded without one.
        .merge(console)
}

/// The router of the separate metrics listener (`[metrics] listen`): only `GET /metrics`,
/// without authentication, for scrapers that cannot read the cookie.
pub fn metrics_router(client: Client, metrics: Metrics) -> Router {
    let (_, shutdown) = tokio::sync::watch::channel(false);
    let state = AppState {
        client,
        metrics,
        token: String::new(),
        shutdown,
        auth_log: AuthLog::default(),
    };
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// The routes, from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(paths(
    metrics_text,
    proposals::propose,
    proposals::list,
    proposals::events,
    export::export,
    logs,
    proposals::proposal,
    proposals::vote,
    proposals::certificate,
    proposals::receipts,
    status,
    roster,
    roster_history,
    openapi_json
))]
struct Routes;

/// The API's OpenAPI document, generated from its types ([`crate::api`]) and routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = crate::api::openapi::Contract::openapi();
    doc.merge(Routes::openapi());
    doc
}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    summary = "This API's OpenAPI document, generated from the server's types and routes",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    )
)]
async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}

/// `GET /metrics`: the OpenMetrics text. Asks the driver for a status first, which
/// refreshes the gauges (proposals by status, peers).
#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics (OpenMetrics text)",
    description = "Every metric is prefixed `swarmvote_`. Served here behind the bearer \
        token, and without authentication on the separate `[metrics] listen` address if \
        configured.",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn metrics_text(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.client.status().await?;
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response())
}

/// `GET /v1/logs`: the recent WARN and ERROR lines.
#[utoipa::path(
    get,
    path = "/v1/logs",
    summary = "The node's recent WARN and ERROR log lines (an in-memory ring of the last 200)",
    responses(
        (status = 200, description = "The lines, oldest first", body = LogPage),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    )
)]
async fn logs() -> Json<LogPage> {
    Json(crate::daemon::log_ring::snapshot())
}

/// `GET /v1/status`.
#[utoipa::path(
    get,
    path = "/v1/status",
    summary = "Peers, counts, roster summary, version and members' health",
    responses(
        (status = 200, description = "Status", body = StatusReport),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let report: StatusReport = state.client.status().await?;
    Ok(Json(report).into_response())
}

/// `GET /v1/roster`.
#[utoipa::path(
    get,
    path = "/v1/roster",
    summary = "The head roster: its epoch, members and tier table, and its document",
    description = "The roster new proposals are made under. `document` is what a roster \
        change edits: its payload (action `swarmvote.roster`) is this document with \
        `epoch` one more and `previous` this roster's digest.",
    responses(
        (status = 200, description = "The head roster", body = RosterView),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn roster(State(state): State<AppState>) -> Result<Response, ApiError> {
    let view: RosterView = state.client.roster().await?;
    Ok(Json(view).into_response())
}

/// `GET /v1/roster/history`.
#[utoipa::path(
    get,
    path = "/v1/roster/history",
    summary = "The roster chain: every approved roster change with its certificate",
    description = "The main chain's steps in epoch order, then superseded ones. The \
        answer is also a chain file for `swarmvote verify-cert --chain`.",
    responses(
        (status = 200, description = "The chain", body = RosterHistory),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn roster_history(State(state): State<AppState>) -> Result<Response, ApiError> {
    let history: RosterHistory = state.client.roster_history().await?;
    Ok(Json(history).into_response())
}

/// The token to require: the configured one, or a fresh random one written to
/// `<data_dir>/api.cookie` with mode 0600 (replacing any older cookie).
pub fn token(data_dir: &Path, fixed: Option<&str>) -> std::io::Result<(String, Option<PathBuf>)> {
    if let Some(t) = fixed {
        return Ok((t.to_owned(), None));
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token = hex::encode(raw);
    let path = data_dir.join("api.cookie");
    let tmp = data_dir.join("api.cookie.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok((token, Some(path)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    /// (method, path) pairs of the generated OpenAPI document.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    out.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        out
    }

    fn app() -> Router {
        // A client whose driver is gone: handlers answer 503, which proves the route exists.
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let (events, _) = tokio::sync::broadcast::channel(1);
        let (_, shutdown) = tokio::sync::watch::channel(false);
        router(
            Client {
                commands: tx,
                events,
            },
            Metrics::default(),
            "t".into(),
            shutdown,
            Router::new(),
        )
    }

    async fn status_of(method: &str, path: &str) -> StatusCode {
        let concrete = path.replace("{id}", &"ab".repeat(32));
        let body = match method {
            "POST" if path.ends_with("/vote") => r#"{"vote":"yes"}"#,
            "POST" => r#"{"action":"x","payload":{}}"#,
            _ => "",
        };
        let req = Request::builder()
            .method(method)
            .uri(concrete)
            .header("authorization", "Bearer t")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        app().oneshot(req).await.unwrap().status()
    }

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let routes: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented(), routes);
    }

    #[tokio::test]
    async fn the_server_serves_exactly_the_routes() {
        for (method, path) in ROUTES {
            let s = status_of(method, path).await;
            assert!(
                s != StatusCode::NOT_FOUND && s != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is not served ({s})"
            );
        }
        // Methods not in the table are refused on every documented path.
        for (_, path) in ROUTES {
            for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
                if ROUTES.contains(&(method, path)) {
                    continue;
                }
                let s = status_of(method, path).await;
                assert_eq!(
                    s,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
        assert_eq!(status_of("GET", "/v1/nothing").await, StatusCode::NOT_FOUND);
    }

    async fn send(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        app()
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_console_needs_no_token_and_its_cookie_only_reads() {
        // Served without a token, with the strict policy; not in the API's document.
        for (method, path) in crate::console::ROUTES {
            let concrete = path.replace("{asset}", "app.js");
            let r = send(method, &concrete, &[], "token=t").await;
            assert!(r.status().is_success(), "{method} {path}: {}", r.status());
            assert!(!documented().iter().any(|(_, p)| p == path));
        }
        let page = send("GET", "/ui", &[], "").await;
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert_eq!(
            send("GET", "/ui/other.js", &[], "").await.status(),
            StatusCode::NOT_FOUND
        );
        // Login: the right token sets the cookie, a wrong one does not.
        let ok = send("POST", "/ui/login", &[], "token=t").await;
        let set = ok.headers()[header::SET_COOKIE].to_str().unwrap();
        assert_eq!(set, "swarmvote_token=t; HttpOnly; SameSite=Strict; Path=/");
        let wrong = send("POST", "/ui/login", &[], "token=x").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.headers().get(header::SET_COOKIE).is_none());
        // The cookie reads the API (503: the test's driver is gone, but auth passed)...
        let cookie = [("cookie", "swarmvote_token=t")];
        let read = send("GET", "/v1/status", &cookie, "").await;
        assert_eq!(read.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            send("GET", "/v1/logs", &cookie, "").await.status(),
            StatusCode::OK
        );
        let bad = [("cookie", "swarmvote_token=x")];
        assert_eq!(
            send("GET", "/v1/status", &bad, "").await.status(),
            StatusCode::UNAUTHORIZED
        );
        // ...but never writes.
        let json = [
            ("cookie", "swarmvote_token=t"),
            ("content-type", "application/json"),
        ];
        let write = send(
            "POST",
            "/v1/proposals",
            &json,
            r#"{"action":"x","payload":{}}"#,
        )
        .await;
        assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
    }
}
