//! Watch: initial state (when asked), then store events filtered by selectors, with upstream's
//! rule that an object entering or leaving the selection is seen as ADDED or DELETED.

use std::sync::Arc;

use bytes::Bytes;
use ferrokube_store::{EventKind, RangeRequest, Revision};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;

use super::descriptor::ResourceDescriptor;
use super::filter::Filter;
use super::Registry;
use crate::status::{ApiError, ApiResult};

/// The type of one watch event on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchType {
    /// ADDED
    Added,
    /// MODIFIED
    Modified,
    /// DELETED
    Deleted,
    /// BOOKMARK
    Bookmark,
    /// ERROR (the object is a Status)
    Error,
}

impl WatchType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchType::Added => "ADDED",
            WatchType::Modified => "MODIFIED",
            WatchType::Deleted => "DELETED",
            WatchType::Bookmark => "BOOKMARK",
            WatchType::Error => "ERROR",
        }
    }
}

/// One event for a watcher.
#[derive(Clone, Debug)]
pub struct WatchItem {
    /// Event type.
    pub kind: WatchType,
    /// The object's JSON (a Status for ERROR; a bare object with resourceVersion for BOOKMARK).
    pub object: Bytes,
    /// The revision this event brings the watcher to.
    pub revision: Revision,
}

/// Where a watch starts.
#[derive(Clone, Debug)]
pub struct WatchStart {
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
}

/// What produces the events of one watch: the stream, and the revision it started at.
pub struct WatchFeed {
    /// Events in order.
    pub events: BoxStream<'static, WatchItem>,
    /// Revision of the initial state (for the initial-events-end bookmark).
    pub start_revision: Revision,
    /// Whether initial events are sent (and so an initial-events-end bookmark is owed).
    pub initial_events: bool,
}

impl Registry {
    /// Starts a watch on a kind in a namespace (or all), filtered.
    pub async fn watch(
        &self,
        d: Arc<ResourceDescriptor>,
        ns: Option<&str>,
        filter: Filter,
        start: &WatchStart,
    ) -> ApiResult<WatchFeed> {
        let prefix = d.namespace_prefix(ns);
        // Fields of a webhook-converted version are matched after conversion (see `Filter`).
        let served_fields = filter.needs_served_fields(&d);
        let stored_filter = if served_fields {
            filter.labels_only()
        } else {
            filter.clone()
        };
        let rv = super::meta::parse_rv(start.resource_version.as_deref())
            .map_err(ApiError::bad_request)?;
        let rv_is_zero = start.resource_version.as_deref() == Some("0");
        // Upstream: with no RV or RV "0", the watch begins with the current state as ADDED events;
        // sendInitialEvents makes that explicit (and may be combined with an RV).
        let initial = start
            .send_initial_events
            .unwrap_or(rv.is_none() || rv_is_zero);
        let (initial_items, from) = if initial {
            let page = self
                .store
                .range(RangeRequest {
                    prefix: prefix.clone(),
                    start: String::new(),
                    limit: 0,
                    revision: 0,
                })
                .await?;
            let (stored, revisions): (Vec<Bytes>, Vec<Revision>) = page
                .items
                .into_iter()
                .filter(|kv| {
                    stored_filter.is_everything()
                        || parse(&kv.value).is_some_and(|o| stored_filter.matches(&d, &o))
                })
                .map(|kv| (kv.value, kv.mod_revision))
                .unzip();
            // The initial state converts like a list: in one review.
            let served = super::convert::served_all(&self.store, &d, stored).await?;
            let items: Vec<WatchItem> = served
                .into_iter()
                .zip(revisions)
                .filter(|(object, _)| {
                    !served_fields || parse(object).is_some_and(|o| filter.fields_match(&d, &o))
                })
                .map(|(object, revision)| WatchItem {
                    kind: WatchType::Added,
                    object,
                    revision,
                })
                .collect();
            (items, page.revision)
        } else {
            match rv {
                Some(rv) if rv > 0 => (Vec::new(), rv),
                _ => (Vec::new(), self.store.current_revision()),
            }
        };
        let live = match self.store.watch(&prefix, from) {
            Ok(live) => live,
            // Upstream's watch cache answers an expired resourceVersion with a 200 stream whose
            // only event is a 410 ERROR, not an HTTP 410: kube-rs's watcher relists only on the
            // event form and would retry an HTTP 410 forever.
            Err(err @ ferrokube_store::StoreError::Compacted { .. }) => {
                let status = ApiError::from(err).to_status();
                let item = WatchItem {
                    kind: WatchType::Error,
                    object: Bytes::from(serde_json::to_vec(&status).unwrap_or_default()),
                    revision: 0,
                };
                return Ok(WatchFeed {
                    events: stream::iter([item]).boxed(),
                    start_revision: from,
                    initial_events: false,
                });
            }
            Err(other) => return Err(ApiError::from(other)),
        };
        let store = self.store.clone();
        let live = if served_fields {
            live.then(move |event| {
                translate_served(store.clone(), d.clone(), filter.clone(), event)
            })
            .filter_map(futures::future::ready)
            .boxed()
        } else {
            let everything = filter.is_everything();
            let descriptor = d.clone();
            live.filter_map(move |event| {
                let item = match event {
                    Ok(event) => translate(&descriptor, &filter, everything, &event),
                    Err(err) => Some(error_item(&err)),
                };
                futures::future::ready(item)
            })
            .then(move |item| serve(store.clone(), d.clone(), item))
            .boxed()
        };
        Ok(WatchFeed {
            events: stream::iter(initial_items).chain(live).boxed(),
            start_revision: from,
            initial_events: initial,
        })
    }
}

fn parse(bytes: &Bytes) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

/// The ERROR event a broken store watch ends with: 410 when the watcher fell too far behind.
fn error_item(err: &ferrokube_store::StoreError) -> WatchItem {
    let status = match err {
        ferrokube_store::StoreError::WatcherTooSlow
        | ferrokube_store::StoreError::Compacted { .. } => {
            ApiError::expired("too old resource version: the watcher fell behind").to_status()
        }
        other => ApiError::internal(other.to_string()).to_status(),
    };
    let mut status = status;
    status["code"] = serde_json::json!(if status["reason"] == "Expired" {
        410
    } else {
        500
    });
    WatchItem {
        kind: WatchType::Error,
        object: Bytes::from(serde_json::to_vec(&status).unwrap_or_default()),
        revision: 0,
    }
}

/// A live event's object as the watched version serves it; each event converts on its own. A
/// conversion that fails becomes an ERROR event carrying its Status.
async fn serve(
    store: ferrokube_store::Store,
    d: Arc<ResourceDescriptor>,
    mut item: WatchItem,
) -> WatchItem {
    if item.kind == WatchType::Error {
        return item;
    }
    match super::convert::served(&store, &d, item.object.clone()).await {
        Ok(object) => item.object = object,
        Err(e) => {
            item = WatchItem {
                kind: WatchType::Error,
                object: Bytes::from(serde_json::to_vec(&e.to_status()).unwrap_or_default()),
                revision: 0,
            }
        }
    }
    item
}

/// A store event through a filter whose fields name a webhook-converted version: the new and
/// the previous object are converted together (one review), then matched as [`translate`] does
/// — labels and fields — so an object whose converted fields stop matching is DELETED for the
/// watcher. The item carries the served object.
async fn translate_served(
    store: ferrokube_store::Store,
    d: Arc<ResourceDescriptor>,
    filter: Filter,
    event: Result<Arc<ferrokube_store::Event>, ferrokube_store::StoreError>,
) -> Option<WatchItem> {
    let event = match event {
        Ok(event) => event,
        Err(err) => return Some(error_item(&err)),
    };
    let mut stored = vec![event.value.clone()];
    stored.extend(event.prev.clone());
    let served = match super::convert::served_all(&store, &d, stored).await {
        Ok(served) => served,
        Err(e) => {
            return Some(WatchItem {
                kind: WatchType::Error,
                object: Bytes::from(serde_json::to_vec(&e.to_status()).unwrap_or_default()),
                revision: 0,
            })
        }
    };
    let passes = |b: &Bytes| parse(b).is_some_and(|o| filter.matches(&d, &o));
    let now = served.first().is_some_and(passes);
    let before = served.get(1).is_some_and(passes);
    let kind = transition(&event.kind, before, now)?;
    Some(WatchItem {
        kind,
        object: served.into_iter().next()?,
        revision: event.revision,
    })
}

/// What a watcher whose filter passed the object `before` and `now` sees of a store event.
fn transition(kind: &EventKind, before: bool, now: bool) -> Option<WatchType> {
    match (kind, before, now) {
        (EventKind::Added, _, true) => Some(WatchType::Added),
        (EventKind::Deleted, _, true) => Some(WatchType::Deleted),
        (EventKind::Modified, true, true) => Some(WatchType::Modified),
        (EventKind::Modified, false, true) => Some(WatchType::Added),
        (EventKind::Modified, true, false) => Some(WatchType::Deleted),
        _ => None,
    }
}

/// A store event as the watcher sees it through its filter (the object still as stored).
fn translate(
    d: &ResourceDescriptor,
    filter: &Filter,
    everything: bool,
    event: &ferrokube_store::Event,
) -> Option<WatchItem> {
    let kind = match event.kind {
        EventKind::Added => WatchType::Added,
        EventKind::Modified => WatchType::Modified,
        EventKind::Deleted => WatchType::Deleted,
    };
    if everything {
        return Some(WatchItem {
            kind,
            object: event.value.clone(),
            revision: event.revision,
        });
    }
    let now = parse(&event.value).is_some_and(|o| filter.matches(d, &o));
    let before = event
        .prev
        .as_ref()
        .and_then(parse)
        .is_some_and(|o| filter.matches(d, &o));
    let kind = transition(&event.kind, before, now)?;
    Some(WatchItem {
        kind,
        object: event.value.clone(),
        revision: event.revision,
    })
}
