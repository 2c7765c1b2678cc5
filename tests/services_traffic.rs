//! Services carrying real traffic through the agent's nftables proxy (Docker): round-robin over
//! every ready replica and never an unready one, ClientIP affinity, scale-down, a selector matching nothing
//! refusing at once, NodePort from the host (127.0.0.1 and the node IP) and from a network
//! namespace standing in for another machine, `kubectl port-forward
//! svc/...`, the `kubernetes` Service from inside a pod, a long connection surviving a restart
//! of the server (and its agent) with no stale rule after it, and the rules gone once the server
//! stops.
//!
//! One cluster serves every scenario (a deployment of three busybox `httpd`s, each answering its
//! own pod name, and a client pod that runs `nc`): starting pods dominates the run time.

mod kubelet_common;
mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams, PostParams};
use kubelet_common::*;
use serde_json::json;
use support::{eventually, TestCluster};

/// How long a Service change may take to show in traffic before the test gives up (the proxy
/// itself needs well under a second; readiness probes and the controllers add the rest).
const TRAFFIC_WAIT: Duration = Duration::from_secs(30);

/// Requests per sample: with three backends chosen at random, missing one in 30 tries happens
/// once in ~60000 runs.
const SAMPLE: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ip_node_port_port_forward_and_the_kubernetes_service() {
    let (_serial, _sweep, mut c, node) = cluster("e2e-svc").await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    start_workloads(&c, &client).await;
    let web = wait_ready_replicas(&pods, 3).await;
    let mut web_ips = Vec::new();
    for name in &web {
        web_ips.push(pod_ip(&pods, name).await);
    }
    wait_pod(&pods, "c", "Running", running).await;
    let ip = cluster_ip(&services, "web").await;

    // Round-robin reaches every ready replica.
    let all: BTreeSet<String> = web.iter().cloned().collect();
    let seen = eventually(TRAFFIC_WAIT, || async {
        let seen: BTreeSet<String> = hits(&c, &ip, 80).into_iter().collect();
        (seen == all).then_some(seen)
    })
    .await;
    assert!(
        seen.is_some(),
        "ClusterIP {ip}:80 did not reach all of {all:?}: {:?}",
        hits(&c, &ip, 80)
    );

    // Names through cluster DNS, reached at the kube-dns ClusterIP through the proxy: the
    // pod's resolv.conf (ClusterFirst) points there, and the search path makes `web` enough.
    let looked_up = eventually(TRAFFIC_WAIT, || {
        let out = in_client(&c, "nslookup web.default.svc.cluster.local 2>&1 || true");
        let found = out.contains(&ip).then_some(out);
        async move { found }
    })
    .await;
    assert!(
        looked_up.is_some(),
        "nslookup through kube-dns: {}",
        in_client(
            &c,
            "cat /etc/resolv.conf; nslookup web.default.svc.cluster.local 2>&1 || true"
        )
    );
    let by_name: BTreeSet<String> = in_client(
        &c,
        "for i in 1 2 3 4 5 6; do printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 80 | tail -1; done",
    )
    .lines()
    .map(|l| l.trim().to_string())
    .filter(|l| !l.is_empty())
    .collect();
    assert!(
        !by_name.is_empty() && by_name.is_subset(&all),
        "`nc web 80` by short name answered {by_name:?}"
    );

    // sessionAffinity ClientIP: the client sticks to one replica.
    let sticky = cluster_ip(&services, "web-sticky").await;
    // (Retried: a slice update replacing the table mid-sample starts the affinity afresh.)
    let stuck = eventually(TRAFFIC_WAIT, || async {
        let answers = hits(&c, &sticky, 80);
        let distinct: BTreeSet<String> = answers.iter().cloned().collect();
        (answers.len() == SAMPLE && distinct.len() == 1).then_some(answers[0].clone())
    })
    .await;
    let Some(stuck) = stuck else {
        panic!(
            "ClientIP affinity on {sticky}:80 answered {:?}",
            hits(&c, &sticky, 80)
        )
    };
    // An unrelated new Service rewrites the table; the client still sticks to its replica.
    kubectl_ok(
        &c,
        &["create", "service", "clusterip", "other", "--tcp=81:81"],
    );
    let other = cluster_ip(&services, "other").await;
    let table = format!("ferrokube-{node}");
    let rewritten = eventually(TRAFFIC_WAIT, || {
        let rules = command_out("nft", &["list", "table", "ip", &table]);
        let found = rules
            .contains(&format!("ip daddr {other} tcp dport 81"))
            .then_some(());
        async move { found }
    })
    .await;
    assert!(rewritten.is_some(), "no rule for {other}:81 appeared");
    let after: BTreeSet<String> = hits(&c, &sticky, 80).into_iter().collect();
    assert_eq!(
        after,
        BTreeSet::from([stuck]),
        "affinity lost across a rewrite"
    );

    // A replica that turns unready stops receiving new connections.
    let unready = web[0].clone();
    kubectl_ok(&c, &["exec", &unready, "--", "rm", "/tmp/ready"]);
    let since = Instant::now();
    let rest: BTreeSet<String> = web[1..].iter().cloned().collect();
    let gone = eventually(TRAFFIC_WAIT, || async {
        let seen: BTreeSet<String> = hits(&c, &ip, 80).into_iter().collect();
        (seen == rest).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "unready {unready} still answers: {:?}",
        hits(&c, &ip, 80)
    );
    eprintln!(
        "readiness change reflected in traffic after {:?}",
        since.elapsed()
    );

    // The Service on a node port: from the host on 127.0.0.1 and on the node's address.
    let np = node_port(&services, "web-np").await;
    let node_ip = node_address(&client, &node).await;
    for host in ["127.0.0.1".to_string(), node_ip] {
        let answer = eventually(TRAFFIC_WAIT, || {
            let answer = get_i(&host, np).filter(|a| rest.contains(a));
            async move { answer }
        })
        .await;
        assert!(
            answer.is_some(),
            "node port {host}:{np} answered {:?}",
            get_i(&host, np)
        );
    }

    // ... and from another machine: a network namespace behind a veth pair, whose packets
    // are forwarded into the pod bridge (past Docker's forward policy).
    let other = OtherMachine::new();
    let answer = eventually(TRAFFIC_WAIT, || {
        let answer = other.get_i(np).filter(|a| rest.contains(a));
        async move { answer }
    })
    .await;
    assert!(
        answer.is_some(),
        "node port {}:{np} from another machine answered {:?}",
        other.host_ip,
        other.get_i(np)
    );
    drop(other);

    // kubectl port-forward to the Service: kubectl picks a pod and its resolved target port.
    let mut pf = background(&c, &["port-forward", "svc/web", ":80"]);
    let lines = read_until(&mut pf, |l| l.starts_with("Forwarding from 127.0.0.1:"));
    let port: u16 = lines
        .last()
        .and_then(|l| l.strip_prefix("Forwarding from 127.0.0.1:"))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("forwarded port");
    let forwarded = get_i("127.0.0.1", port);
    assert!(
        forwarded.as_ref().is_some_and(|a| all.contains(a)),
        "port-forward svc/web answered {forwarded:?}; kubectl: {}",
        pf.stderr()
    );
    drop(pf);

    // A Service whose selector matches nothing refuses at once instead of hanging.
    let nothing = cluster_ip(&services, "nothing").await;
    let began = Instant::now();
    let refused = in_client(
        &c,
        &format!("nc -w 5 {nothing} 80 </dev/null 2>&1; echo rc=$?"),
    );
    assert!(
        refused.contains("Connection refused") && refused.contains("rc=1"),
        "connecting to {nothing}:80 (no endpoints): {refused}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "refusal took {:?}",
        began.elapsed()
    );
    // Then a pod it selects appears (upstream's "serve a basic endpoint from pods" order: the
    // Service first, its endpoints later): the refusal gives way to the pod's answers.
    let late: Pod = serde_json::from_value(json!({
        "metadata": {"name": "late", "labels": {"app": "nothing"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "httpd",
            "image": "busybox", "command": ["sh", "-c",
                "mkdir -p /w && echo $HOSTNAME > /w/i && exec httpd -f -h /w -p 8080"],
            "ports": [{"containerPort": 8080}]}]}}))
    .expect("pod json");
    pods.create(&PostParams::default(), &late)
        .await
        .expect("create pod late");
    let served = eventually(TRAFFIC_WAIT, || async {
        hits(&c, &nothing, 80)
            .iter()
            .any(|h| h == "late")
            .then_some(())
    })
    .await;
    assert!(
        served.is_some(),
        "the Service never served its late endpoint"
    );

    // The `kubernetes` Service from a pod: kubectl's in-cluster config (KUBERNETES_SERVICE_HOST,
    // the service-account token and CA) verifies the server's certificate for the ClusterIP.
    let version = in_client(&c, "/kubectl get --raw /version 2>&1");
    assert!(
        version.contains("gitVersion"),
        "in-cluster kubectl: {version}"
    );

    // Scale down: within moments only the survivor answers.
    kubectl_ok(&c, &["scale", "deployment", "web", "--replicas=1"]);
    let since = Instant::now();
    let survivor = wait_ready_replicas(&pods, 1).await.remove(0);
    let only = eventually(TRAFFIC_WAIT, || async {
        let seen: BTreeSet<String> = hits(&c, &ip, 80).into_iter().collect();
        (seen.len() == 1 && seen.contains(&survivor)).then_some(())
    })
    .await;
    assert!(
        only.is_some(),
        "after scaling to 1 ({survivor}): {:?}",
        hits(&c, &ip, 80)
    );
    eprintln!(
        "scale-down reflected in traffic after {:?}",
        since.elapsed()
    );

    // Restarting the server (and its agent's proxy) keeps an established connection through a
    // ClusterIP alive, and the new rules hold no trace of the replicas scaled away.
    let echo = cluster_ip(&services, "echo").await;
    wait_pod(&pods, "echo", "Running", running).await;
    // A pod whose only process is the connection: were it cut, the pod would end.
    create(
        &pods,
        json!({"metadata": {"name": "long"}, "spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "long", "image": "busybox", "command": ["sh", "-c",
                format!("while true; do echo tick; sleep 0.2; done | nc {echo} 9000 > /tmp/long.out")]}]}}),
    )
    .await;
    wait_pod(&pods, "long", "Running", running).await;
    let flowing = eventually(TRAFFIC_WAIT, || {
        let n = ticks(&c);
        async move { (n >= 3).then_some(n) }
    })
    .await;
    assert!(flowing.is_some(), "no echo through {echo}:9000");
    c.restart().await;
    let survivor_ip = pod_ip(&pods, &survivor).await;
    let want = format!("dnat to {survivor_ip}:8080");
    let reprogrammed = eventually(TRAFFIC_WAIT, || {
        let rules = command_out("nft", &["list", "table", "ip", &table]);
        let found = rules.contains(&want).then_some(rules);
        async move { found }
    })
    .await
    .expect("the restarted agent programs its table again");
    for gone in &web_ips {
        if *gone != survivor_ip {
            assert!(
                !reprogrammed.contains(&format!("{gone}:8080")),
                "stale rule for {gone}: {reprogrammed}"
            );
        }
    }
    let before = ticks(&c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = ticks(&c);
    assert!(
        after > before,
        "the long connection stalled across the restart ({before} -> {after} lines)"
    );

    // Stopping the server stops its agent, whose proxy removes its table and route.
    let prefix = ip
        .rsplit_once('.')
        .map(|(p, _)| format!("{p}."))
        .unwrap_or_default();
    drop(c);
    let tables = command_out("nft", &["list", "tables"]);
    assert!(!tables.contains(&table), "{table} left behind: {tables}");
    let routes = command_out("ip", &["-4", "route", "show"]);
    assert!(
        !routes.lines().any(|r| r.starts_with(&prefix)),
        "service route {prefix}0/24 left behind: {routes}"
    );
}

/// The `web` deployment (three `httpd`s answering `GET /i` with their pod name, ready while
/// /tmp/ready exists), its Services, a Service selecting nothing, and the client pod `c` with
/// the host's (static) kubectl mounted at /kubectl.
async fn start_workloads(c: &TestCluster, client: &kube::Client) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let web: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "httpd", "image": "busybox",
                    "command": ["sh", "-c",
                        "mkdir -p /w && echo $HOSTNAME > /w/i && touch /tmp/ready && exec httpd -f -h /w -p 8080"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                        "periodSeconds": 1, "failureThreshold": 1}}]}}}}))
    .expect("deployment json");
    deployments
        .create(&PostParams::default(), &web)
        .await
        .expect("create deployment web");
    // A named target port: the EndpointSlice resolves it per pod.
    kubectl_ok(
        c,
        &[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=http",
        ],
    );
    kubectl_ok(
        c,
        &[
            "expose",
            "deployment",
            "web",
            "--name=web-np",
            "--type=NodePort",
            "--port=80",
            "--target-port=8080",
        ],
    );
    kubectl_ok(
        c,
        &[
            "expose",
            "deployment",
            "web",
            "--name=web-sticky",
            "--port=80",
            "--target-port=8080",
            "--session-affinity=ClientIP",
        ],
    );
    kubectl_ok(
        c,
        &["create", "service", "clusterip", "nothing", "--tcp=80:8080"],
    );
    // An echo server for the long-lived connection.
    create(
        &pods,
        json!({"metadata": {"name": "echo", "labels": {"app": "echo"}},
            "spec": {"terminationGracePeriodSeconds": 0,
            "containers": [{"name": "echo", "image": "busybox",
                "command": ["nc", "-ll", "-p", "9000", "-e", "cat"]}]}}),
    )
    .await;
    kubectl_ok(c, &["expose", "pod", "echo", "--port=9000"]);
    let kubectl = std::fs::canonicalize(which("kubectl")).expect("kubectl on PATH");
    create(
        &pods,
        json!({"metadata": {"name": "c"}, "spec": {"terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                "volumeMounts": [{"name": "kubectl", "mountPath": "/kubectl"}]}],
            "volumes": [{"name": "kubectl",
                "hostPath": {"path": kubectl.to_string_lossy(), "type": "File"}}]}}),
    )
    .await;
}

/// The names of the `web` pods once exactly `n` of them exist (not terminating) and are ready.
async fn wait_ready_replicas(pods: &Api<Pod>, n: usize) -> Vec<String> {
    let found = eventually(POD_WAIT, || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        let live: Vec<&Pod> = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        (live.len() == n && live.iter().all(|p| is_ready(p))).then(|| {
            live.iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect()
        })
    })
    .await;
    found.unwrap_or_else(|| panic!("web never had {n} ready replicas"))
}

async fn pod_ip(pods: &Api<Pod>, name: &str) -> String {
    let p = pods.get(name).await.expect("get pod");
    p.status
        .and_then(|s| s.pod_ip)
        .unwrap_or_else(|| panic!("pod {name} has no IP"))
}

async fn cluster_ip(services: &Api<Service>, name: &str) -> String {
    let svc = services.get(name).await.expect("get service");
    svc.spec
        .and_then(|s| s.cluster_ip)
        .filter(|ip| ip != "None")
        .unwrap_or_else(|| panic!("service {name} has no ClusterIP"))
}

async fn node_port(services: &Api<Service>, name: &str) -> u16 {
    let svc = services.get(name).await.expect("get service");
    svc.spec
        .and_then(|s| s.ports)
        .and_then(|p| p.first().and_then(|p| p.node_port))
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("service {name} has no node port"))
}

/// The node's InternalIP as registered by the agent.
async fn node_address(client: &kube::Client, node: &str) -> String {
    let nodes: Api<Node> = Api::all(client.clone());
    let n = nodes.get(node).await.expect("get node");
    n.status
        .and_then(|s| s.addresses)
        .into_iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address)
        .expect("node InternalIP")
}

/// Lines the long-lived echo connection has brought back so far.
fn ticks(c: &TestCluster) -> usize {
    kubectl_ok(
        c,
        &["exec", "long", "--", "sh", "-c", "wc -l < /tmp/long.out"],
    )
    .trim()
    .parse()
    .unwrap_or(0)
}

/// Runs a shell script in the client pod and returns what it printed.
fn in_client(c: &TestCluster, script: &str) -> String {
    kubectl_ok(c, &["exec", "c", "--", "sh", "-c", script])
}

/// [`SAMPLE`] one-shot `GET /i` requests from the client pod to `ip:port`: who answered each.
fn hits(c: &TestCluster, ip: &str, port: u16) -> Vec<String> {
    let script = format!(
        "for i in $(seq {SAMPLE}); do printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port} | tail -1; done"
    );
    in_client(c, &script)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `GET /i` from the host; the body's last line (the answering pod's name).
fn get_i(host: &str, port: u16) -> Option<String> {
    let addr = format!("{host}:{port}").parse().ok()?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    conn.write_all(b"GET /i HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    conn.read_to_string(&mut body).ok()?;
    body.lines().last().map(|l| l.trim().to_string())
}

/// A network namespace joined to the host by a veth pair on a /30 of 198.18.0.0/15 (the
/// benchmarking range): a stand-in for another machine that reaches node ports through the
/// host's forwarding path. Removed when dropped.
struct OtherMachine {
    ns: String,
    host_ip: String,
}

impl OtherMachine {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let ns = format!("fk-ext-{id}");
        let (host_end, ns_end) = (format!("fkh{id}"), format!("fkn{id}"));
        let net = format!("198.18.{}", id % 250);
        let host_ip = format!("{net}.1");
        let me = OtherMachine { ns, host_ip };
        for args in [
            vec!["netns", "add", &me.ns],
            vec![
                "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end,
            ],
            vec!["link", "set", &ns_end, "netns", &me.ns],
            vec![
                "addr",
                "add",
                &format!("{}/30", me.host_ip),
                "dev",
                &host_end,
            ],
            vec!["link", "set", &host_end, "up"],
            vec![
                "-n",
                &me.ns,
                "addr",
                "add",
                &format!("{net}.2/30"),
                "dev",
                &ns_end,
            ],
            vec!["-n", &me.ns, "link", "set", &ns_end, "up"],
            vec!["-n", &me.ns, "route", "add", "default", "via", &me.host_ip],
        ] {
            let out = std::process::Command::new("ip")
                .args(&args)
                .output()
                .expect("running ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        me
    }

    /// `GET /i` to the host's end of the pair from inside the namespace (busybox `nc`).
    fn get_i(&self, port: u16) -> Option<String> {
        let script = format!(
            "printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {} {port} | tail -1",
            self.host_ip
        );
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns, "busybox", "sh", "-c", &script])
            .output()
            .ok()?;
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!line.is_empty()).then_some(line)
    }
}

impl Drop for OtherMachine {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

fn command_out(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn which(bin: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(bin))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{bin} not on PATH"))
}
