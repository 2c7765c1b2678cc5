//! The audit filter, right after authentication as upstream's: the policy decides the level;
//! the event gets the request's metadata (and body at `Request`), then its response status
//! (and body at `RequestResponse`) at `ResponseComplete`. Long-running requests log
//! `ResponseStarted` when their stream begins and `ResponseComplete` when it ends. What
//! admission annotated during the request (see [`crate::audit::annotations`]) is in the
//! response stages' `annotations`. Every audited response carries the event's id in `Audit-Id`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use serde_json::{json, Value};

use super::AppState;
use crate::audit::{AnnotationSink, Auditor, Level};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The event's fields known before the request runs.
fn skeleton(req: &Request, user: &UserInfo, info: &RequestInfo, level: Level) -> Value {
    let header = |name: &str| -> Vec<String> {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    };
    let source = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| vec![c.0.ip().to_string()])
        .unwrap_or_default();
    let mut event = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level.as_str(),
        "auditID": uuid::Uuid::new_v4().to_string(),
        "requestURI": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "verb": info.verb, "user": user, "sourceIPs": source,
        "userAgent": header("user-agent").first().cloned().unwrap_or_default(),
        "requestReceivedTimestamp": now(),
    });
    if let Some(name) = header("impersonate-user").first() {
        event["impersonatedUser"] =
            json!({"username": name, "groups": header("impersonate-group")});
    }
    if info.resource_request {
        let mut r = json!({"resource": info.resource, "apiVersion": info.api_version});
        for (key, value) in [
            ("namespace", &info.namespace),
            ("name", &info.name),
            ("apiGroup", &info.api_group),
            ("subresource", &info.subresource),
        ] {
            if !value.is_empty() {
                r[key] = json!(value);
            }
        }
        event["objectRef"] = r;
    }
    event
}

fn emit(auditor: &Auditor, event: &Value, stage: &str, omit: &[String]) {
    if omit.iter().any(|s| s == stage) {
        return;
    }
    let mut e = event.clone();
    e["stage"] = json!(stage);
    e["stageTimestamp"] = json!(now());
    auditor.record(e);
}

/// Reads a body into memory (bounded like every request body) and decodes it for the event
/// by its content type (JSON, YAML, protobuf; patches as JSON).
async fn buffered(body: Body, headers: &axum::http::HeaderMap) -> (Body, Option<Value>) {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match axum::body::to_bytes(body, super::codec::MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let parsed = super::codec::decode_object(content_type, &bytes)
                .ok()
                .or_else(|| serde_json::from_slice(&bytes).ok());
            (Body::from(bytes), parsed)
        }
        Err(_) => (Body::empty(), None),
    }
}

pub async fn audit(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(auditor) = state.audit.clone() else {
        return next.run(req).await;
    };
    let user = req
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_default();
    let info =
        RequestInfo::from_request(req.method().as_str(), req.uri().path(), req.uri().query());
    let decision = auditor.policy.decide(&user, &info);
    if decision.level == Level::None {
        return next.run(req).await;
    }
    let mut event = skeleton(&req, &user, &info, decision.level);
    let (parts, body) = req.into_parts();
    // A create names its object in the body, and upstream's objectRef shows that name from
    // the Metadata level on, so a create's body is read even when it is not logged.
    let names_in_body = info.verb == "create" && info.resource_request;
    let body = if decision.level >= Level::Request || names_in_body {
        let (body, object) = buffered(body, &parts.headers).await;
        if let Some(object) = object {
            let name = object.pointer("/metadata/name").cloned();
            if let (Some(name), Some(r)) = (name, event.get_mut("objectRef")) {
                if r.get("name").is_none() {
                    r["name"] = name;
                }
            }
            if decision.level >= Level::Request {
                event["requestObject"] = object;
            }
        }
        body
    } else {
        body
    };
    emit(&auditor, &event, "RequestReceived", &decision.omit_stages);
    let sink = AnnotationSink::at(decision.level);
    let resp = sink.scope(next.run(Request::from_parts(parts, body))).await;
    let code = resp.status().as_u16();
    event["responseStatus"] = json!({"metadata": {}, "code": code});
    let annotations = sink.annotations();
    if !annotations.is_empty() {
        event["annotations"] = json!(annotations);
    }
    let id = event["auditID"].as_str().unwrap_or_default().to_owned();
    let mut resp = if super::flow_control::long_running(&info) {
        emit(&auditor, &event, "ResponseStarted", &decision.omit_stages);
        complete_when_streamed(resp, auditor.clone(), event, decision.omit_stages)
    } else {
        let (parts, body) = resp.into_parts();
        let (body, object) = buffered(body, &parts.headers).await;
        if let Some(object) = object {
            describe_status(&mut event, &object);
            if decision.level == Level::RequestResponse {
                event["responseObject"] = object;
            }
        }
        emit(&auditor, &event, "ResponseComplete", &decision.omit_stages);
        Response::from_parts(parts, body)
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("audit-id", value);
    }
    resp
}

/// A failed request's Status message and reason in `responseStatus`, as upstream records them.
fn describe_status(event: &mut Value, body: &Value) {
    if body["kind"] != "Status" || body["status"] != "Failure" {
        return;
    }
    for key in ["status", "message", "reason"] {
        if let Some(v) = body.get(key) {
            event["responseStatus"][key] = v.clone();
        }
    }
}

/// Logs `ResponseComplete` when a long-running response's body is dropped (the stream ended).
fn complete_when_streamed(
    resp: Response,
    auditor: Arc<Auditor>,
    event: Value,
    omit: Vec<String>,
) -> Response {
    struct Complete(Arc<Auditor>, Value, Vec<String>);
    impl Drop for Complete {
        fn drop(&mut self) {
            emit(&self.0, &self.1, "ResponseComplete", &self.2);
        }
    }
    let guard = Complete(auditor, event, omit);
    let (parts, body) = resp.into_parts();
    let body = Body::from_stream(futures::StreamExt::map(
        body.into_data_stream(),
        move |chunk| {
            let _keep = &guard;
            chunk
        },
    ));
    Response::from_parts(parts, body).into_response()
}
