//! Audit logging end to end: a server started with upstream's flags writes `audit.k8s.io/v1`
//! Events for what kubectl does, at the level the policy's first matching rule gives, with
//! request and response bodies only where the level asks, refusals recorded with their code,
//! impersonation recorded, omitted stages left out, and the `Audit-Id` header on responses.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::audit::events;
use support::{eventually, stdout_ok, TestCluster};

const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/api*", "/openapi*"]
- level: RequestResponse
  resources: [{group: "", resources: ["secrets"]}]
- level: Request
  resources: [{group: "", resources: ["configmaps"]}]
- level: None
  users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
- level: None
  userGroups: ["system:nodes"]
- level: Metadata
"#;

fn find<'a>(all: &'a [Value], verb: &str, resource: &str, name: &str) -> Option<&'a Value> {
    all.iter().find(|e| {
        e["verb"] == verb
            && e["objectRef"]["resource"] == resource
            && (name.is_empty() || e["objectRef"]["name"] == name)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_the_policy() {
    let (options, log, _audit_dir) = support::audit::options(POLICY);
    let cluster = TestCluster::start_with(options).await;
    stdout_ok(
        "cm",
        &cluster.kubectl(&[
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
        ]),
    );
    stdout_ok(
        "secret",
        &cluster.kubectl(&[
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=t=s3cr3t",
        ]),
    );
    stdout_ok("ns", &cluster.kubectl(&["create", "ns", "audited"]));
    let out = cluster.kubectl(&["get", "secrets", "-n", "kube-system", "--as=jane"]);
    assert!(!out.status.success());
    let resp = cluster
        .http()
        .get(format!(
            "{}/api/v1/namespaces/default/configmaps/settings",
            cluster.base_url()
        ))
        .send()
        .await
        .unwrap();
    let audit_id = resp
        .headers()
        .get("audit-id")
        .expect("Audit-Id header")
        .to_str()
        .unwrap()
        .to_string();

    let all = eventually(Duration::from_secs(10), || async {
        let all = events(&log);
        all.iter().any(|e| e["auditID"] == audit_id).then_some(all)
    })
    .await
    .expect("events in the log");
    assert!(
        all.iter().all(|e| e["stage"] != "RequestReceived"),
        "omitted stage logged"
    );
    assert!(all
        .iter()
        .all(|e| e["kind"] == "Event" && e["apiVersion"] == "audit.k8s.io/v1"));

    let cm = find(&all, "create", "configmaps", "settings")
        .unwrap_or_else(|| panic!("configmap create: {all:#?}"));
    assert_eq!(cm["level"], "Request");
    assert_eq!(cm["requestObject"]["data"]["mode"], "fast");
    assert!(cm.get("responseObject").is_none());
    assert_eq!(cm["responseStatus"]["code"], 201);
    assert_eq!(cm["user"]["username"], "admin", "{cm}");

    let secret = find(&all, "create", "secrets", "token").expect("secret create");
    assert_eq!(secret["level"], "RequestResponse");
    assert_eq!(secret["responseObject"]["metadata"]["name"], "token");

    let ns = find(&all, "create", "namespaces", "")
        .unwrap_or_else(|| panic!("namespace create: {all:#?}"));
    assert_eq!(ns["level"], "Metadata");
    assert!(ns.get("requestObject").is_none() && ns.get("responseObject").is_none());

    let refused = all
        .iter()
        .find(|e| e["verb"] == "list" && e["objectRef"]["namespace"] == "kube-system")
        .expect("the refused list");
    assert_eq!(refused["responseStatus"]["code"], 403);
    assert_eq!(refused["responseStatus"]["reason"], "Forbidden");
    assert_eq!(refused["impersonatedUser"]["username"], "jane");

    let got = all.iter().find(|e| e["auditID"] == audit_id).unwrap();
    assert_eq!(got["verb"], "get");
    assert_eq!(got["stage"], "ResponseComplete");
    assert!(
        all.iter().all(|e| e["requestURI"] != "/version"),
        "None rules are not logged"
    );
}
