//! The local HTTP JSON API (axum). Every request needs `Authorization: Bearer <token>`
//! (or, for GET requests only, the web console's `swarmvote_token` cookie holding the
//! same token); the token is in `<data_dir>/api.cookie` (mode 0600, new at every start)
//! unless the config fixes one. The console itself (`/ui`, see [`crate::console`]) is
//! served beside the API without a token: it holds no data. Errors are `{"error": {"code", "message"}}` with a fitting status.
//! Each handler carries its route's OpenAPI description; [`openapi`] assembles the
//! document, served at `GET /v1/openapi.json` behind the same token as every route.

mod auth;
mod export;
pub mod serve;

pub(crate) use auth::constant_time_eq;
use auth::{AuthLog, auth};

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use swarmvote_protocol::engine::{CommandError, Event, Pause};
use swarmvote_protocol::{Action, Certificate, Payload, ProposalId, Reason, SignedBallot};
use utoipa::OpenApi;

use crate::api::{
    DEFAULT_LIMIT, ErrorBody, ErrorDetail, EventsQuery, ListQuery, LogPage, NodeEvent, Numbered,
    ProposalPage, ProposalQuery, ProposalReport, ProposeBody, Proposed, ReceiptReport,
    RosterHistory, RosterView, StatusReport, VoteBody,
};
pub use crate::api::{DEFAULT_TTL_MS, MAX_WAIT_MS};
use crate::daemon::driver::{Client, ListFilter, Stopped};
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
        .route("/v1/proposals", post(propose).get(list))
        .route("/v1/events", get(events))
        .route("/v1/export", get(export::export))
        .route("/v1/proposals/{id}", get(proposal))
        .route("/v1/proposals/{id}/vote", post(vote))
        .route("/v1/proposals/{id}/certificate", get(certificate))
        .route("/v1/proposals/{id}/receipts", get(receipts))
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
    propose,
    list,
    events,
    export::export,
    logs,
    proposal,
    vote,
    certificate,
    receipts,
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

fn parse_id(id: &str) -> Result<ProposalId, ApiError> {
    id.parse()
        .map_err(|e| ApiError::bad_request(format!("proposal id: {e}")))
}

/// `POST /v1/proposals`.
#[utoipa::path(
    post,
    path = "/v1/proposals",
    summary = "Submit a proposal signed by this node",
    request_body = ProposeBody,
    responses(
        (status = 201, description = "Submitted", body = Proposed),
        (status = 400, description = "Invalid body, action or ttl", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB or payload over 32 KiB", body = ErrorBody),
        (status = 429, description = "Too many open proposals", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn propose(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ProposeBody>,
) -> Result<(StatusCode, Json<Proposed>), ApiError> {
    let action = Action::new(body.action).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let payload = Payload::from_value(&body.payload).map_err(CommandError::from)?;
    let ttl = body.ttl_ms.unwrap_or(DEFAULT_TTL_MS);
    // Subscribe first, so a fast decision is not missed.
    let events = state.client.subscribe();
    let id = state.client.propose(action, payload, ttl).await??;
    let proposal = match body.wait_ms {
        None => None,
        Some(wait) => wait_decided(&state.client, events, id, wait).await?,
    };
    Ok((StatusCode::CREATED, Json(Proposed { id, proposal })))
}

/// The proposal once it is decided or expired, or as it is after `wait_ms` (at most
/// [`MAX_WAIT_MS`]). `events` must be subscribed before the proposal can be decided.
async fn wait_decided(
    client: &Client,
    mut events: tokio::sync::broadcast::Receiver<Numbered>,
    id: ProposalId,
    wait_ms: u64,
) -> Result<Option<ProposalReport>, ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms.min(MAX_WAIT_MS));
    loop {
        // Already decided (also covers events missed while lagging).
        let report = client.get(id).await?;
        if report
            .as_ref()
            .is_none_or(|r| r.status != swarmvote_protocol::Status::Pending)
        {
            return Ok(report);
        }
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Ok(client.get(id).await?),
            Ok(Ok(n)) => {
                let ours = matches!(
                    &n.event,
                    NodeEvent::Engine(Event::Decided { proposal, .. } | Event::Expired { proposal })
                        if *proposal == id
                );
                if !ours {
                    continue;
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return Err(Stopped.into()),
        }
    }
}

/// `GET /v1/proposals`.
#[utoipa::path(
    get,
    path = "/v1/proposals",
    summary = "List proposals, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of proposals", body = ProposalPage),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = q
        .status
        .map(|s| {
            serde_json::from_value::<swarmvote_protocol::Status>(serde_json::Value::String(
                s.clone(),
            ))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "status {s:?}: expected pending, approved, rejected or expired"
                ))
            })
        })
        .transpose()?;
    let cursor = q
        .cursor
        .map(|c| {
            let bad =
                || ApiError::bad_request(format!("cursor {c:?} is not one this API returned"));
            let (at, id) = c.split_once('-').ok_or_else(bad)?;
            Ok::<_, ApiError>((
                at.parse::<u64>().map_err(|_| bad())?,
                id.parse::<ProposalId>().map_err(|_| bad())?,
            ))
        })
        .transpose()?;
    let filter = ListFilter {
        status,
        action: q.action,
        since: q.since.map(swarmvote_protocol::UnixMillis),
        limit: q.limit.unwrap_or(DEFAULT_LIMIT),
        cursor,
        history: q.history.unwrap_or(false),
    };
    let page: ProposalPage = state.client.list(filter).await?;
    Ok(Json(page).into_response())
}

/// `GET /v1/events`: Server-Sent Events. Each event's `id` is its stream id, `event` its
/// type and `data` its JSON. Reconnect with `Last-Event-ID` (or `?after=`) to resume.
#[utoipa::path(
    get,
    path = "/v1/events",
    summary = "Server-Sent Events of proposals, ballots, decisions, equivocations, invalid messages, expiries and health changes",
    description = "Each event has `id` (a number that grows, across restarts too), `event` \
        (its type: proposal_seen, ballot_accepted, decided, equivocation, invalid_message, \
        expired, voter_degraded, voter_recovered) and `data`: one `Numbered` as JSON (the \
        schema given for the body describes each event's data, not the stream). Reconnect \
        with the `Last-Event-ID` header (or `after`) to receive what was missed, as far as \
        the node's last 10,000 events reach.",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, pattern = "^\\s*[0-9]{1,19}\\s*$", description = "Resume after this event id"),
    ),
    responses(
        (status = 200, description = "An event stream; each event's `data:` is a `Numbered`", content_type = "text/event-stream", body = Numbered),
        (status = 400, description = "Invalid `after` or `Last-Event-ID`", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    use futures::StreamExt;
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let after =
        match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("Last-Event-ID {v:?} is not a number"))
            })?),
            None => q.after,
        };
    let (backlog, receiver) = state.client.events(after).await?;
    let to_sse = |n: &Numbered| {
        let kind = serde_json::to_value(&n.event)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "event".into());
        SseEvent::default()
            .id(n.id.to_string())
            .event(kind)
            .json_data(n)
            .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"))
    };
    let live = futures::stream::unfold(receiver, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(n) => return Some((n, rx)),
                // A slow client missed events; it can resume from the last id it saw.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let mut stop = state.shutdown.clone();
    let stopped = async move {
        let _ = stop.wait_for(|down| *down).await;
    };
    let stream = futures::stream::iter(backlog)
        .chain(live)
        .take_until(stopped)
        .map(move |n| Ok::<_, std::convert::Infallible>(to_sse(&n)));
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `GET /v1/proposals/{id}`.
#[utoipa::path(
    get,
    path = "/v1/proposals/{id}",
    summary = "One proposal with its tally, ballots, evidence and execution result",
    params(
        ("id" = ProposalId, Path, description = "The proposal id (64 hex digits)"),
        ProposalQuery,
    ),
    responses(
        (status = 200, description = "The proposal (with `wait_ms`: once decided or expired, or as it is when the wait ended)", body = ProposalReport),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown proposal", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn proposal(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    query: Result<axum::extract::Query<ProposalQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let report = match q.wait_ms {
        None => state.client.get(id).await?,
        Some(wait) => {
            let events = state.client.subscribe();
            wait_decided(&state.client, events, id, wait).await?
        }
    };
    match report {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_proposal",
            format!("unknown proposal {id}"),
        )),
    }
}

/// `POST /v1/proposals/{id}/vote`.
#[utoipa::path(
    post,
    path = "/v1/proposals/{id}/vote",
    summary = "Cast this node's ballot (through the own-vote guard)",
    params(("id" = ProposalId, Path, description = "The proposal id (64 hex digits)")),
    request_body = VoteBody,
    responses(
        (status = 200, description = "The signed ballot (the stored one if this node already voted this way)", body = SignedBallot),
        (status = 400, description = "Invalid id, body or reason", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown proposal", body = ErrorBody),
        (status = 409, description = "Already voted the other way, or the proposal is decided or expired", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn vote(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    ApiJson(body): ApiJson<VoteBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let reason = body
        .reason
        .map(Reason::new)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let ballot: SignedBallot = state.client.vote(id, body.vote, reason).await??;
    Ok(Json(ballot).into_response())
}

/// `GET /v1/proposals/{id}/receipts`.
#[utoipa::path(
    get,
    path = "/v1/proposals/{id}/receipts",
    summary = "The execution receipts of a proposal, with their standing and certificates",
    description = "Every signed execution receipt this node stores for the proposal (also when \
        the proposal itself is unknown here: an unbacked receipt is evidence against its \
        executor), each with the certificate it names when this node can rebuild it. \
        Check one offline with `swarmvote verify-receipt`.",
    params(("id" = ProposalId, Path, description = "The proposal id (64 hex digits)")),
    responses(
        (status = 200, description = "The receipts (empty if none)", body = Vec<ReceiptReport>),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn receipts(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Vec<ReceiptReport>>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(state.client.receipts(id).await?))
}

/// `GET /v1/proposals/{id}/certificate`.
#[utoipa::path(
    get,
    path = "/v1/proposals/{id}/certificate",
    summary = "The quorum certificate of an approved proposal",
    params(("id" = ProposalId, Path, description = "The proposal id (64 hex digits)")),
    responses(
        (status = 200, description = "The certificate; check it offline with `swarmvote verify-cert`", body = Certificate),
        (status = 400, description = "Invalid id", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "Unknown proposal", body = ErrorBody),
        (status = 409, description = "Not approved", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
async fn certificate(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    match state.client.certificate(id).await? {
        Some(Some(c)) => {
            let c: Certificate = c;
            Ok(Json(c).into_response())
        }
        Some(None) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_approved",
            format!("proposal {id} is not approved"),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_proposal",
            format!("unknown proposal {id}"),
        )),
    }
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
