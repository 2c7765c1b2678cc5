//! `ferrokube bench authz`: what RBAC costs a request. The bootstrap policy plus 1,000
//! RoleBindings in one namespace (each binding `view` to its own service account), decided by
//! the same code the API server runs per request: an allowed request through the 1,000th
//! binding, a denied one, and `system:masters` (no RBAC at all). Bindings are indexed by
//! subject, so the namespace's other 999 bindings cost nothing.

use std::time::Instant;

use ferrokube_auth::rbac::{bootstrap, Policy, RequestInfo};
use ferrokube_auth::UserInfo;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

const BINDINGS: usize = 1000;
const ROUNDS: usize = 200_000;

fn policy() -> Policy {
    let mut p = Policy::new();
    p.put_cluster_roles(bootstrap::cluster_roles());
    for b in bootstrap::cluster_role_bindings() {
        p.put_cluster_role_binding(b);
    }
    for i in 0..BINDINGS {
        p.put_role_binding(RoleBinding {
            metadata: ObjectMeta {
                name: Some(format!("b{i:04}")),
                namespace: Some("bench".into()),
                ..ObjectMeta::default()
            },
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: "view".into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: format!("sa{i:04}"),
                namespace: Some("bench".into()),
                ..Subject::default()
            }]),
        });
    }
    p
}

fn account(name: &str) -> UserInfo {
    UserInfo {
        name: format!("system:serviceaccount:bench:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            "system:serviceaccounts:bench".into(),
            "system:authenticated".into(),
        ],
        ..UserInfo::default()
    }
}

/// p50 and p99 of one decision, in nanoseconds; checks the decision is the expected one.
fn measure(p: &Policy, user: &UserInfo, info: &RequestInfo, allowed: bool) -> (u128, u128) {
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let began = Instant::now();
        let decision = p.authorize(user, info);
        samples.push(began.elapsed().as_nanos());
        assert_eq!(
            decision.is_allowed(),
            allowed,
            "unexpected decision for {}",
            user.name
        );
    }
    samples.sort_unstable();
    (samples[ROUNDS / 2], samples[ROUNDS * 99 / 100])
}

/// Runs the benchmark and prints one line per case.
pub fn run() -> anyhow::Result<()> {
    let p = policy();
    let list_pods = RequestInfo::from_request("GET", "/api/v1/namespaces/bench/pods", None);
    let secrets = RequestInfo::from_request("GET", "/api/v1/namespaces/bench/secrets", None);
    let admin = UserInfo {
        name: "admin".into(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
        ..UserInfo::default()
    };
    let last = account(&format!("sa{:04}", BINDINGS - 1));
    println!(
        "RBAC decision cost, {BINDINGS} RoleBindings in the namespace, {ROUNDS} decisions each:"
    );
    for (what, user, info, allowed) in [
        (
            "system:masters (authorization short-circuit)",
            &admin,
            &list_pods,
            true,
        ),
        ("allowed by the 1000th RoleBinding", &last, &list_pods, true),
        ("denied", &last, &secrets, false),
    ] {
        let (p50, p99) = measure(&p, user, info, allowed);
        println!(
            "  {what:<48} p50 {:>8.2} µs   p99 {:>8.2} µs",
            p50 as f64 / 1e3,
            p99 as f64 / 1e3
        );
    }
    Ok(())
}
