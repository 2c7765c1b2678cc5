//! Watch over HTTP: a chunked stream of `{"type":...,"object":...}` lines, with bookmarks,
//! the WatchList initial-events-end bookmark, timeouts, and Table rendering when asked.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde_json::{json, Value};

use super::codec::{self, Output};
use super::request::query_bool;
use super::resources::{streaming, table_of, Call};
use super::AppState;
use crate::registry::filter::Filter;
use crate::registry::watch::{WatchItem, WatchStart, WatchType};
use crate::registry::ResourceDescriptor;
use crate::status::{ApiError, ApiResult};

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

/// Serves a watch request as a streaming response.
pub async fn serve_watch(
    app: Arc<AppState>,
    d: Arc<ResourceDescriptor>,
    ns: Option<&str>,
    filter: Filter,
    call: &Call,
) -> ApiResult<Response> {
    let q = &call.query;
    let bookmarks = query_bool(q, "allowWatchBookmarks") == Some(true);
    let send_initial = query_bool(q, "sendInitialEvents");
    if send_initial == Some(true) {
        if !bookmarks {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![crate::status::Cause {
                    reason: "FieldValueForbidden".into(),
                    message:
                        "Forbidden: sendInitialEvents requires setting allowWatchBookmarks=true"
                            .into(),
                    field: "allowWatchBookmarks".into(),
                }],
            ));
        }
        if q.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
            return Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", vec![crate::status::Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
                field: "resourceVersionMatch".into(),
            }]));
        }
    }
    let timeout = match q.get("timeoutSeconds").and_then(|v| v.parse::<u64>().ok()) {
        Some(secs) if secs > 0 => Duration::from_secs(secs),
        _ => Duration::from_secs(1800 + rand::random_range(0..1800)),
    };
    let start = WatchStart {
        resource_version: q.get("resourceVersion").cloned(),
        send_initial_events: send_initial,
    };
    let feed = app.registry.watch(d.clone(), ns, filter, &start).await?;
    let metadata_only = call.output == Output::Metadata;
    let table = match call.output {
        Output::Table { beta } => Some((beta, codec::include_object(q))),
        _ => None,
    };
    let owes_initial_end = send_initial == Some(true);
    let start_revision = feed.start_revision;
    let mut events = feed.events;
    let body = async_stream::stream! {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        let mut last_revision = start_revision;
        let mut headers_sent = false;
        let mut initial_pending = owes_initial_end;
        loop {
            // The initial burst ends where live events begin: the first event past the start
            // revision, or the moment no event is ready.
            let next = if initial_pending {
                match tokio::time::timeout(Duration::from_millis(0), events.next()).await {
                    Ok(item) => item,
                    Err(_) => {
                        initial_pending = false;
                        yield Ok::<Bytes, std::io::Error>(bookmark(&d, start_revision, true));
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    item = events.next() => item,
                    _ = ticker.tick(), if bookmarks => {
                        yield Ok(bookmark(&d, last_revision, false));
                        continue;
                    }
                    _ = &mut deadline => break,
                }
            };
            let Some(item) = next else { break };
            if initial_pending && item.revision > start_revision {
                initial_pending = false;
                yield Ok(bookmark(&d, start_revision, true));
            }
            if item.kind != WatchType::Error {
                last_revision = last_revision.max(item.revision);
            }
            let is_error = item.kind == WatchType::Error;
            let item = if metadata_only && item.kind != WatchType::Error {
                WatchItem { object: codec::partial_metadata(&item.object), ..item }
            } else {
                item
            };
            yield Ok(encode_event(&d, &item, table, &mut headers_sent));
            if is_error {
                break;
            }
        }
    };
    Ok(streaming(Body::from_stream(body), "application/json"))
}

fn bookmark(d: &ResourceDescriptor, revision: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({"kind": d.kind, "apiVersion": d.api_version(), "metadata": metadata});
    frame("BOOKMARK", &serde_json::to_vec(&object).unwrap_or_default())
}

fn encode_event(
    d: &ResourceDescriptor,
    item: &WatchItem,
    table: Option<(bool, ferrokube_apimachinery::printers::IncludeObject)>,
    headers_sent: &mut bool,
) -> Bytes {
    match (table, item.kind) {
        (Some((beta, include)), WatchType::Added | WatchType::Modified | WatchType::Deleted) => {
            let obj: Value = serde_json::from_slice(&item.object).unwrap_or(Value::Null);
            let mut t = table_of(d, &[&obj], include, beta, None);
            // Upstream sends column definitions with the first event only.
            if *headers_sent {
                t["columnDefinitions"] = json!([]);
            }
            *headers_sent = true;
            frame(
                item.kind.as_str(),
                &serde_json::to_vec(&t).unwrap_or_default(),
            )
        }
        _ => frame(item.kind.as_str(), &item.object),
    }
}

/// `{"type":"<T>","object":<object>}\n` without re-encoding the object.
fn frame(kind: &str, object: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(object.len() + 32);
    buf.put_slice(b"{\"type\":\"");
    buf.put_slice(kind.as_bytes());
    buf.put_slice(b"\",\"object\":");
    buf.put_slice(object);
    buf.put_slice(b"}\n");
    buf.freeze()
}
