//! Admission end to end: disruption budgets honoured by `pods/eviction` and `kubectl drain`
//! (hollow nodes run the pods), ResourceQuota charged atomically at create, LimitRange
//! defaults and refusals, driven through kubectl and kube-rs as a user would.

mod controllers_common;
mod support;

use std::time::Duration;

use controllers_common::{
    cluster_with, kubectl_ok, wait_nodes_ready, wait_running, HollowNodes, CONVERGE,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ResourceQuota};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use support::eventually;

/// A Deployment of `replicas` long-running busybox pods labelled `app=<name>`.
fn deployment(name: &str, replicas: i32) -> String {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}}})
    .to_string()
}

/// Waits for the budget's status to show `allowed` disruptions out of `expected` pods.
async fn wait_budget(
    pdbs: &Api<PodDisruptionBudget>,
    name: &str,
    expected: i32,
    allowed: i32,
) -> PodDisruptionBudget {
    let got = eventually(CONVERGE, || async {
        let p = pdbs.get(name).await.ok()?;
        let s = p.status.clone()?;
        (s.expected_pods == Some(expected)
            && s.disruptions_allowed == Some(allowed)
            && s.observed_generation == p.metadata.generation)
            .then_some(p)
    })
    .await;
    match got {
        Some(p) => p,
        None => panic!(
            "budget {name} never reached {allowed}/{expected}: {:?}",
            pdbs.get(name).await.ok().and_then(|p| p.status)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_the_disruption_budget() {
    let cluster = cluster_with(&[]).await;
    // The parallel evictions below must see the budget's 429, not kube's retries of it.
    let client = cluster.client_without_retries().await;
    // One node: evicted pods' replacements cannot be placed, so the budget stays spent.
    let _hollow = HollowNodes::start(&cluster, 0, 1);
    wait_nodes_ready(&client, 1).await;
    let manifest = cluster.scratch().join("deploys.json");
    std::fs::write(
        &manifest,
        format!("{}\n{}", deployment("web", 3), deployment("api", 2)),
    )
    .unwrap();
    kubectl_ok(&cluster, &["apply", "-f", manifest.to_str().unwrap()]);
    wait_running(&client, "default", "app=web", 3).await;
    wait_running(&client, "default", "app=api", 2).await;
    kubectl_ok(
        &cluster,
        &[
            "create",
            "pdb",
            "web",
            "--selector=app=web",
            "--min-available=2",
        ],
    );
    kubectl_ok(
        &cluster,
        &[
            "create",
            "pdb",
            "api",
            "--selector=app=api",
            "--max-unavailable=50%",
        ],
    );

    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let web = wait_budget(&pdbs, "web", 3, 1).await;
    let s = web.status.unwrap();
    assert_eq!((s.current_healthy, s.desired_healthy), (Some(3), Some(2)));
    let cond = &s.conditions.unwrap()[0];
    assert_eq!(
        (
            cond.type_.as_str(),
            cond.status.as_str(),
            cond.reason.as_str()
        ),
        ("DisruptionAllowed", "True", "SufficientPods")
    );
    // maxUnavailable 50% of the Deployment's 2 replicas rounds up to 1: one must stay.
    let api = wait_budget(&pdbs, "api", 2, 1).await;
    assert_eq!(api.status.unwrap().desired_healthy, Some(1));

    // Replacements of evicted pods must not land back on the node.
    kubectl_ok(&cluster, &["cordon", "hollow-0"]);
    // Three parallel evictions of web's pods: the budget's one disruption goes to exactly one.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let names: Vec<String> = wait_running(&client, "default", "app=web", 3)
        .await
        .iter()
        .map(|p| p.name_any())
        .collect();
    let params = EvictParams::default();
    let results = futures::future::join_all(names.iter().map(|n| pods.evict(n, &params))).await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(refused.len(), 2, "{results:?}");
    for err in refused {
        let kube::Error::Api(s) = err else {
            panic!("{err:?}")
        };
        assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
        assert_eq!(
            s.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
    }
    let spent = wait_budget(&pdbs, "web", 3, 0).await;
    assert_eq!(
        spent.status.unwrap().conditions.unwrap()[0].reason,
        "InsufficientPods"
    );

    // drain retries on 429 while the budget is spent and gives up at its timeout...
    let blocked = cluster.kubectl(&[
        "drain",
        "hollow-0",
        "--ignore-daemonsets",
        "--pod-selector=app=web",
        "--timeout=12s",
    ]);
    assert!(!blocked.status.success());
    let err = String::from_utf8_lossy(&blocked.stderr);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    assert_eq!(on_node(&client, "app=web").await, 2);

    // ...and completes once the budget allows it.
    let mut drain = cluster
        .kubectl_command(
            std::path::Path::new("kubectl"),
            &["drain", "hollow-0", "--ignore-daemonsets", "--timeout=90s"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        drain.try_wait().unwrap().is_none(),
        "drain finished while the budget was spent"
    );
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 0}})),
    )
    .await
    .unwrap();
    pdbs.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"maxUnavailable": "100%"}})),
    )
    .await
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        support::output_within("kubectl drain", drain, support::COMMAND_TIMEOUT)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("node/hollow-0 drained"));
    assert_eq!(on_node(&client, "app=web").await, 0);
}

/// Live pods matching `selector` bound to the node.
async fn on_node(client: &kube::Client, selector: &str) -> usize {
    controllers_common::live_pods(client, "default", selector)
        .await
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("hollow-0"))
        .count()
}

/// Waits until the quota's status lists `resource` as used `want`.
async fn wait_used(client: &kube::Client, ns: &str, name: &str, resource: &str, want: &str) {
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    let ok = eventually(CONVERGE, || async {
        let q = quotas.get(name).await.ok()?;
        let used = q.status?.used?;
        (used.get(resource)?.0 == want).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "quota {ns}/{name} never showed {resource}={want}: {:?}",
        quotas.get(name).await.ok().and_then(|q| q.status)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refuses_past_its_limit_and_tracks_reality() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    kubectl_ok(&cluster, &["create", "namespace", "dev"]);
    kubectl_ok(
        &cluster,
        &[
            "create",
            "quota",
            "q",
            "--hard=pods=2,requests.cpu=1",
            "-n",
            "dev",
        ],
    );
    wait_used(&client, "dev", "q", "pods", "0").await;
    kubectl_ok(&cluster, &["run", "p1", "--image=busybox", "-n", "dev"]);
    kubectl_ok(&cluster, &["run", "p2", "--image=busybox", "-n", "dev"]);
    let third = cluster.kubectl(&["run", "p3", "--image=busybox", "-n", "dev"]);
    assert!(!third.status.success());
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(
        err.contains("pods \"p3\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"),
        "{err}"
    );
    // A malformed amount is refused by the decoder, as upstream's, before quota counts it.
    let bad = cluster.scratch().join("bad-quantity.json");
    std::fs::write(
        &bad,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "dev"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "lots"}}}]}})
        .to_string(),
    )
    .unwrap();
    let refused = cluster.kubectl(&["create", "-f", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        "{err}"
    );
    let out = kubectl_ok(&cluster, &["get", "quota", "q", "-n", "dev", "-o", "json"]);
    let q: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(q["status"]["used"]["pods"], "2");
    assert_eq!(q["status"]["hard"]["requests.cpu"], "1");
    // Deleting releases the charge (the quota controller recounts).
    kubectl_ok(
        &cluster,
        &[
            "delete",
            "pod",
            "p1",
            "-n",
            "dev",
            "--grace-period=0",
            "--force",
        ],
    );
    wait_used(&client, "dev", "q", "pods", "1").await;
    kubectl_ok(&cluster, &["run", "p3", "--image=busybox", "-n", "dev"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_parallel_creators_never_overshoot_a_quota() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    kubectl_ok(&cluster, &["create", "namespace", "par"]);
    kubectl_ok(
        &cluster,
        &[
            "create",
            "quota",
            "cms",
            "--hard=count/configmaps=5,configmaps=5",
            "-n",
            "par",
        ],
    );
    // The namespace's kube-root-ca.crt counts too.
    wait_used(&client, "par", "cms", "configmaps", "1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "par");
    let creates = (0..16).map(|i| {
        let cms = cms.clone();
        tokio::spawn(async move {
            let cm: ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}")}})).unwrap();
            cms.create(&PostParams::default(), &cm).await
        })
    });
    let results: Vec<_> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 4, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        let kube::Error::Api(s) = r else {
            panic!("{r:?}")
        };
        assert_eq!(s.code, 403, "{s:?}");
        assert!(s.message.contains("exceeded quota: cms"), "{}", s.message);
    }
    let stored = cms.list(&Default::default()).await.unwrap().items;
    assert_eq!(
        stored
            .iter()
            .filter(|c| c.name_any().starts_with("cm-"))
            .count(),
        4
    );
    wait_used(&client, "par", "cms", "count/configmaps", "5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_containers() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let lr = cluster.scratch().join("lr.json");
    std::fs::write(
        &lr,
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "0.5"},
            "defaultRequest": {"cpu": "100m", "memory": "0.5Gi"}, "max": {"cpu": "1000m"}}]}})
        .to_string(),
    )
    .unwrap();
    kubectl_ok(&cluster, &["create", "-f", lr.to_str().unwrap()]);
    // Quantities are stored in upstream's canonical form.
    let stored = kubectl_ok(&cluster, &["get", "limitrange", "lr", "-o", "json"]);
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let limits = &stored["spec"]["limits"][0];
    assert_eq!(limits["default"]["cpu"], "500m", "{stored}");
    assert_eq!(limits["max"]["cpu"], "1", "{stored}");
    assert_eq!(limits["defaultRequest"]["memory"], "512Mi", "{stored}");
    kubectl_ok(&cluster, &["run", "small", "--image=busybox"]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p = serde_json::to_value(pods.get("small").await.unwrap()).unwrap();
    let res = &p["spec"]["containers"][0]["resources"];
    assert_eq!(
        (
            res["limits"]["cpu"].as_str(),
            res["requests"]["cpu"].as_str()
        ),
        (Some("500m"), Some("100m"))
    );
    let big = cluster.kubectl(&["run", "big", "--image=busybox", "--overrides",
        r#"{"spec":{"containers":[{"name":"big","image":"busybox","resources":{"limits":{"cpu":"2"}}}]}}"#]);
    assert!(!big.status.success());
    let err = String::from_utf8_lossy(&big.stderr);
    assert!(
        err.contains(
            "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
        ),
        "{err}"
    );
    // A limit without a request requests the limit (pod defaulting, before the LimitRange's
    // defaultRequest): upstream's "merged resource requirements" conformance case.
    kubectl_ok(
        &cluster,
        &[
            "run",
            "partial",
            "--image=busybox",
            "--overrides",
            r#"{"spec":{"containers":[{"name":"partial","image":"busybox","resources":{"limits":{"cpu":"300m"}}}]}}"#,
        ],
    );
    let p = serde_json::to_value(pods.get("partial").await.unwrap()).unwrap();
    assert_eq!(
        p["spec"]["containers"][0]["resources"],
        json!({"limits": {"cpu": "300m"}, "requests": {"cpu": "300m", "memory": "512Mi"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_as_existing_service_accounts_that_may_opt_out_of_tokens() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    let missing = cluster.kubectl(&[
        "run",
        "ghost",
        "--image=busybox",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"nobody"}}"#,
    ]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("pods \"ghost\" is forbidden: error looking up service account default/nobody: serviceaccount \"nobody\" not found"),
        "{err}"
    );
    kubectl_ok(&cluster, &["create", "serviceaccount", "quiet"]);
    kubectl_ok(
        &cluster,
        &[
            "patch",
            "serviceaccount",
            "quiet",
            "-p",
            r#"{"automountServiceAccountToken":false}"#,
        ],
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mounts = |name: &'static str, overrides: &'static str| {
        kubectl_ok(
            &cluster,
            &["run", name, "--image=busybox", "--overrides", overrides],
        );
        let pods = pods.clone();
        async move {
            let p = pods.get(name).await.unwrap();
            let spec = p.spec.unwrap();
            spec.volumes
                .unwrap_or_default()
                .iter()
                .any(|v| v.name.starts_with("kube-api-access-"))
        }
    };
    assert!(!mounts("opted-out", r#"{"spec":{"serviceAccountName":"quiet"}}"#).await);
    assert!(
        mounts(
            "pod-wins",
            r#"{"spec":{"serviceAccountName":"quiet","automountServiceAccountToken":true}}"#
        )
        .await,
        "the pod's own setting overrides the account's"
    );
    assert!(
        mounts("plain", r#"{"spec":{}}"#).await,
        "default account mounts"
    );
    assert!(
        pods.get_opt("ghost").await.unwrap().is_none(),
        "nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_quotas_track_only_the_pods_they_select() {
    let cluster = cluster_with(&[]).await;
    let client = cluster.client().await;
    kubectl_ok(&cluster, &["create", "namespace", "scoped"]);
    kubectl_ok(
        &cluster,
        &[
            "create",
            "quota",
            "be",
            "--hard=pods=1",
            "--scopes=BestEffort",
            "-n",
            "scoped",
        ],
    );
    wait_used(&client, "scoped", "be", "pods", "0").await;
    kubectl_ok(&cluster, &["run", "b1", "--image=busybox", "-n", "scoped"]);
    let second = cluster.kubectl(&["run", "b2", "--image=busybox", "-n", "scoped"]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1"),
        "{err}"
    );
    // A pod that asks for compute is not BestEffort: the scoped quota does not see it.
    let burstable = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "burst"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "10m"}}}]}});
    let path = cluster.scratch().join("burst.json");
    std::fs::write(&path, burstable.to_string()).unwrap();
    kubectl_ok(
        &cluster,
        &["create", "-f", path.to_str().unwrap(), "-n", "scoped"],
    );
    wait_used(&client, "scoped", "be", "pods", "1").await;
}
