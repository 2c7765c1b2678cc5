//! `/healthz`, `/livez` and `/readyz` with upstream's named checks: `GET /readyz` answers `ok`
//! or 500 with the failed checks, `?verbose` lists each as `[+]name ok` / `[-]name failed`,
//! `?exclude=name` skips one, and `/readyz/<name>` runs a single check (404 for an unknown one).
//! The `etcd` check is our store: it fails while the raft core is stopped or the disk is full,
//! so a load balancer or the chart's readiness probe sends clients to a server that can write.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// One named check and its outcome.
type Outcome = (&'static str, Result<(), String>);

/// The checks of an endpoint; `/livez` leaves out the store, as restarting this server would
/// not free a full disk.
fn run_checks(state: &AppState, endpoint: &str) -> Vec<Outcome> {
    let mut checks: Vec<Outcome> = vec![("ping", Ok(())), ("log", Ok(()))];
    if endpoint != "livez" {
        checks.push(("etcd", state.registry.store.health()));
    }
    checks
}

/// `GET /healthz`, `/livez`, `/readyz`.
pub async fn all(
    State(state): State<Arc<AppState>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    RawQuery(query): RawQuery,
) -> Response {
    let endpoint = uri.path().trim_start_matches('/').to_string();
    let params = super::request::query_pairs(query.as_deref());
    let verbose = params.iter().any(|(k, _)| k == "verbose");
    let excluded: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "exclude")
        .map(|(_, v)| v.as_str())
        .collect();
    let checks: Vec<Outcome> = run_checks(&state, &endpoint)
        .into_iter()
        .filter(|(name, _)| !excluded.contains(name))
        .collect();
    report(&endpoint, &checks, &excluded, verbose)
}

/// Upstream's wording: failures are always listed (reasons withheld), passes only when verbose.
fn report(endpoint: &str, checks: &[Outcome], excluded: &[&str], verbose: bool) -> Response {
    let failed = checks.iter().any(|(_, r)| r.is_err());
    if !failed && !verbose {
        return (StatusCode::OK, "ok").into_response();
    }
    let mut body = String::new();
    for (name, result) in checks {
        match result {
            Ok(()) => body.push_str(&format!("[+]{name} ok\n")),
            Err(why) => {
                tracing::warn!(check = name, %why, "{endpoint} check failed");
                body.push_str(&format!("[-]{name} failed: reason withheld\n"));
            }
        }
    }
    for name in excluded {
        body.push_str(&format!("[+]{name} excluded: ok\n"));
    }
    if failed {
        body.push_str(&format!("{endpoint} check failed\n"));
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    } else {
        body.push_str(&format!("{endpoint} check passed\n"));
        (StatusCode::OK, body).into_response()
    }
}

/// `GET /readyz/<name>` (and the same under `/healthz`, `/livez`): one check.
pub async fn one(
    State(state): State<Arc<AppState>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Path(check): Path<String>,
) -> Response {
    let endpoint = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    match run_checks(&state, &endpoint)
        .into_iter()
        .find(|(name, _)| *name == check)
    {
        Some((_, Ok(()))) => (StatusCode::OK, "ok").into_response(),
        Some((_, Err(why))) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {why}\n"),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (StatusCode, String) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn verbose_lists_every_check_and_failures_withhold_reasons() {
        let ok: Vec<Outcome> = vec![("ping", Ok(())), ("etcd", Ok(()))];
        let (code, text) = body(report("readyz", &ok, &[], false)).await;
        assert_eq!((code, text.as_str()), (StatusCode::OK, "ok"));
        let (code, text) = body(report("readyz", &ok, &["log"], true)).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            text,
            "[+]ping ok\n[+]etcd ok\n[+]log excluded: ok\nreadyz check passed\n"
        );
        let bad: Vec<Outcome> = vec![("ping", Ok(())), ("etcd", Err("disk full".into()))];
        let (code, text) = body(report("readyz", &bad, &[], false)).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(text.contains("[-]etcd failed: reason withheld\n"), "{text}");
        assert!(text.ends_with("readyz check failed\n"), "{text}");
        assert!(
            !text.contains("disk full"),
            "reasons stay in the server log: {text}"
        );
    }
}
