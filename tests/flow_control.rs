//! Priority and fairness end to end: the bootstrap FlowSchemas and PriorityLevelConfigurations
//! are served to kubectl, an operator's own schema sends one user's requests to a tiny level
//! that rejects when busy, and a flood from that user gets upstream's 429 with `Retry-After`
//! while the admin (exempt) and `/readyz` keep answering.

mod support;

use std::time::Duration;

use futures::future::join_all;
use support::{eventually, stdout_ok, ClusterOptions, TestCluster};

const TINY: &str = r#"
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: tiny}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    limitResponse: {type: Reject}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: flood}
spec:
  priorityLevelConfiguration: {name: tiny}
  matchingPrecedence: 50
  rules:
  - subjects: [{kind: User, user: {name: flood}}]
    resourceRules:
    - {verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}
"#;

/// (status, Retry-After, body, flow schema uid) of one request as `flood`.
async fn as_flood(cluster: &TestCluster, http: &reqwest::Client) -> (u16, String, String, String) {
    let resp = http
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps",
            cluster.base_url()
        ))
        .header("Impersonate-User", "flood")
        .send()
        .await
        .expect("request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (retry, schema) = (
        header("retry-after"),
        header("x-kubernetes-pf-flowschema-uid"),
    );
    let status = resp.status().as_u16();
    (status, retry, resp.text().await.unwrap_or_default(), schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_is_rejected_while_admins_and_probes_answer() {
    let cluster = TestCluster::start_with(
        ClusterOptions::default()
            .arg("--max-requests-inflight=1")
            .arg("--max-mutating-requests-inflight=0"),
    )
    .await;
    let schemas = stdout_ok("get flowschemas", &cluster.kubectl(&["get", "flowschemas"]));
    for name in [
        "exempt",
        "probes",
        "system-nodes",
        "global-default",
        "catch-all",
    ] {
        assert!(schemas.contains(name), "{name} missing from {schemas}");
    }
    let levels = stdout_ok(
        "get plc",
        &cluster.kubectl(&["get", "prioritylevelconfigurations"]),
    );
    assert!(
        levels.contains("workload-low") && levels.contains("exempt"),
        "{levels}"
    );

    let manifest = cluster.scratch().join("tiny.yaml");
    std::fs::write(&manifest, TINY).unwrap();
    stdout_ok(
        "apply",
        &cluster.kubectl(&["apply", "-f", manifest.to_str().unwrap()]),
    );
    stdout_ok(
        "bind",
        &cluster.kubectl(&[
            "create",
            "clusterrolebinding",
            "flood",
            "--clusterrole=view",
            "--user=flood",
        ]),
    );
    let flood_uid = stdout_ok(
        "uid",
        &cluster.kubectl(&[
            "get",
            "flowschema",
            "flood",
            "-o",
            "jsonpath={.metadata.uid}",
        ]),
    );
    let http = cluster.http();
    let classified = eventually(Duration::from_secs(10), || async {
        let (status, _, _, schema) = as_flood(&cluster, &http).await;
        (status == 200 && schema == flood_uid.trim()).then_some(())
    })
    .await;
    assert!(classified.is_some(), "the new FlowSchema never took effect");

    let flood = join_all((0..256).map(|_| as_flood(&cluster, &http)));
    let admin = async {
        let mut codes = Vec::new();
        for _ in 0..20 {
            for path in ["/api/v1/namespaces/default/configmaps", "/readyz"] {
                let resp = http
                    .get(format!("{}{path}", cluster.base_url()))
                    .send()
                    .await;
                codes.push(resp.map(|r| r.status().as_u16()).unwrap_or(0));
            }
        }
        codes
    };
    let (flood, admin) = tokio::join!(flood, admin);
    assert!(
        admin.iter().all(|c| *c == 200),
        "admin/readyz answered {admin:?}"
    );
    let rejected: Vec<_> = flood.iter().filter(|r| r.0 == 429).collect();
    assert!(
        !rejected.is_empty(),
        "256 concurrent requests on one seat and none rejected"
    );
    assert!(
        flood.iter().all(|r| r.0 == 200 || r.0 == 429),
        "{:?}",
        flood.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    for (_, retry, body, schema) in rejected {
        assert_eq!(retry, "1");
        assert_eq!(body.trim(), "Too many requests, please try again later.");
        assert_eq!(schema, flood_uid.trim());
    }
}
