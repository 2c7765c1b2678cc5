use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use ferrokube_auth::UserInfo;
use tower::ServiceExt;

use super::*;

/// A reviewer knowing one token (`good` → `alice`) and allowing `alice` `get` on
/// `nodes/proxy` of `n1` only; it counts the reviews it answers.
#[derive(Default)]
struct Fake {
    token_reviews: AtomicUsize,
    access_reviews: AtomicUsize,
}

#[async_trait]
impl Reviewer for Fake {
    async fn review_token(&self, token: &str) -> Result<Option<UserInfo>, String> {
        self.token_reviews.fetch_add(1, Ordering::SeqCst);
        match token {
            "good" | "other" => Ok(Some(UserInfo {
                name: if token == "good" { "alice" } else { "bob" }.into(),
                groups: vec!["system:authenticated".into()],
                ..Default::default()
            })),
            "broken" => Err("API unreachable".into()),
            _ => Ok(None),
        }
    }

    async fn review_access(
        &self,
        user: &UserInfo,
        verb: &str,
        subresource: &str,
        node: &str,
    ) -> Result<bool, String> {
        self.access_reviews.fetch_add(1, Ordering::SeqCst);
        Ok(user.name == "alice" && verb == "get" && subresource == "proxy" && node == "n1")
    }
}

fn app(fake: Arc<Fake>, ttls: CacheTtls) -> Router {
    let auth = Arc::new(KubeletAuth::new("n1", fake, ttls));
    Router::new()
        .route("/exec/{ns}/{pod}/{c}", get(|| async { "ran" }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(auth, guard))
}

async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn no_or_unknown_credentials_are_401() {
    let fake = Arc::new(Fake::default());
    let app = app(fake.clone(), CacheTtls::default());
    assert_eq!(
        call(&app, "GET", "/healthz", None).await,
        (StatusCode::UNAUTHORIZED, "Unauthorized\n".into())
    );
    assert_eq!(
        call(&app, "GET", "/healthz", Some("unknown")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A review that fails is a 401 too, and is not remembered.
    assert_eq!(
        call(&app, "GET", "/healthz", Some("broken")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/healthz", Some("broken")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(fake.token_reviews.load(Ordering::SeqCst), 3);
    assert_eq!(fake.access_reviews.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn permissions_decide_and_refusals_use_upstream_words() {
    let fake = Arc::new(Fake::default());
    let app = app(fake.clone(), CacheTtls::default());
    assert_eq!(
        call(&app, "GET", "/exec/ns/p/c", Some("good")).await,
        (StatusCode::OK, "ran".into())
    );
    assert_eq!(
        call(&app, "POST", "/exec/ns/p/c", Some("good")).await,
        (
            StatusCode::FORBIDDEN,
            "Forbidden (user=alice, verb=create, resource=nodes, subresource(s)=[proxy])\n".into()
        )
    );
    assert_eq!(
        call(&app, "GET", "/exec/ns/p/c", Some("other")).await.0,
        StatusCode::FORBIDDEN
    );
    // healthz is tried as nodes/healthz, then nodes/proxy.
    assert_eq!(
        call(&app, "GET", "/healthz", Some("good")).await,
        (StatusCode::OK, "ok".into())
    );
}

#[tokio::test]
async fn answers_are_cached_for_their_ttl() {
    let fake = Arc::new(Fake::default());
    let ttls = CacheTtls {
        token: Duration::from_secs(60),
        authorized: Duration::from_secs(60),
        unauthorized: Duration::from_millis(50),
    };
    let app = app(fake.clone(), ttls);
    for _ in 0..3 {
        assert_eq!(
            call(&app, "GET", "/exec/ns/p/c", Some("good")).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&app, "GET", "/exec/ns/p/c", Some("other")).await.0,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(fake.token_reviews.load(Ordering::SeqCst), 2);
    assert_eq!(fake.access_reviews.load(Ordering::SeqCst), 2);
    // The denial expires sooner and is asked again.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        call(&app, "GET", "/exec/ns/p/c", Some("other")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/exec/ns/p/c", Some("good")).await.0,
        StatusCode::OK
    );
    assert_eq!(fake.access_reviews.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_client_certificate_identity_needs_no_token() {
    let fake = Arc::new(Fake::default());
    let auth = KubeletAuth::new("n1", fake.clone(), CacheTtls::default());
    let peer = PeerUser(Some(Ok(UserInfo {
        name: "kube-apiserver-kubelet-client".into(),
        ..Default::default()
    })));
    let user = auth.authenticate(&peer, None).await.expect("user");
    assert_eq!(user.groups, vec!["system:authenticated".to_string()]);
    let bad = PeerUser(Some(Err("no common name".into())));
    assert!(auth.authenticate(&bad, Some("Bearer good")).await.is_none());
    assert_eq!(fake.token_reviews.load(Ordering::SeqCst), 0);
}
