//! Serving a kind whose objects are computed on each read ([`ComputedKind`]): get and list in
//! every representation a stored kind offers (JSON, Table, metadata), within a namespace or
//! across them, filtered by label and field selectors as stored lists are; everything else 405.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::codec::{self, Output};
use super::request::query_bool;
use super::resources::{list_body, list_envelope, table_of, Call};
use crate::registry::descriptor::ComputedKind;
use crate::registry::filter::Filter;
use crate::registry::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};

/// Answers one request to a computed kind.
pub async fn serve(
    reg: &Registry,
    d: &ResourceDescriptor,
    computed: &ComputedKind,
    call: &Call,
) -> ApiResult<Response> {
    let watch = call.info.legacy_watch || query_bool(&call.query, "watch") == Some(true);
    if !matches!(call.method, Method::GET | Method::HEAD)
        || watch
        || call.info.subresource.is_some()
    {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            call.method,
            d.qualified()
        )));
    }
    let ns = call.info.namespace.as_deref();
    if let (Some(get), Some(name)) = (computed.get, call.info.name.as_deref()) {
        let item = get(reg, ns, name).await?;
        return one(d, vec![item], name, call);
    }
    let items = (computed.list)(reg)
        .await?
        .into_iter()
        .filter(|i| ns.is_none() || i.pointer("/metadata/namespace").and_then(Value::as_str) == ns);
    let resp = match call.info.name.as_deref() {
        Some(name) => one(d, items.collect(), name, call)?,
        None => {
            let filter = Filter::parse(
                d,
                call.query.get("labelSelector").map(String::as_str),
                call.query.get("fieldSelector").map(String::as_str),
            )?;
            let selected: Vec<Value> = items.filter(|i| filter.matches(d, i)).collect();
            many(d, &selected, call)
        }
    };
    Ok(codec::with_warnings(
        resp,
        &computed
            .warning
            .map(str::to_string)
            .into_iter()
            .collect::<Vec<_>>(),
    ))
}

fn one(d: &ResourceDescriptor, items: Vec<Value>, name: &str, call: &Call) -> ApiResult<Response> {
    let item = items
        .into_iter()
        .find(|i| i.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| ApiError::not_found(&d.group, &d.plural, name))?;
    if let Output::Table { beta } = call.output {
        let table = table_of(d, &[&item], codec::include_object(&call.query), beta, None);
        return Ok(codec::json_value(StatusCode::OK, &table));
    }
    let bytes = Bytes::from(serde_json::to_vec(&item).unwrap_or_default());
    Ok(codec::object_response(StatusCode::OK, bytes, call.output))
}

fn many(d: &ResourceDescriptor, items: &[Value], call: &Call) -> Response {
    let metadata = json!({});
    if let Output::Table { beta } = call.output {
        let refs: Vec<&Value> = items.iter().collect();
        let include = codec::include_object(&call.query);
        let table = table_of(d, &refs, include, beta, Some(metadata));
        return codec::json_value(StatusCode::OK, &table);
    }
    let encoded: Vec<Bytes> = items
        .iter()
        .map(|i| Bytes::from(serde_json::to_vec(i).unwrap_or_default()))
        .collect();
    if matches!(call.output, Output::Metadata { .. }) {
        let partial: Vec<Bytes> = encoded.iter().map(|i| codec::partial_metadata(i)).collect();
        let body = list_envelope(
            "PartialObjectMetadataList",
            "meta.k8s.io/v1",
            &metadata,
            &partial,
        );
        return codec::json_bytes(StatusCode::OK, body);
    }
    codec::object_response(
        StatusCode::OK,
        list_body(d, &metadata, &encoded),
        call.output,
    )
}
