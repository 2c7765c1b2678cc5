//! Content negotiation: request bodies in (JSON, YAML, protobuf), responses out (JSON, Table,
//! protobuf), and `Status` errors.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ferrokube_apimachinery::body;
use ferrokube_apimachinery::printers::IncludeObject;
use serde_json::Value;

use crate::registry::patch::PatchBody;
use crate::status::{ApiError, ApiResult};

/// Largest request body accepted (upstream's limit is 3 MiB for most writes).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The media type part of a Content-Type (lowercased, parameters dropped).
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes an object body by its Content-Type.
pub fn decode_object(content_type: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    let media = media_type(content_type);
    match media.as_str() {
        "application/json" | "" | "*/*" => decode_json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode_yaml(body),
        PROTOBUF => ferrokube_protobuf::decode(body)
            .map_err(|e| ApiError::bad_request(format!("unable to decode protobuf body: {e}"))),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

fn decode_json(body: &[u8]) -> ApiResult<Value> {
    body::decode_json(body).map_err(ApiError::bad_request)
}

fn decode_yaml(body: &[u8]) -> ApiResult<Value> {
    body::decode_yaml(body).map_err(ApiError::bad_request)
}

/// Decodes a PATCH body by its Content-Type.
pub fn decode_patch(content_type: Option<&str>, body: &[u8], force: bool) -> ApiResult<PatchBody> {
    let media = media_type(content_type);
    match media.as_str() {
        "application/json-patch+json" => {
            let v = decode_json(body)?;
            if !v.is_array() {
                return Err(ApiError::bad_request("json patch must be an array of operations"));
            }
            Ok(PatchBody::Json(v))
        }
        "application/merge-patch+json" => Ok(PatchBody::Merge(decode_json(body)?)),
        "application/strategic-merge-patch+json" => Ok(PatchBody::Strategic(decode_json(body)?)),
        "application/apply-patch+yaml" => {
            let config = decode_yaml(body)?;
            if !config.is_object() {
                return Err(ApiError::bad_request("the apply patch must be a YAML or JSON object"));
            }
            Ok(PatchBody::Apply { config, force })
        }
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"),
        )),
    }
}

/// The representation a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Plain JSON.
    Json,
    /// A meta.k8s.io Table (version v1 or v1beta1, as asked).
    Table { beta: bool },
    /// Kubernetes protobuf.
    Protobuf,
    /// meta.k8s.io PartialObjectMetadata (`list: false`) or PartialObjectMetadataList
    /// (`list: true`): metadata only.
    Metadata { list: bool },
}

/// Picks the response representation from the Accept header, in the client's order.
pub fn negotiate(accept: Option<&str>) -> ApiResult<Output> {
    negotiate_with(accept, true, true)
}

/// [`negotiate`] for kinds served without protobuf (custom resources): protobuf entries are
/// passed over, and an Accept naming nothing else is 406.
pub fn negotiate_without_protobuf(accept: Option<&str>) -> ApiResult<Output> {
    negotiate_with(accept, false, true)
}

/// [`negotiate`] for kinds with no table or metadata form (the create-only reviews, which keep
/// no object): Table and PartialObjectMetadata entries are passed over, so asking only for
/// them is upstream's 406.
pub fn negotiate_untransformed(accept: Option<&str>) -> ApiResult<Output> {
    negotiate_with(accept, true, false)
}

fn negotiate_with(accept: Option<&str>, protobuf: bool, transforms: bool) -> ApiResult<Output> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        let param = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        match (media.as_str(), param("as")) {
            ("application/json", Some(_)) if !transforms => continue,
            ("application/json", Some("Table")) if param("g") == Some("meta.k8s.io") => {
                return Ok(Output::Table {
                    beta: param("v") == Some("v1beta1"),
                })
            }
            (
                "application/json",
                Some(as_kind @ ("PartialObjectMetadata" | "PartialObjectMetadataList")),
            ) if param("g") == Some("meta.k8s.io") && param("v") == Some("v1") => {
                return Ok(Output::Metadata {
                    list: as_kind == "PartialObjectMetadataList",
                })
            }
            ("application/json", Some(_)) => continue,
            ("application/json" | "*/*" | "application/*" | "application/yaml", None) => {
                return Ok(Output::Json)
            }
            (PROTOBUF, None) if protobuf => return Ok(Output::Protobuf),
            _ => continue,
        }
    }
    Err(ApiError::new(406, "NotAcceptable", format!("only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {accept:?})")))
}

/// The `includeObject` query parameter for Tables (default Metadata, as upstream).
pub fn include_object(q: &std::collections::HashMap<String, String>) -> IncludeObject {
    q.get("includeObject")
        .and_then(|v| IncludeObject::parse(v))
        .unwrap_or(IncludeObject::Metadata)
}

/// A JSON response from already-encoded bytes.
pub fn json_bytes(code: StatusCode, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response of a value.
pub fn json_value(code: StatusCode, value: &Value) -> Response {
    json_bytes(
        code,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

/// An object response in the negotiated representation (Tables are built by the caller;
/// a metadata-only request for a single object gets its PartialObjectMetadata).
pub fn object_response(code: StatusCode, body: Bytes, output: Output) -> Response {
    if output == (Output::Metadata { list: false }) {
        return json_bytes(code, partial_metadata(&body));
    }
    if output == Output::Protobuf {
        if let Ok(value) = serde_json::from_slice::<Value>(&body) {
            if let Ok(encoded) = ferrokube_protobuf::encode(&value) {
                let mut resp = Response::new(Body::from(encoded));
                *resp.status_mut() = code;
                resp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
                return resp;
            }
        }
    }
    json_bytes(code, body)
}

/// The PartialObjectMetadata form of a stored object (metadata-only requests).
pub fn partial_metadata(object: &[u8]) -> Bytes {
    /// Only `metadata` is kept as raw JSON; every other field is skipped by the parser without
    /// being built (metadata watches see every event of a kind, e.g. the garbage collector's).
    #[derive(serde::Deserialize)]
    struct MetadataOnly<'a> {
        #[serde(borrow)]
        metadata: Option<&'a serde_json::value::RawValue>,
    }
    let metadata = serde_json::from_slice::<MetadataOnly>(object)
        .ok()
        .and_then(|o| o.metadata)
        .map_or("{}", |raw| raw.get());
    let mut out = Vec::with_capacity(metadata.len() + 80);
    out.extend_from_slice(
        br#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#,
    );
    out.extend_from_slice(metadata.as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// Adds `Warning: 299 - "<text>"` headers.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_value(code, &self.to_status())
    }
}

/// The value of a header as a string.
pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(kubectl_get)).unwrap(),
            Output::Table { beta: false }
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf,application/json")).unwrap(),
            Output::Protobuf
        );
        assert_eq!(
            negotiate(Some("application/json, */*")).unwrap(),
            Output::Json
        );
        assert_eq!(negotiate(None).unwrap(), Output::Json);
        let meta =
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            negotiate(Some(meta)).unwrap(),
            Output::Metadata { list: true }
        );
        let single = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        assert_eq!(
            negotiate(Some(single)).unwrap(),
            Output::Metadata { list: false }
        );
        assert_eq!(negotiate(Some("text/html")).unwrap_err().code, 406);
    }

    #[test]
    fn custom_resources_skip_protobuf() {
        assert_eq!(
            negotiate_without_protobuf(Some(
                "application/vnd.kubernetes.protobuf,application/json"
            ))
            .unwrap(),
            Output::Json
        );
        assert_eq!(
            negotiate_without_protobuf(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code,
            406
        );
    }

    #[test]
    fn partial_metadata_keeps_only_metadata() {
        let obj = br#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","labels":{"a":"1"}},"spec":{"containers":[]}}"#;
        let partial: Value = serde_json::from_slice(&partial_metadata(obj)).unwrap();
        assert_eq!(
            partial,
            serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": {"name": "p", "labels": {"a": "1"}}})
        );
        let empty: Value = serde_json::from_slice(&partial_metadata(b"{}")).unwrap();
        assert_eq!(empty["metadata"], serde_json::json!({}));
    }

    #[test]
    fn bodies_decode_or_fail_with_400() {
        assert!(decode_object(Some("application/json"), b"{\"a\":1}").is_ok());
        assert_eq!(
            decode_object(Some("application/json"), b"{nope")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: [1")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            decode_object(Some("application/yaml"), b"a: 1\nb: x\n").unwrap()["b"],
            "x"
        );
        assert_eq!(
            decode_object(Some("text/plain"), b"x").unwrap_err().code,
            415
        );
    }
}
