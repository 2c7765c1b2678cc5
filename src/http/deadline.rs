//! Upstream's request deadline (`WithRequestDeadline` and the non-long-running timeout): a
//! request that is not a watch or stream must finish within `?timeout=` (a Go duration such as
//! `32s`, as client-go sends) or `--request-timeout`, whichever is shorter, else it is
//! abandoned with upstream's 504 `Timeout` Status. An unparsable `timeout` is a 400.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrokube_auth::rbac::RequestInfo;

use super::AppState;
use crate::status::ApiError;

pub async fn enforce(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let info =
        RequestInfo::from_request(req.method().as_str(), req.uri().path(), req.uri().query());
    if super::flow_control::long_running(&info) {
        return next.run(req).await;
    }
    let limit = match requested(req.uri().query()) {
        Ok(Some(asked)) => asked.min(state.request_timeout),
        Ok(None) => state.request_timeout,
        Err(e) => return e.into_response(),
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            504,
            "Timeout",
            "Timeout: request did not complete within requested timeout - context deadline exceeded",
        )
        .into_response(),
    }
}

/// The `timeout` query parameter, a Go duration (`32s`, `1m30s`, `500ms`); zero means none.
fn requested(query: Option<&str>) -> Result<Option<Duration>, ApiError> {
    let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == "timeout").then_some(v))
    else {
        return Ok(None);
    };
    let parsed = humantime::parse_duration(value).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid timeout specified in the request URL: {value:?}: {e}"
        ))
    })?;
    Ok((!parsed.is_zero()).then_some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_as_clients_send_them() {
        assert_eq!(
            requested(Some("a=b&timeout=32s")).unwrap(),
            Some(Duration::from_secs(32))
        );
        assert_eq!(
            requested(Some("timeout=1m30s")).unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            requested(Some("timeout=500ms")).unwrap(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(requested(Some("timeout=0s")).unwrap(), None);
        assert_eq!(requested(Some("watch=1")).unwrap(), None);
        assert_eq!(requested(Some("timeout=soon")).unwrap_err().code, 400);
    }
}
