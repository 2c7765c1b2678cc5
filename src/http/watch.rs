//! Watch over HTTP: a chunked stream of `{"type":...,"object":...}` lines, with bookmarks,
//! the WatchList initial-events-end bookmark, timeouts, and Table rendering when asked.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::{FutureExt, StreamExt};
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
/// Ready events are coalesced into one body chunk up to about this many bytes.
const MAX_CHUNK: usize = 64 * 1024;

/// Turns watch items into wire frames, tracking what the stream owes its client.
struct Framer {
    d: Arc<ResourceDescriptor>,
    table: Option<(bool, ferrokube_apimachinery::printers::IncludeObject)>,
    metadata_only: bool,
    headers_sent: bool,
    start_revision: u64,
    last_revision: u64,
    /// An initial-events-end bookmark is owed once the initial state has been sent.
    initial_pending: bool,
}

impl Framer {
    /// Appends `item`'s frame (preceded by the initial-events-end bookmark when it is the
    /// first live event); returns whether the stream ends after it.
    fn push(&mut self, item: WatchItem, out: &mut BytesMut) -> bool {
        if item.revision > self.start_revision {
            self.end_initial(out);
        }
        let is_error = item.kind == WatchType::Error;
        if !is_error {
            self.last_revision = self.last_revision.max(item.revision);
        }
        let item = if self.metadata_only && !is_error {
            WatchItem {
                object: codec::partial_metadata(&item.object),
                ..item
            }
        } else {
            item
        };
        out.extend_from_slice(&encode_event(
            &self.d,
            &item,
            self.table,
            &mut self.headers_sent,
        ));
        is_error
    }

    /// Appends the initial-events-end bookmark if it is still owed.
    fn end_initial(&mut self, out: &mut BytesMut) {
        if self.initial_pending {
            self.initial_pending = false;
            out.extend_from_slice(&bookmark(&self.d, self.start_revision, true));
        }
    }
}

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
    let table = match call.output {
        Output::Table { beta } => Some((beta, codec::include_object(q))),
        _ => None,
    };
    let mut framer = Framer {
        d,
        table,
        metadata_only: matches!(call.output, Output::Metadata { .. }),
        headers_sent: false,
        start_revision: feed.start_revision,
        last_revision: feed.start_revision,
        initial_pending: send_initial == Some(true),
    };
    let mut events = feed.events;
    let body = async_stream::stream! {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            // The initial burst ends where live events begin: the first event past the start
            // revision, or the moment no event is ready.
            let next = if framer.initial_pending {
                match events.next().now_or_never() {
                    Some(item) => item,
                    None => {
                        let mut chunk = BytesMut::new();
                        framer.end_initial(&mut chunk);
                        yield Ok::<Bytes, std::io::Error>(chunk.freeze());
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    item = events.next() => item,
                    _ = ticker.tick(), if bookmarks => {
                        yield Ok(bookmark(&framer.d, framer.last_revision, false));
                        continue;
                    }
                    _ = &mut deadline => break,
                }
            };
            let Some(item) = next else { break };
            // Events that are already waiting go out in one chunk: one write (and one TLS
            // record) for a burst instead of one per event.
            let mut chunk = BytesMut::new();
            let mut ended = framer.push(item, &mut chunk);
            while !ended && chunk.len() < MAX_CHUNK {
                match events.next().now_or_never() {
                    Some(Some(item)) => ended = framer.push(item, &mut chunk),
                    Some(None) => ended = true,
                    None => {
                        framer.end_initial(&mut chunk);
                        break;
                    }
                }
            }
            yield Ok(chunk.freeze());
            if ended {
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
