use super::*;
use serde_json::json;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web-0", "namespace": "shop"},
        "spec": spec,
    }))
    .expect("pod")
}

fn node_dns() -> PodDnsConfig {
    PodDnsConfig {
        cluster_dns: vec!["10.96.0.10".parse().unwrap()],
        cluster_domain: "cluster.local".into(),
        host: ResolvConf::parse(
            "# host\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nsearch corp.example\noptions edns0\n",
        ),
    }
}

#[test]
fn host_resolv_conf_drops_loopback_servers() {
    let host = node_dns().host;
    assert_eq!(host.nameservers, ["192.168.1.1"]);
    assert_eq!(host.searches, ["corp.example"]);
    assert_eq!(host.options, ["edns0"]);
}

#[test]
fn cluster_first_uses_the_cluster_dns_and_the_pods_search_path() {
    let conf = resolv_conf(&pod(json!({"containers": []})), &node_dns());
    assert_eq!(
        conf.render(),
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n\
         nameserver 10.96.0.10\noptions ndots:5\n"
    );
}

#[test]
fn host_network_pods_need_cluster_first_with_host_net() {
    let dns = node_dns();
    let plain = resolv_conf(&pod(json!({"hostNetwork": true, "containers": []})), &dns);
    assert_eq!(plain, dns.host);
    let with =
        pod(json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet", "containers": []}));
    assert_eq!(resolv_conf(&with, &dns).nameservers, ["10.96.0.10"]);
}

#[test]
fn default_policy_and_missing_cluster_dns_use_the_node_resolver() {
    let dns = node_dns();
    let default = pod(json!({"dnsPolicy": "Default", "containers": []}));
    assert_eq!(resolv_conf(&default, &dns), dns.host);
    let no_cluster = PodDnsConfig {
        cluster_dns: vec![],
        ..node_dns()
    };
    assert_eq!(
        resolv_conf(&pod(json!({"containers": []})), &no_cluster),
        dns.host
    );
}

#[test]
fn none_takes_only_dns_config_and_options_merge_by_name() {
    let none = pod(json!({"dnsPolicy": "None", "containers": [], "dnsConfig": {
        "nameservers": ["1.2.3.4", "1.2.3.4"], "searches": ["a.example", "b.example."],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}));
    assert_eq!(
        resolv_conf(&none, &node_dns()).render(),
        "search a.example b.example\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
    );
    let merged = pod(json!({"containers": [], "dnsConfig": {
        "nameservers": ["1.2.3.4", "5.6.7.8", "9.9.9.9"], "searches": ["x.example"],
        "options": [{"name": "ndots", "value": "1"}]}}));
    let conf = resolv_conf(&merged, &node_dns());
    assert_eq!(conf.nameservers, ["10.96.0.10", "1.2.3.4", "5.6.7.8"]);
    assert_eq!(conf.searches.last().map(String::as_str), Some("x.example"));
    assert_eq!(conf.options, ["ndots:1"]);
}

#[test]
fn hosts_file_names_the_pod_and_its_aliases() {
    let p = pod(
        json!({"hostname": "db-0", "subdomain": "db", "containers": [],
        "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]}),
    );
    let text = hosts_file(&p, Some("172.17.0.9"), &node_dns(), "");
    assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
    assert!(
        text.contains("172.17.0.9\tdb-0.db.shop.svc.cluster.local\tdb-0\n"),
        "{text}"
    );
    assert!(text.ends_with("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"));
    let plain = hosts_file(
        &pod(json!({"containers": []})),
        Some("172.17.0.9"),
        &node_dns(),
        "",
    );
    assert!(plain.contains("172.17.0.9\tweb-0\n"));
}

#[test]
fn host_network_pods_get_the_node_hosts_file() {
    let p = pod(json!({"hostNetwork": true, "containers": []}));
    let text = hosts_file(
        &p,
        Some("10.0.0.1"),
        &node_dns(),
        "127.0.0.1 localhost\n10.0.0.1 node\n",
    );
    assert_eq!(
        text,
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n10.0.0.1 node\n"
    );
}

#[test]
fn written_files_are_mounted_over_the_engines() {
    let dir = std::env::temp_dir().join(format!("pod-dns-{}", std::process::id()));
    let mounts = write_files(
        &dir,
        &pod(json!({"containers": []})),
        Some("172.17.0.9"),
        &node_dns(),
    )
    .expect("write");
    let targets: Vec<_> = mounts.iter().map(|m| m.container_path.as_str()).collect();
    assert_eq!(targets, ["/etc/resolv.conf", "/etc/hosts"]);
    let resolv = std::fs::read_to_string(&mounts[0].host_path).expect("resolv");
    assert!(resolv.contains("nameserver 10.96.0.10"));
    std::fs::remove_dir_all(&dir).ok();
}
