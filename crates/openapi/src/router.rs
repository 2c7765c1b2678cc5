//! HTTP handlers for `/openapi/v2`, `/openapi/v3` and `/openapi/v3/{group-version}`, answering
//! with the headers and status codes kube-openapi's handlers use.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

use crate::documents::Documents;
use crate::gzip;

/// What the handlers serve: the documents and the gzip forms made of them so far.
struct Served {
    docs: Arc<Documents>,
    gzip: gzip::Cache,
}

type Shared = State<Arc<Served>>;

/// JSON, the one v3 encoding served (v3 protobuf is not; those Accepts get 406).
const JSON: &str = "application/json";
/// The gnostic OpenAPIv2 protobuf media type client-go asks for first on `/openapi/v2`.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The newer spelling of the same v2 protobuf media type, the one responses carry.
pub const V2_PROTOBUF_ALT: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// How long a hash-addressed v3 document may be cached: upstream says one year.
const ONE_YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Routes `GET /openapi/v2`, `GET /openapi/v3` and `GET /openapi/v3/{*gv}` over the documents.
pub fn router(docs: Arc<Documents>) -> Router {
    Router::new()
        .route("/openapi/v2", get(serve_v2))
        .route("/openapi/v3", get(serve_v3_root))
        .route("/openapi/v3/{*group_version}", get(serve_v3_group_version))
        .with_state(Arc::new(Served {
            docs,
            gzip: gzip::Cache::default(),
        }))
}

/// One `Accept` clause: type, subtype and quality.
#[derive(Debug, PartialEq)]
struct Clause {
    media: String,
    quality: f32,
}

/// Parses an Accept header into clauses ordered by preference (quality, then header order);
/// a missing header means `*/*`.
fn parse_accept(headers: &HeaderMap) -> Vec<Clause> {
    let raw = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let raw = if raw.trim().is_empty() { "*/*" } else { &raw };
    let mut clauses: Vec<Clause> = raw
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let mut quality = 1.0;
            for param in pieces {
                if let Some((key, value)) = param.split_once('=') {
                    if key.trim() == "q" {
                        quality = value.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            Some(Clause { media, quality })
        })
        .filter(|clause| clause.quality > 0.0)
        .collect();
    clauses.sort_by(|a, b| b.quality.total_cmp(&a.quality));
    clauses
}

/// Whether an Accept clause admits `offered` (`*/*`, `type/*` or exact).
fn admits(clause: &str, offered: &str) -> bool {
    if clause == "*/*" || clause == offered {
        return true;
    }
    match (clause.split_once('/'), offered.split_once('/')) {
        (Some((ct, "*")), Some((ot, _))) => ct == ot,
        _ => false,
    }
}

/// Picks the first offered media type the client's preferences admit.
fn negotiate<'a>(headers: &HeaderMap, offered: &[&'a str]) -> Option<&'a str> {
    parse_accept(headers)
        .iter()
        .find_map(|clause| offered.iter().find(|o| admits(&clause.media, o)).copied())
}

fn quoted(hash: &str) -> String {
    format!("\"{hash}\"")
}

/// Whether `If-None-Match` already names this ETag (so the answer is 304).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag)
        })
}

fn status(code: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A 200 with body, content type and ETag (gzipped when the client takes it and the body is
/// large), or a 304 when the client's copy is current.
fn content(
    served: &Served,
    headers: &HeaderMap,
    body: Bytes,
    content_type: &str,
    etag: &str,
) -> Response {
    let quoted_etag = quoted(etag);
    let mut response = if not_modified(headers, &quoted_etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let compressed = gzip::accepted(headers)
            .then(|| served.gzip.get(&format!("{content_type} {etag}"), &body))
            .flatten();
        match compressed {
            Some(gz) => {
                let mut r = Response::new(Body::from(gz));
                let out = r.headers_mut();
                out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                out.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
                r
            }
            None => Response::new(Body::from(body)),
        }
    };
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        out.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&quoted_etag) {
        out.insert(header::ETAG, value);
    }
    response
}

async fn serve_v2(State(served): Shared, headers: HeaderMap) -> Response {
    let docs = &served.docs;
    let Some(media) = negotiate(&headers, &[JSON, V2_PROTOBUF, V2_PROTOBUF_ALT]) else {
        return status(StatusCode::NOT_ACCEPTABLE, "406 not acceptable\n");
    };
    let mut response = if media == JSON {
        content(&served, &headers, docs.v2.json.clone(), JSON, &docs.v2.hash)
    } else {
        // Upstream answers with the dotted spelling: Go's mime parser rejects the `@` form.
        content(
            &served,
            &headers,
            docs.v2_protobuf.clone(),
            V2_PROTOBUF_ALT,
            &docs.v2.hash,
        )
    };
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    response
}

async fn serve_v3_root(State(served): Shared, headers: HeaderMap) -> Response {
    let docs = &served.docs;
    content(
        &served,
        &headers,
        docs.v3_root.json.clone(),
        JSON,
        &docs.v3_root.hash,
    )
}

/// The `hash` query parameter, if present (hex, so no percent-decoding is needed).
fn hash_param(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("hash="))
        .filter(|hash| !hash.is_empty())
}

async fn serve_v3_group_version(
    State(served): Shared,
    Path(group_version): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let group_version = group_version.trim_matches('/');
    let Some(doc) = served.docs.v3.get(group_version) else {
        return status(StatusCode::NOT_FOUND, "404 page not found\n");
    };
    if negotiate(&headers, &[JSON]).is_none() {
        let mut response = status(StatusCode::NOT_ACCEPTABLE, "406 not acceptable\n");
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept"));
        return response;
    }
    let mut response = match hash_param(query.as_deref()) {
        // A stale hash is redirected to the current one, as upstream does.
        Some(hash) if hash != doc.hash => {
            let location = format!("/openapi/v3/{group_version}?hash={}", doc.hash);
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Some(_) => {
            let mut response = content(&served, &headers, doc.json.clone(), JSON, &doc.hash);
            let out = response.headers_mut();
            out.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, immutable"),
            );
            let expires = httpdate::fmt_http_date(SystemTime::now() + ONE_YEAR);
            if let Ok(value) = HeaderValue::from_str(&expires) {
                out.insert(header::EXPIRES, value);
            }
            response
        }
        None => content(&served, &headers, doc.json.clone(), JSON, &doc.hash),
    };
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn negotiation_follows_quality_and_wildcards() {
        let offered = [JSON, V2_PROTOBUF];
        assert_eq!(negotiate(&HeaderMap::new(), &offered), Some(JSON));
        assert_eq!(negotiate(&accept(V2_PROTOBUF), &offered), Some(V2_PROTOBUF));
        assert_eq!(
            negotiate(&accept("application/json, */*"), &offered),
            Some(JSON)
        );
        assert_eq!(
            negotiate(&accept("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), &offered),
            Some(V2_PROTOBUF)
        );
        assert_eq!(negotiate(&accept("application/*"), &offered), Some(JSON));
        assert_eq!(negotiate(&accept("text/html"), &offered), None);
        assert_eq!(negotiate(&accept("application/json;q=0"), &offered), None);
    }

    #[test]
    fn if_none_match_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"B\""),
        );
        assert!(not_modified(&headers, "\"B\""));
        assert!(not_modified(&headers, "\"a\""));
        assert!(!not_modified(&headers, "\"c\""));
    }

    #[test]
    fn hash_parameter() {
        assert_eq!(hash_param(Some("hash=AB12&timeout=32s")), Some("AB12"));
        assert_eq!(hash_param(Some("timeout=32s")), None);
        assert_eq!(hash_param(None), None);
        assert_eq!(hash_param(Some("hash=")), None);
    }
}
