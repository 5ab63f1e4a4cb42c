//! `GET /v1/export`: the audit export, streamed as JSON lines (see
//! [`crate::api::ExportLine`]). Pages are read from the store by the driver, chained here
//! line by line, and the last line is sealed with the node's voter key.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use swarmvote_protocol::UnixMillis;
use tracing::warn;

use super::{ApiError, AppState};
use crate::api::{ErrorBody, ExportEntry, ExportLine, ExportQuery};
use crate::daemon::driver::{Client, ExportPage, ExportRequest};
use crate::export::ChainWriter;

/// The media type of the answer.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// `GET /v1/export`.
#[utoipa::path(
    get,
    path = "/v1/export",
    summary = "The audit export: proposals, ballots, decisions, certificates, evidence, roster steps and executions, as a sealed hash chain of JSON lines",
    description = "Read from the node's store, so it covers the whole history, not only \
        the proposals listed by default. One `ExportLine` per line; check a saved file \
        offline with `swarmvote export verify FILE --roster ROSTER`. An answer cut short \
        lacks its sealed end line, and verification says so.",
    params(ExportQuery),
    responses(
        (status = 200, description = "The export, one JSON line per entry", content_type = "application/x-ndjson", body = ExportLine),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
        (status = 503, description = "The node is shutting down", body = ErrorBody),
    )
)]
pub(super) async fn export(
    State(state): State<AppState>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(until) = q.until
        && until <= q.since
    {
        return Err(ApiError::bad_request(format!(
            "until ({until}) must be after since ({})",
            q.since
        )));
    }
    let request = ExportRequest {
        since: UnixMillis(q.since),
        until: q.until.map(UnixMillis),
        after: None,
    };
    // The first page before the answer starts, so that a failure is still an HTTP error.
    let first = state
        .client
        .export_page(request)
        .await?
        .map_err(store_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    let client = state.client.clone();
    tokio::spawn(async move {
        if let Err(e) = stream(&client, request, first, &tx).await {
            warn!(error = %e, "export cut short");
            // The body ends in an error: the client sees a broken answer, and the file
            // it may have saved has no sealed end line.
            let _ = tx.send(Err(std::io::Error::other(e))).await;
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        Body::from_stream(body),
    )
        .into_response())
}

fn store_error(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", message)
}

/// Writes every page, then the sealed end line.
async fn stream(
    client: &Client,
    mut request: ExportRequest,
    first: ExportPage,
    tx: &tokio::sync::mpsc::Sender<Result<String, std::io::Error>>,
) -> Result<(), String> {
    let mut chain = ChainWriter::default();
    let mut proposals: u64 = 0;
    let mut page = first;
    loop {
        for entry in page.entries {
            let mut line = chain.line(entry).map_err(|e| e.to_string())?;
            line.push('\n');
            tx.send(Ok(line))
                .await
                .map_err(|_| "the client went away".to_owned())?;
        }
        proposals = proposals.saturating_add(page.proposals);
        let Some(after) = page.next else {
            break;
        };
        request.after = Some(after);
        page = client
            .export_page(request)
            .await
            .map_err(|e| e.to_string())??;
    }
    let seal = client
        .seal(chain.head(), chain.lines())
        .await
        .map_err(|e| e.to_string())?;
    let lines = chain.lines();
    let mut end = chain
        .line(ExportEntry::End {
            lines,
            proposals,
            seal,
        })
        .map_err(|e| e.to_string())?;
    end.push('\n');
    tx.send(Ok(end))
        .await
        .map_err(|_| "the client went away".to_owned())?;
    Ok(())
}
