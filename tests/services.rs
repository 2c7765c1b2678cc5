//! Services as the API server makes them (no Docker): the `default/kubernetes` Service with its
//! Endpoints and EndpointSlice pointing at the advertise address, a serving certificate valid
//! for the in-cluster names, and ClusterIP / NodePort allocation with upstream's errors.

mod support;

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{json, Value};
use support::{eventually, stdout_ok, ClusterOptions, TestCluster};

const WAIT: Duration = Duration::from_secs(20);

async fn kubernetes_objects(client: &kube::Client) -> Option<(Service, Endpoints, EndpointSlice)> {
    let svc = Api::<Service>::namespaced(client.clone(), "default")
        .get_opt("kubernetes")
        .await
        .ok()??;
    let eps = Api::<Endpoints>::namespaced(client.clone(), "default")
        .get_opt("kubernetes")
        .await
        .ok()??;
    let slice = Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .get_opt("kubernetes")
        .await
        .ok()??;
    Some((svc, eps, slice))
}

fn port_of(cluster: &TestCluster) -> u16 {
    cluster
        .base_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in base URL")
}

#[tokio::test]
async fn kubernetes_service_points_at_the_advertise_address_and_survives_restarts() {
    let mut cluster =
        TestCluster::start_with(ClusterOptions::default().arg("--advertise-address=127.0.0.2"))
            .await;
    let port = port_of(&cluster);
    let client = cluster.client().await;
    let (svc, eps, slice) = eventually(WAIT, || kubernetes_objects(&client))
        .await
        .expect("the kubernetes Service, Endpoints and EndpointSlice appear");
    let spec = svc.spec.clone().unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.1"));
    assert_eq!(spec.cluster_ips, Some(vec!["10.96.0.1".to_string()]));
    let sp = &spec.ports.as_ref().unwrap()[0];
    assert_eq!((sp.name.as_deref(), sp.port), (Some("https"), 443));
    assert_eq!(
        sp.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(port as i32))
    );
    let subset = &eps.subsets.as_ref().unwrap()[0];
    assert_eq!(subset.addresses.as_ref().unwrap()[0].ip, "127.0.0.2");
    assert_eq!(subset.ports.as_ref().unwrap()[0].port, port as i32);
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice.endpoints.as_ref().expect("endpoints")[0].addresses,
        vec!["127.0.0.2".to_string()]
    );
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(port as i32));
    assert_eq!(
        slice.metadata.labels.as_ref().unwrap()["kubernetes.io/service-name"],
        "kubernetes"
    );

    // kubectl sees the same Service.
    let ip = stdout_ok(
        "kubectl get svc kubernetes",
        &cluster.kubectl(&[
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]),
    );
    assert_eq!(ip, "10.96.0.1");

    // The server answers on the advertise address, with a certificate for the in-cluster names.
    let ca = reqwest::Certificate::from_pem(
        &std::fs::read(cluster.data_dir().join("pki/ca.crt")).unwrap(),
    )
    .unwrap();
    for name in [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca.clone())
            .resolve(name, ([127, 0, 0, 2], port).into())
            .build()
            .unwrap();
        let resp = http
            .get(format!("https://{name}:{port}/version"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: TLS to the advertise address failed: {e:?}"));
        // Anonymous requests may be refused; what matters is that the handshake verified.
        assert!(resp.status().as_u16() < 500, "{name}: {}", resp.status());
    }
    let sans = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cluster.data_dir().join("pki/server.crt"))
        .output()
        .expect("openssl");
    let sans = stdout_ok("openssl x509", &sans);
    for ip in ["IP Address:10.96.0.1", "IP Address:127.0.0.2"] {
        assert!(sans.contains(ip), "{sans} lacks {ip}");
    }

    // A restart keeps the objects (same uid), and a deleted Endpoints comes back.
    let uid = svc.metadata.uid.clone();
    cluster.restart().await;
    let client = cluster.client().await;
    let (svc2, _, _) = eventually(WAIT, || kubernetes_objects(&client))
        .await
        .expect("still there after a restart");
    assert_eq!(svc2.metadata.uid, uid);
    assert_eq!(svc2.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.1"));
}

fn service(name: &str, spec: Value) -> Service {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

async fn refused(api: &Api<Service>, svc: Service, message: &str) {
    let name = svc.metadata.name.clone().unwrap();
    match api.create(&PostParams::default(), &svc).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
            assert!(
                s.message.contains(message),
                "{:?} lacks {message:?}",
                s.message
            );
        }
        other => panic!("{name}: expected 422, got {other:?}"),
    }
    assert!(
        api.get_opt(&name).await.unwrap().is_none(),
        "{name} was stored"
    );
}

fn cluster_ip(svc: &Service) -> String {
    svc.spec
        .as_ref()
        .unwrap()
        .cluster_ip
        .clone()
        .unwrap_or_default()
}

fn node_port(svc: &Service) -> i32 {
    svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0]
        .node_port
        .expect("a node port")
}

#[tokio::test]
async fn cluster_ips_and_node_ports_are_allocated_checked_and_released() {
    let mut cluster = TestCluster::start_with(
        ClusterOptions::default()
            .arg("--service-cidr=10.100.0.0/26")
            .arg("--service-node-port-range=30100-30199"),
    )
    .await;
    let client = cluster.client().await;
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    // kubectl: create service clusterip / nodeport, expose.
    stdout_ok(
        "create clusterip",
        &cluster.kubectl(&["create", "service", "clusterip", "a", "--tcp=80:8080"]),
    );
    stdout_ok(
        "create nodeport",
        &cluster.kubectl(&["create", "service", "nodeport", "np", "--tcp=80:8080"]),
    );
    stdout_ok(
        "create deployment",
        &cluster.kubectl(&["create", "deployment", "web", "--image=busybox"]),
    );
    stdout_ok(
        "expose",
        &cluster.kubectl(&[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ]),
    );
    let a = api.get("a").await.unwrap();
    let ip_a = cluster_ip(&a);
    let ip: std::net::Ipv4Addr = ip_a.parse().unwrap();
    assert_eq!(ip.octets()[..3], [10, 100, 0]);
    assert!(ip.octets()[3] >= 2 && ip.octets()[3] <= 62, "{ip}");
    let spec = a.spec.clone().unwrap();
    assert_eq!(spec.cluster_ips, Some(vec![ip_a.clone()]));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    let np = api.get("np").await.unwrap();
    let port = node_port(&np);
    assert!((30100..=30199).contains(&port), "{port}");
    let web = api.get("web").await.unwrap();
    assert_ne!(cluster_ip(&web), ip_a);
    assert_ne!(cluster_ip(&web), cluster_ip(&np));

    // Bad requests: 422 with upstream's messages, nothing stored.
    let ports = json!([{"port": 80}]);
    refused(&api, service("out", json!({"clusterIP": "10.0.0.1", "ports": ports})),
        "spec.clusterIPs: Invalid value: []string{\"10.0.0.1\"}: failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. The range of valid IPs is 10.100.0.0/26").await;
    refused(&api, service("dup", json!({"clusterIP": ip_a, "ports": ports})),
        &format!("spec.clusterIPs: Invalid value: []string{{\"{ip_a}\"}}: failed to allocate IP {ip_a}: provided IP is already allocated")).await;
    refused(
        &api,
        service(
            "dupport",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
        ),
        &format!(
            "spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"
        ),
    )
    .await;
    refused(&api, service("far", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]})),
        "spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30100-30199").await;
    refused(
        &api,
        service(
            "notype",
            json!({"ports": [{"port": 80, "nodePort": 30150}]}),
        ),
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    )
    .await;

    // The ClusterIP is immutable; a replace that leaves it out keeps it.
    let mut changed = api.get("a").await.unwrap();
    changed.spec.as_mut().unwrap().cluster_ip = Some("10.100.0.60".into());
    changed.spec.as_mut().unwrap().cluster_ips = Some(vec!["10.100.0.60".into()]);
    match api.replace("a", &pp, &changed).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            assert!(s.message.contains("may not change once set"), "{s:?}");
        }
        other => panic!("changing the clusterIP: expected 422, got {other:?}"),
    }
    let mut unset = api.get("a").await.unwrap();
    unset.spec.as_mut().unwrap().cluster_ip = None;
    unset.spec.as_mut().unwrap().cluster_ips = None;
    let kept = api.replace("a", &pp, &unset).await.unwrap();
    assert_eq!(cluster_ip(&kept), ip_a);

    // Headless and ExternalName services get no address.
    let headless = api
        .create(
            &pp,
            &service(
                "h",
                json!({"clusterIP": "None", "selector": {"a": "b"}, "ports": ports}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(cluster_ip(&headless), "None");
    let ext = api
        .create(
            &pp,
            &service(
                "ext",
                json!({"type": "ExternalName", "externalName": "example.org"}),
            ),
        )
        .await
        .unwrap();
    let ext_spec = ext.spec.unwrap();
    assert_eq!((ext_spec.cluster_ip, ext_spec.ip_families), (None, None));

    // Deleting frees the address and the port for explicit requests.
    stdout_ok("delete", &cluster.kubectl(&["delete", "svc", "a", "np"]));
    let again = api
        .create(
            &pp,
            &service(
                "again",
                json!({"clusterIP": ip_a, "type": "NodePort",
            "ports": [{"port": 80, "nodePort": port}]}),
            ),
        )
        .await
        .expect("freed address and port are allocatable again");
    assert_eq!(
        (cluster_ip(&again), node_port(&again)),
        (ip_a.clone(), port)
    );

    // Concurrent creates never share an address.
    let creates = (0..12).map(|i| {
        let api = api.clone();
        async move {
            api.create(
                &PostParams::default(),
                &service(&format!("c{i}"), json!({"ports": [{"port": 80}]})),
            )
            .await
            .map(|s| cluster_ip(&s))
        }
    });
    let mut ips: Vec<String> = join_all(creates)
        .await
        .into_iter()
        .map(|r| r.expect("concurrent create"))
        .collect();
    ips.extend(["10.100.0.1", &cluster_ip(&again), &cluster_ip(&web)].map(String::from));
    let n = ips.len();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), n, "an address was handed out twice: {ips:?}");
    api.delete("again", &DeleteParams::default()).await.unwrap();

    // The allocations live in the store: after a restart a taken address is still taken and a
    // freed one is free.
    let taken = cluster_ip(&api.get("c0").await.unwrap());
    cluster.restart().await;
    let api: Api<Service> = Api::namespaced(cluster.client().await, "default");
    refused(
        &api,
        service("late", json!({"clusterIP": taken, "ports": ports})),
        "provided IP is already allocated",
    )
    .await;
    api.create(
        &pp,
        &service("late", json!({"clusterIP": ip_a, "ports": ports})),
    )
    .await
    .expect("the address freed before the restart is free after it");
}

/// The slices of a selectorless Service, as kubectl lists them: `(name, address type, ports,
/// endpoints)` per slice of `service`.
fn kubectl_slices(cluster: &TestCluster, service: &str) -> Vec<Value> {
    let out = cluster.kubectl(&[
        "get",
        "endpointslices",
        "-l",
        &format!("kubernetes.io/service-name={service}"),
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&stdout_ok("get endpointslices", &out)).unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Upstream's EndpointSliceMirroring conformance spec, through kubectl: hand-written Endpoints
/// of a Service without a selector are mirrored into slices managed by the mirroring
/// controller and owned by the Endpoints; an update moves the address, a delete removes them.
/// Endpoints labelled `skip-mirror` are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_endpoints_are_mirrored_into_endpoint_slices() {
    let cluster = TestCluster::start().await;
    let apply = |yaml: Value| {
        let path = cluster.scratch().join("mirror.json");
        std::fs::write(&path, yaml.to_string()).unwrap();
        let out = cluster.kubectl(&["apply", "-f", path.to_str().unwrap()]);
        stdout_ok("kubectl apply", &out);
    };
    let endpoints = |name: &str, ip: &str, labels: Value| {
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "labels": labels},
            "subsets": [{"ports": [{"port": 80}], "addresses": [{"ip": ip}]}]})
    };
    apply(json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "example-custom-endpoints"},
         "spec": {"ports": [{"name": "example", "port": 80, "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "opted-out"},
         "spec": {"ports": [{"port": 80}]}},
        endpoints("opted-out", "10.9.9.9", json!({"endpointslice.kubernetes.io/skip-mirror": "true"})),
    ]}));
    apply(endpoints(
        "example-custom-endpoints",
        "10.1.2.3",
        json!({"team": "a"}),
    ));

    let addresses = |want: &'static str| {
        let cluster = &cluster;
        move || async move {
            let slices = kubectl_slices(cluster, "example-custom-endpoints");
            let ok = slices.len() == 1
                && slices[0]["endpoints"][0]["addresses"] == json!([want])
                && slices[0]["ports"] == json!([{"port": 80, "protocol": "TCP"}]);
            ok.then(|| slices[0].clone())
        }
    };
    let slice = eventually(WAIT, addresses("10.1.2.3"))
        .await
        .expect("the custom Endpoints mirrored");
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["endpoints"][0]["conditions"], json!({"ready": true}));
    let labels = &slice["metadata"]["labels"];
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslicemirroring-controller.k8s.io"
    );
    assert_eq!(labels["team"], "a", "the Endpoints' labels are copied");
    let owner = &slice["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("Endpoints"), Some("example-custom-endpoints"))
    );
    assert!(slice["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("example-custom-endpoints-"));

    apply(endpoints(
        "example-custom-endpoints",
        "10.2.3.4",
        json!({"team": "a"}),
    ));
    eventually(WAIT, addresses("10.2.3.4"))
        .await
        .expect("the update mirrored");

    stdout_ok(
        "delete endpoints",
        &cluster.kubectl(&["delete", "endpoints", "example-custom-endpoints"]),
    );
    eventually(WAIT, || async {
        kubectl_slices(&cluster, "example-custom-endpoints")
            .is_empty()
            .then_some(())
    })
    .await
    .expect("the delete mirrored");
    assert!(
        kubectl_slices(&cluster, "opted-out").is_empty(),
        "skip-mirror Endpoints were mirrored"
    );
}

/// A port without a target port serves on the same port: left out (kubectl, kube-rs) or sent as
/// Go clients send an unset IntOrString — `0` (client-go, upstream's e2e jig) — or `""`. A
/// target port of 0 would otherwise reach the endpoint slices and the proxy's rules.
#[tokio::test]
async fn unset_target_ports_default_to_the_port() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let spec = json!({"selector": {"app": "web"}, "ports": [
        {"name": "zero", "port": 80, "targetPort": 0},
        {"name": "empty", "port": 81, "targetPort": ""},
        {"name": "missing", "port": 82},
        {"name": "named", "port": 83, "targetPort": "http"}]});
    api.create(&PostParams::default(), &service("jig", spec))
        .await
        .unwrap();
    let manifest = cluster.scratch().join("svc.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Service\nmetadata: {name: yaml}\nspec:\n  ports: [{port: 8080, targetPort: 0}]\n",
    )
    .unwrap();
    stdout_ok(
        "apply",
        &cluster.kubectl(&["apply", "-f", manifest.to_str().unwrap()]),
    );
    let targets = |svc: &Service| -> Vec<Value> {
        let spec = svc.spec.clone().unwrap();
        spec.ports
            .unwrap()
            .iter()
            .map(|p| serde_json::to_value(&p.target_port).unwrap())
            .collect()
    };
    let jig = api.get("jig").await.unwrap();
    assert_eq!(
        targets(&jig),
        [json!(80), json!(81), json!(82), json!("http")]
    );
    assert_eq!(targets(&api.get("yaml").await.unwrap()), [json!(8080)]);
}
