//! API groups every discovery walk meets, through real clients: apiregistration.k8s.io's
//! local APIServices (`kubectl get apiservices`), resource.k8s.io/v1 (dynamic resource
//! allocation's API) and networking.k8s.io's ServiceCIDR and IPAddress.

mod support;

use std::time::Duration;

use support::{stdout_ok, TestCluster};

/// Waits until `kubectl get apiservices` lists `name` (the reconciler runs every few seconds).
async fn wait_for_api_service(cluster: &TestCluster, name: &str) -> String {
    for _ in 0..100 {
        let out = cluster.kubectl(&["get", "apiservices"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.lines().any(|l| l.starts_with(name)) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("APIService {name} never appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_services_follow_the_served_groups() {
    let cluster = TestCluster::start().await;
    let table = wait_for_api_service(&cluster, "v1.apps ").await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "SERVICE", "AVAILABLE", "AGE"], "{table}");
    let apps: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("v1.apps "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&apps[..3], ["v1.apps", "Local", "True"], "{table}");
    // Discovery lists the group itself.
    let resources = stdout_ok(
        "api-resources",
        &cluster.kubectl(&["api-resources", "--api-group=apiregistration.k8s.io"]),
    );
    assert!(resources.contains("apiservices"), "{resources}");

    // A CRD's group gets its APIService, and loses it with the CRD.
    let crd = r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
      "metadata": {"name": "widgets.example.com"},
      "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": true, "storage": true,
          "schema": {"openAPIV3Schema": {"type": "object"}}}]}}"#;
    let path = cluster.scratch().join("crd.json");
    std::fs::write(&path, crd).unwrap();
    stdout_ok(
        "create crd",
        &cluster.kubectl(&["create", "-f", path.to_str().unwrap()]),
    );
    wait_for_api_service(&cluster, "v1.example.com ").await;
    let label = stdout_ok(
        "label",
        &cluster.kubectl(&[
            "get",
            "apiservice",
            "v1.example.com",
            "-o",
            "jsonpath={.metadata.labels.kube-aggregator\\.kubernetes\\.io/automanaged}",
        ]),
    );
    assert_eq!(label, "true");
    stdout_ok(
        "delete crd",
        &cluster.kubectl(&["delete", "crd", "widgets.example.com"]),
    );
    for _ in 0..100 {
        let out = cluster.kubectl(&["get", "apiservice", "v1.example.com"]);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("NotFound") || err.contains("not found"),
                "{err}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the CRD's APIService outlived it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_uses_the_newer_groups() {
    let cluster = TestCluster::start().await;
    wait_for_api_service(&cluster, "v1.resource.k8s.io ").await;
    // The default ServiceCIDR is published with the kubernetes Service.
    for _ in 0..100 {
        if cluster
            .kubectl(&["get", "servicecidr", "kubernetes"])
            .status
            .success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    support::python_script(&cluster, "api_groups_client.py", &[]);
    // kubectl reads the same objects.
    let slices = stdout_ok(
        "get resourceslices",
        &cluster.kubectl(&[
            "get",
            "resourceslices",
            "--field-selector=spec.nodeName=n1",
            "-o",
            "name",
        ]),
    );
    assert_eq!(
        slices.trim(),
        "resourceslice.resource.k8s.io/n1-gpu.example.com"
    );
    // Upstream's table columns.
    let table = stdout_ok(
        "get resourceslices",
        &cluster.kubectl(&["get", "resourceslices"]),
    );
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "NODE", "DRIVER", "POOL", "AGE"], "{table}");
    assert!(
        table.lines().any(|l| l.split_whitespace().take(4).eq([
            "n2-nic.example.com",
            "n2",
            "nic.example.com",
            "n2"
        ])),
        "{table}"
    );
    let claims = stdout_ok(
        "get resourceclaims",
        &cluster.kubectl(&["get", "resourceclaims"]),
    );
    let row: Vec<&str> = claims.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["c1", "allocated"], "{claims}");
    let cidrs = stdout_ok(
        "get servicecidrs",
        &cluster.kubectl(&["get", "servicecidrs"]),
    );
    let row: Vec<&str> = cidrs.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["kubernetes", "10.96.0.0/12"], "{cidrs}");
    let ips = stdout_ok("get ipaddresses", &cluster.kubectl(&["get", "ipaddresses"]));
    assert!(
        ips.lines().any(|l| l
            .split_whitespace()
            .eq(["fe80::42:1dff:fe84:f9e2", "myresources.mygroup/foo/bar"])),
        "{ips}"
    );
}
