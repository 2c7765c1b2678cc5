//! Prometheus metrics of the API server, served at `/metrics` (upstream's names and labels):
//! `apiserver_request_total` by verb, group, version, resource, subresource, scope and code,
//! `apiserver_request_duration_seconds` for requests that are not long-running, and
//! `apiserver_longrunning_requests` for open watches and streams. Recorded by one middleware
//! around the authenticated API router.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::request::{parse_path, parse_query, query_bool, ApiPath};
use super::AppState;

/// Upstream's request duration buckets (seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

/// What a request was, as the metrics label it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodedLabels {
    #[prometheus(flatten)]
    request: RequestLabels,
    code: String,
}

/// The API server's metric families and the registry that encodes them.
pub struct ApiMetrics {
    registry: Registry,
    requests: Family<CodedLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    longrunning: Family<RequestLabels, Gauge>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<CodedLabels, Counter>::default();
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(DURATION_BUCKETS.iter().copied())) as fn() -> Histogram,
        );
        let longrunning = Family::<RequestLabels, Gauge>::default();
        // prometheus-client appends `_total` to counters itself.
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
            durations.clone(),
        );
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.",
            longrunning.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            longrunning,
        }
    }
}

impl ApiMetrics {
    /// The text exposition of every family.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// A long-running request's gauge, decremented when its response (stream) is dropped.
struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The middleware: labels the request, runs it, counts it by code, and times it unless it is
/// long-running (a watch or a stream, whose gauge stays up while its body is alive).
pub async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some((labels, longrunning)) = label(&req) else {
        return next.run(req).await;
    };
    let started = Instant::now();
    let resp = next.run(req).await;
    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&CodedLabels {
            request: labels.clone(),
            code: resp.status().as_u16().to_string(),
        })
        .inc();
    if !longrunning {
        metrics
            .durations
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        return resp;
    }
    let gauge = metrics.longrunning.get_or_create(&labels).clone();
    gauge.inc();
    let open = Open(gauge);
    let (parts, body) = resp.into_parts();
    let body = axum::body::Body::from_stream(futures::StreamExt::map(
        body.into_data_stream(),
        move |chunk| {
            let _keep = &open;
            chunk
        },
    ));
    Response::from_parts(parts, body)
}

/// Upstream's verb and scope for a resource request; None for everything else (discovery,
/// OpenAPI, health), which upstream labels by path and we do not count.
fn label(req: &Request) -> Option<(RequestLabels, bool)> {
    let ApiPath::Resource(info) = parse_path(req.uri().path()) else {
        return None;
    };
    let query = parse_query(req.uri().query());
    let watch = info.legacy_watch || query_bool(&query, "watch") == Some(true);
    let connect = matches!(
        info.subresource.as_deref(),
        Some("exec" | "attach" | "portforward" | "proxy" | "log")
    );
    let apply = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/apply-patch"));
    let verb = match (req.method(), info.name.is_some()) {
        _ if watch => "WATCH",
        _ if connect => "CONNECT",
        (&Method::GET, false) => "LIST",
        (&Method::GET | &Method::HEAD, true) => "GET",
        (&Method::PATCH, _) if apply => "APPLY",
        (&Method::DELETE, false) => "DELETECOLLECTION",
        (m, _) => m.as_str(),
    };
    // Upstream's CleanScope: a named object or a create is "resource".
    let scope = if info.name.is_some() || req.method() == Method::POST {
        "resource"
    } else if info.namespace.is_some() {
        "namespace"
    } else {
        "cluster"
    };
    let longrunning = watch || connect;
    Some((
        RequestLabels {
            verb: verb.to_string(),
            group: info.group,
            version: info.version,
            resource: info.resource,
            subresource: info.subresource.unwrap_or_default(),
            scope: scope.to_string(),
        },
        longrunning,
    ))
}

/// `GET /metrics`.
pub async fn serve(State(state): State<Arc<AppState>>) -> Response {
    let mut resp = (StatusCode::OK, state.metrics.encode()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
