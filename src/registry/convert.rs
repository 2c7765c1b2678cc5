//! Between stored bytes and the version a request speaks, for every kind: the descriptor's
//! synchronous conversion (built-in versions, CRD strategy None), or a CRD's conversion
//! webhook, which is a network call and so makes this path async. Lists are converted in one
//! review (upstream converts a list whole); objects already at the wanted version are not sent.

use bytes::Bytes;
use ferrokube_store::Store;
use serde_json::Value;

use super::descriptor::{served_custom, CustomCodec, ResourceDescriptor};
use crate::crd::conversion::ConversionWebhook;
use crate::status::{ApiError, ApiResult};

/// The custom side of `d` when its CRD converts through a webhook.
fn webhook_of(d: &ResourceDescriptor) -> Option<(&CustomCodec, &ConversionWebhook)> {
    let custom = d.custom()?;
    Some((custom, custom.webhook.as_deref()?))
}

fn api_version(obj: &Value) -> &str {
    obj.get("apiVersion").and_then(Value::as_str).unwrap_or("")
}

/// A failed conversion: upstream answers a read or write it breaks with a 500 InternalError.
fn failed(message: String) -> ApiError {
    ApiError::internal(message)
}

/// One stored object as `d`'s version serves it.
pub async fn served(store: &Store, d: &ResourceDescriptor, stored: Bytes) -> ApiResult<Bytes> {
    if webhook_of(d).is_none() {
        return Ok(d.served_bytes(stored));
    }
    let mut out = served_all(store, d, vec![stored]).await?;
    out.pop()
        .ok_or_else(|| ApiError::internal("conversion returned no object"))
}

/// Stored objects as `d`'s version serves them, in order.
pub async fn served_all(
    store: &Store,
    d: &ResourceDescriptor,
    stored: Vec<Bytes>,
) -> ApiResult<Vec<Bytes>> {
    let Some((custom, webhook)) = webhook_of(d) else {
        return Ok(stored.into_iter().map(|b| d.served_bytes(b)).collect());
    };
    let want = d.api_version();
    let mut pending = Vec::new();
    let mut sent = Vec::new();
    for (i, bytes) in stored.iter().enumerate() {
        let obj: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
        if api_version(&obj) != want {
            pending.push(i);
            sent.push(obj);
        }
    }
    let converted = webhook.convert(store, sent, &want).await.map_err(failed)?;
    let mut out: Vec<Bytes> = stored;
    for (i, obj) in pending.into_iter().zip(converted) {
        out[i] = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
    }
    // Upstream's decoder defaults after converting: the served version's defaults.
    Ok(out
        .into_iter()
        .map(|b| served_custom(custom, want.clone(), b))
        .collect())
}

/// The bytes to store for `obj` (at `d`'s version): converted to the storage version through
/// the CRD's webhook when it has one. A failing webhook fails the write; nothing is stored.
pub async fn storage(store: &Store, d: &ResourceDescriptor, obj: &Value) -> ApiResult<Vec<u8>> {
    match webhook_of(d) {
        Some((custom, webhook)) if api_version(obj) != custom.storage_api_version => {
            let mut converted = webhook
                .convert(store, vec![obj.clone()], &custom.storage_api_version)
                .await
                .map_err(failed)?;
            let obj = converted
                .pop()
                .ok_or_else(|| ApiError::internal("conversion returned no object"))?;
            Ok(serde_json::to_vec(&obj).unwrap_or_default())
        }
        _ => Ok(d.storage_bytes(obj)),
    }
}
