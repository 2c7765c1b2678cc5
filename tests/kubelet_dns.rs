//! Pods' resolver and hosts files on Docker, read back with `kubectl exec`: ClusterFirst points
//! at the `kube-dns` ClusterIP with the namespace's search path, None takes only `dnsConfig`,
//! hostAliases and hostname/subdomain land in /etc/hosts, and a pod reaches the cluster DNS
//! server on the advertise address directly.

mod kubelet_common;
mod support;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kubelet_common::{cluster, create, kubectl_ok, running, wait_pod};
use serde_json::json;
use support::eventually;

fn pod(name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                        "command": ["sleep", "3600"]}],
    });
    for (k, v) in extra.as_object().expect("object") {
        spec[k] = v.clone();
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn resolv_conf_and_hosts_follow_dns_policy() {
    let (_serial, _sweep, c, _node) = cluster("e2e-dns").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, pod("first", json!({}))).await;
    create(
        &pods,
        pod(
            "custom",
            json!({"dnsPolicy": "None", "dnsConfig": {
                "nameservers": ["10.99.0.53"], "searches": ["corp.example"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}),
        ),
    )
    .await;
    create(
        &pods,
        pod(
            "named",
            json!({"hostname": "db-0", "subdomain": "db",
                "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}),
        ),
    )
    .await;
    for name in ["first", "custom", "named"] {
        wait_pod(&pods, name, "Running", running).await;
    }

    let resolv = kubectl_ok(&c, &["exec", "first", "--", "cat", "/etc/resolv.conf"]);
    let search = resolv
        .lines()
        .find(|l| l.starts_with("search "))
        .unwrap_or_default();
    assert!(
        search.starts_with("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    // The kube-dns ClusterIP: the 10th address of this server's service CIDR (test servers
    // each get their own CIDR).
    let dns_ip = kubectl_ok(
        &c,
        &[
            "get",
            "svc",
            "-n",
            "kube-system",
            "kube-dns",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    assert!(
        resolv.lines().any(|l| l == format!("nameserver {dns_ip}")),
        "{resolv}"
    );
    assert!(resolv.lines().any(|l| l == "options ndots:5"), "{resolv}");

    let custom = kubectl_ok(&c, &["exec", "custom", "--", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        custom,
        "search corp.example\nnameserver 10.99.0.53\noptions ndots:2 edns0\n"
    );

    let hosts = kubectl_ok(&c, &["exec", "named", "--", "cat", "/etc/hosts"]);
    let named = pods.get("named").await.expect("pod");
    let ip = named.status.and_then(|s| s.pod_ip).expect("pod IP");
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file.\n"),
        "{hosts}"
    );
    assert!(
        hosts.contains(&format!("{ip}\tdb-0.db.default.svc.cluster.local\tdb-0\n")),
        "{hosts}"
    );
    assert!(hosts.ends_with("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"));
    let own = kubectl_ok(&c, &["exec", "first", "--", "cat", "/etc/hosts"]);
    assert!(own.lines().any(|l| l.ends_with("\tfirst")), "{own}");

    // Straight to the DNS server's socket (the proxy is what maps the kube-dns ClusterIP's port 53 to it).
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    let server = eventually(kubelet_common::POD_WAIT, || async {
        let s = slices.get_opt("kube-dns").await.ok()??;
        let ip = s.endpoints.as_ref()?.first()?.addresses.first()?.clone();
        Some(format!("{ip}:{}", s.ports.as_ref()?.first()?.port?))
    })
    .await
    .expect("kube-dns endpoints");
    let answer = kubectl_ok(
        &c,
        &[
            "exec",
            "first",
            "--",
            "nslookup",
            "kubernetes.default.svc.cluster.local",
            &server,
        ],
    );
    let kubernetes_ip = kubectl_ok(
        &c,
        &[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
    );
    assert!(
        answer.contains(&format!("Address: {kubernetes_ip}")),
        "{answer}"
    );
}
