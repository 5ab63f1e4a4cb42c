//! The proposal routes: submitting, listing (the engine's window or the whole history),
//! one proposal (waiting for its decision if asked), voting, its certificate and
//! receipts, and the event stream that follows them all.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use swarmvote_protocol::engine::{CommandError, Event};
use swarmvote_protocol::{Action, Certificate, Payload, ProposalId, Reason, SignedBallot};

use super::{ApiError, ApiJson, AppState, DEFAULT_TTL_MS, MAX_WAIT_MS};
use crate::api::{
    DEFAULT_LIMIT, ErrorBody, EventsQuery, ListQuery, NodeEvent, Numbered, ProposalPage,
    ProposalQuery, ProposalReport, ProposeBody, Proposed, ReceiptReport, VoteBody,
};
use crate::daemon::driver::{Client, ListFilter, Stopped};

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
pub(super) async fn propose(
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
pub(super) async fn wait_decided(
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
pub(super) async fn list(
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
pub(super) async fn events(
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
pub(super) async fn proposal(
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
pub(super) async fn vote(
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
pub(super) async fn receipts(
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
pub(super) async fn certificate(
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
