//! The priority-and-fairness filter, after authorization as upstream's: long-running requests
//! (watches, exec/attach/port-forward/proxy/log streams) pass; others take a seat at the
//! priority level their FlowSchema names, or get upstream's 429 with `Retry-After`. Responses
//! carry the `X-Kubernetes-PF-*-UID` headers clients use to see how they were classified.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;

use super::AppState;

const FLOW_SCHEMA_HEADER: &str = "x-kubernetes-pf-flowschema-uid";
const PRIORITY_LEVEL_HEADER: &str = "x-kubernetes-pf-prioritylevel-uid";

/// Upstream's long-running request check (`BasicLongRunningRequestCheck`).
pub fn long_running(info: &RequestInfo) -> bool {
    matches!(info.verb.as_str(), "watch" | "proxy")
        || matches!(
            info.subresource.as_str(),
            "attach" | "exec" | "proxy" | "log" | "portforward"
        )
}

pub async fn dispatch(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let info =
        RequestInfo::from_request(req.method().as_str(), req.uri().path(), req.uri().query());
    if long_running(&info) {
        return next.run(req).await;
    }
    let user = req
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_default();
    let Some(placement) = state.flow_control.place(&user, &info) else {
        return next.run(req).await;
    };
    let seat = placement.enter().await;
    let mut resp = match seat {
        Ok(seat) => {
            let resp = next.run(req).await;
            drop(seat);
            resp
        }
        Err(why) => {
            tracing::debug!(user = %user.name, ?why, "flow control rejected a request");
            too_many_requests()
        }
    };
    let headers = resp.headers_mut();
    for (name, uid) in [
        (FLOW_SCHEMA_HEADER, &placement.flow_schema_uid),
        (PRIORITY_LEVEL_HEADER, &placement.priority_level_uid),
    ] {
        if let Ok(value) = HeaderValue::from_str(uid) {
            headers.insert(name, value);
        }
    }
    resp
}

/// Upstream's answer (a plain-text body, which client-go retries after `Retry-After`).
fn too_many_requests() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, "1"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "Too many requests, please try again later.\n",
    )
        .into_response()
}
