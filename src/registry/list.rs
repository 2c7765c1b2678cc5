//! Lists: selectors, pagination with opaque continue tokens, reads at a revision.

use base64::Engine;
use bytes::Bytes;
use ferrokube_store::{RangeRequest, Revision};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::descriptor::ResourceDescriptor;
use super::filter::Filter;
use super::Registry;
use crate::status::{ApiError, ApiResult};

/// The list query parameters the registry uses.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Label and field selectors.
    pub filter: Filter,
    /// `limit` (0 = all).
    pub limit: usize,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// A page of a list.
#[derive(Clone, Debug)]
pub struct ListPage {
    /// Matching objects, in key order.
    pub items: Vec<Bytes>,
    /// The revision the list was read at (the list's resourceVersion).
    pub revision: Revision,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// How many more objects follow (only without selectors, as upstream).
    pub remaining: Option<usize>,
}

/// The continue token: where the next page starts and at which revision; base64 JSON like upstream's.
#[derive(Serialize, Deserialize)]
struct ContinueToken {
    v: String,
    /// The revision the list reads at; -1 (upstream's value) continues at the latest one.
    rv: i64,
    start: String,
}

/// The `rv` of a token that continues at the latest revision (upstream's `-1`).
const LATEST: i64 = -1;

/// Upstream's message for a continue token older than the compacted revision.
const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_continue(rv: i64, start: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.to_string(),
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let bad =
        || ApiError::bad_request("continue key is not valid: the continue token is malformed");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let token: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if token.v != "meta.k8s.io/v1" {
        return Err(bad());
    }
    Ok(token)
}

impl Registry {
    /// Lists objects of a kind in a namespace (or all namespaces).
    pub async fn list(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        if opts.filter.needs_served_fields(d) {
            return self.list_served_fields(d, ns, opts).await;
        }
        let mut page = self.list_stored(d, ns, opts).await?;
        // One conversion for the whole page (one review when the CRD has a webhook).
        page.items = super::convert::served_all(&self.store, d, page.items).await?;
        Ok(page)
    }

    /// A list whose field selector names fields of a webhook-converted version: labels select
    /// among the stored objects, fields among the converted ones (a page may then hold fewer
    /// than `limit` items, which the API allows).
    async fn list_served_fields(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        let by_labels = ListOptions {
            filter: opts.filter.labels_only(),
            ..opts.clone()
        };
        let mut page = self.list_stored(d, ns, &by_labels).await?;
        let served = super::convert::served_all(&self.store, d, page.items).await?;
        page.items = served
            .into_iter()
            .filter(|b| {
                serde_json::from_slice::<Value>(b).is_ok_and(|o| opts.filter.fields_match(d, &o))
            })
            .collect();
        Ok(page)
    }

    /// [`Registry::list`] with the items as stored.
    async fn list_stored(
        &self,
        d: &ResourceDescriptor,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        let prefix = d.namespace_prefix(ns);
        let (mut start, mut revision) = (String::new(), 0);
        // Upstream parses resourceVersion first: a malformed one is a 400, never ignored.
        let requested_rv = super::meta::parse_rv(opts.resource_version.as_deref())
            .map_err(ApiError::bad_request)?;
        if let Some(token) = opts.continue_token.as_deref().filter(|t| !t.is_empty()) {
            if opts
                .resource_version
                .as_deref()
                .is_some_and(|rv| !rv.is_empty())
            {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let token = decode_continue(token)?;
            if !token.start.starts_with(&prefix) {
                return Err(ApiError::bad_request(
                    "continue key is not valid: the continue token does not belong to this list",
                ));
            }
            if token.rv != LATEST {
                revision = Revision::try_from(token.rv).map_err(|_| {
                    ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
                })?;
                if revision < self.store.compacted_revision() {
                    // As upstream: the remainder is offered at the latest revision instead.
                    let mut expired = ApiError::expired(INCONSISTENT_CONTINUE);
                    expired.continue_token = Some(encode_continue(LATEST, &token.start));
                    return Err(expired);
                }
            }
            start = token.start;
        } else if opts.resource_version_match.as_deref() == Some("Exact") {
            revision = requested_rv.ok_or_else(|| {
                ApiError::bad_request("resourceVersionMatch=Exact requires a resourceVersion")
            })?;
        }
        let everything = opts.filter.is_everything();
        let mut items = Vec::new();
        loop {
            // 0 reads everything; otherwise read only what the page still lacks (never 0 here:
            // the loop returns as soon as the page is full).
            let want = opts.limit.saturating_sub(items.len());
            let page = self
                .store
                .range(RangeRequest {
                    prefix: prefix.clone(),
                    start: start.clone(),
                    limit: want,
                    revision,
                })
                .await?;
            revision = page.revision;
            let fetched = page.items.len();
            let last_key = page.items.last().map(|kv| kv.key.clone());
            for kv in page.items {
                if everything || self.item_matches(d, &opts.filter, &kv.value) {
                    items.push(kv.value);
                }
            }
            let more = page.remaining > 0;
            let full = opts.limit > 0 && items.len() >= opts.limit;
            if !more || opts.limit == 0 || fetched == 0 {
                return Ok(ListPage {
                    items,
                    revision,
                    continue_token: None,
                    remaining: None,
                });
            }
            let next = format!("{}\u{0}", last_key.unwrap_or_default());
            if full {
                return Ok(ListPage {
                    items,
                    revision,
                    continue_token: Some(encode_continue(revision as i64, &next)),
                    remaining: everything.then_some(page.remaining),
                });
            }
            start = next;
        }
    }

    fn item_matches(&self, d: &ResourceDescriptor, filter: &Filter, value: &Bytes) -> bool {
        serde_json::from_slice::<Value>(value).is_ok_and(|obj| filter.matches(d, &obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "/core/configmaps/default/b\u{0}");
        let back = decode_continue(&t).unwrap();
        assert_eq!(back.rv, 42);
        assert_eq!(back.start, "/core/configmaps/default/b\u{0}");
        assert!(decode_continue("not base64!").is_err());
        assert!(decode_continue(&base64::engine::general_purpose::STANDARD.encode(b"{}")).is_err());
    }
}
