//! `/containerLogs`: container output as chunked text, with upstream's query options.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::{query_flag, query_get, query_pairs, status_error, ServerState};
use crate::runtime::LogOptions;

/// Parse a non-negative integer query value.
fn int(q: &[(String, String)], key: &str) -> Result<Option<i64>, String> {
    match query_get(q, key) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| format!("invalid {key} {v:?}")),
    }
}

/// Handler for `GET /containerLogs/{ns}/{pod}/{container}`.
pub async fn container_logs(
    State(state): State<ServerState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let previous = query_flag(&q, &["previous"]);
    let (tail, since, limit) = match (
        int(&q, "tailLines"),
        int(&q, "sinceSeconds"),
        int(&q, "limitBytes"),
    ) {
        (Ok(t), Ok(s), Ok(l)) => (t, s, l),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return status_error(StatusCode::BAD_REQUEST, "BadRequest", e)
        }
    };
    let since_unix = match (since, query_get(&q, "sinceTime")) {
        (Some(s), _) => Some(chrono::Utc::now().timestamp() - s),
        (None, Some(t)) if !t.is_empty() => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t.timestamp()),
            Err(_) => {
                return status_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("invalid sinceTime {t:?}"),
                )
            }
        },
        _ => None,
    };
    let info = match state.find_container(&ns, &pod, &container, previous).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let opts = LogOptions {
        // Following a finished container would end immediately anyway; previous never follows.
        follow: query_flag(&q, &["follow"]) && !previous,
        tail_lines: tail,
        since_unix,
        timestamps: query_flag(&q, &["timestamps"]),
    };
    let mut remaining = limit.map(|l| l as usize);
    let stream = state
        .runtime
        .logs(&info.id, &opts)
        .take_while(|r| futures::future::ready(r.is_ok()))
        .filter_map(|r| async move { r.ok().map(|c| c.data) })
        .map(move |mut data| {
            if let Some(left) = remaining.as_mut() {
                let take = data.len().min(*left);
                *left -= take;
                data.truncate(take);
            }
            data
        })
        .take_while(|d| futures::future::ready(!d.is_empty()))
        .map(Ok::<_, std::io::Error>);
    (
        [
            ("content-type", "text/plain"),
            ("cache-control", "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
