//! High availability against real processes: three servers on 127.0.0.1 joined with the join
//! token, kubectl and kube-rs against followers, kill -9 of the leader under load, follower
//! kill, rolling restart, full power loss, a wiped member rejoining, a minority (two members
//! SIGSTOPped) refusing writes with a timeout Status, and a real network partition of the leader
//! (servers in network namespaces of their own).
//! Every load records its history, checked by `ha_support::history::check`.

mod ha_support;

use std::time::{Duration, Instant};

use ha_support::history::{self, Load};
use ha_support::HaCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

async fn clients(c: &HaCluster) -> Vec<kube::Client> {
    let mut out = Vec::new();
    for s in &c.servers {
        out.push(s.client().await);
    }
    out
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}
    }))
    .expect("configmap")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three servers form; members lists them; kubectl and kube-rs against a follower read their
/// own writes; a watch on one server sees another server's write at the same revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_serve_reads_writes_and_watches_anywhere() {
    let c = HaCluster::start(3).await;
    let members = c.members(1).await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert_eq!(
        members.iter().filter(|(_, r)| r == "leader").count(),
        1,
        "{members:?}"
    );
    assert_eq!(
        members.iter().filter(|(_, r)| r == "follower").count(),
        2,
        "{members:?}"
    );
    let table = ok(&c.servers[2].ferrokube(&["members"]));
    assert!(
        table.contains("leader") && table.matches("follower").count() == 2,
        "{table}"
    );

    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    // kubectl against a follower: write, then read back at once.
    let f = &c.servers[follower];
    ok(&f.kubectl(&["create", "configmap", "via-follower", "--from-literal=a=b"]));
    let got = ok(&f.kubectl(&[
        "get",
        "configmap",
        "via-follower",
        "-o",
        "jsonpath={.data.a}",
    ]));
    assert_eq!(got, "b");

    // A watch on `other` sees a write made on `follower` with the same resourceVersion.
    let watch_api: Api<ConfigMap> = Api::namespaced(c.servers[other].client().await, "default");
    let api: Api<ConfigMap> = Api::namespaced(f.client().await, "default");
    let start_rv = api
        .get("via-follower")
        .await
        .expect("get")
        .metadata
        .resource_version
        .expect("rv");
    let wp = kube::api::WatchParams::default().timeout(20);
    let stream = watch_api.watch(&wp, &start_rv).await.expect("watch");
    let created = api
        .create(&PostParams::default(), &cm("watched"))
        .await
        .expect("create");
    use futures::StreamExt;
    let mut stream = Box::pin(stream);
    let event = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("watch event in time")
        .expect("event")
        .expect("ok event");
    match event {
        kube::api::WatchEvent::Added(o) => {
            assert_eq!(o.metadata.name.as_deref(), Some("watched"));
            assert_eq!(
                o.metadata.resource_version,
                created.metadata.resource_version
            );
        }
        other => panic!("unexpected event {other:?}"),
    }
    // Read-your-writes with kube-rs on every server.
    for s in &c.servers {
        let api: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
        let name = format!("ryw-{}", s.index);
        let made = api
            .create(&PostParams::default(), &cm(&name))
            .await
            .expect("create");
        for t in &c.servers {
            let api: Api<ConfigMap> = Api::namespaced(t.client().await, "default");
            let got = api
                .get(&name)
                .await
                .expect("linearizable get on another server");
            assert_eq!(
                got.metadata.resource_version,
                made.metadata.resource_version
            );
        }
    }
}

/// Join refusals: a wrong token, a data dir of another cluster; and the last voter cannot be
/// removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_joins_and_last_voter_are_refused() {
    let mut a = HaCluster::start(1).await;
    let out = a.servers[0].ferrokube(&["members", "remove", &a.servers[0].node_id().to_string()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("last voter"), "{err}");

    // Wrong token.
    let j = a.new_joiner();
    j.spawn_with(&["--token", "abcdef.0123456789abcdef"]);
    let (status, log) = j.wait_exit().await;
    assert!(!status.success());
    assert!(log.contains("wrong join token"), "{log}");

    // A data dir that belongs to another cluster.
    let mut b = HaCluster::start(1).await;
    let b_dir = b.servers[0].dir.clone();
    b.servers[0].kill9();
    let j = a.new_joiner();
    j.dir = b_dir;
    j.spawn();
    let (status, log) = j.wait_exit().await;
    assert!(!status.success());
    assert!(log.contains("another cluster"), "{log}");
}

/// kill -9 of the leader under a concurrent write load: writes resume on the others within a
/// few seconds; the killed server comes back and catches up; the history holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_kill_under_load_loses_nothing() {
    let mut c = HaCluster::start(3).await;
    let load = Load::start(clients(&c).await, 6, "lk");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = load.acked();
    assert!(before > 0, "no writes before the kill");
    let leader = c.leader().await;
    let killed_at = Instant::now();
    c.servers[leader].kill9();
    // Writes resume on the survivors.
    let deadline = Instant::now() + Duration::from_secs(30);
    let resumed = loop {
        if load
            .last_ack()
            .is_some_and(|t| t > killed_at + Duration::from_millis(100))
            && load.acked() > before + 5
        {
            break load.last_ack().expect("ack");
        }
        assert!(
            Instant::now() < deadline,
            "writes did not resume after the leader died"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "writes resumed {:?} after the leader kill",
        resumed - killed_at
    );
    let new_leader = c.leader().await;
    assert_ne!(new_leader, leader);
    // The old leader restarts and catches up; the load keeps going meanwhile.
    c.servers[leader].spawn();
    c.servers[leader].wait_serving().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let histories = load.stop().await;
    eprintln!("{}", history::summary(&histories));
    for s in &c.servers {
        history::check(&histories, s.client().await).await;
    }
}

/// A follower killed and restarted; then a rolling restart of all three; then all three
/// kill -9 at once and restarted together. Nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_kill_rolling_restart_and_power_loss() {
    let mut c = HaCluster::start(3).await;
    let load = Load::start(clients(&c).await, 4, "rr");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    c.servers[follower].kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let n = load.acked();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(load.acked() > n, "writes stopped with one follower down");
    c.servers[follower].spawn();
    c.servers[follower].wait_serving().await;
    // Rolling restart: one at a time, waiting for each to serve again.
    for i in 0..3 {
        c.servers[i].kill9();
        c.servers[i].spawn();
        c.servers[i].wait_serving().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let histories = load.stop().await;
    eprintln!("rolling: {}", history::summary(&histories));
    history::check(&histories, c.servers[0].client().await).await;

    // Power loss under load: all kill -9, then all restart at once.
    let load = Load::start(clients(&c).await, 4, "pl");
    tokio::time::sleep(Duration::from_secs(3)).await;
    for s in &mut c.servers {
        s.kill9();
    }
    let histories = load.stop().await;
    eprintln!("power loss: {}", history::summary(&histories));
    for s in &mut c.servers {
        s.spawn();
    }
    for s in &mut c.servers {
        s.wait_serving().await;
    }
    for s in &c.servers {
        history::check(&histories, s.client().await).await;
    }
}

/// A member's disk is wiped: it is removed with `ferrokube members remove` and rejoins with an
/// empty data dir, catching up by snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wiped_member_is_removed_and_rejoins() {
    let mut c = HaCluster::start(3).await;
    let api: Api<ConfigMap> = Api::namespaced(c.servers[0].client().await, "default");
    for i in 0..200 {
        api.create(&PostParams::default(), &cm(&format!("before-wipe-{i}")))
            .await
            .expect("create");
    }
    let leader = c.leader().await;
    let victim = (leader + 1) % 3;
    let old_id = c.servers[victim].node_id();
    c.servers[victim].kill9();
    std::fs::remove_dir_all(&c.servers[victim].dir).expect("wipe");
    let out = c.servers[leader].ferrokube(&["members", "remove", &old_id.to_string()]);
    ok(&out);
    assert_eq!(c.members(leader).await.len(), 2);
    // Rejoin at the same addresses with an empty dir.
    let via = &c.servers[leader];
    let join = (via.peer_url(), via.join_token());
    let s = &mut c.servers[victim];
    s.spawn_with(&["--join", &join.0, "--token", &join.1]);
    s.wait_serving().await;
    let members = c.members(victim).await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|(_, r)| r != "learner"), "{members:?}");
    let api: Api<ConfigMap> = Api::namespaced(c.servers[victim].client().await, "default");
    let got = api.get("before-wipe-199").await.expect("caught up");
    assert_eq!(got.metadata.name.as_deref(), Some("before-wipe-199"));
}

/// Two of three members stopped (SIGSTOP, a stand-in for a network partition): the remaining
/// one answers writes with a 504 Timeout Status instead of hanging; once the others continue,
/// writes succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn minority_refuses_writes_with_a_timeout() {
    let c = HaCluster::start(3).await;
    let leader = c.leader().await;
    let lone = (leader + 1) % 3;
    for (i, s) in c.servers.iter().enumerate() {
        if i != lone {
            s.signal("-STOP");
        }
    }
    // kubectl, not kube-rs: kube-rs retries 503/504 on its own, which would hide how fast the
    // server answered.
    let began = Instant::now();
    let out = c.servers[lone].kubectl(&[
        "create",
        "configmap",
        "in-minority",
        "--request-timeout=120s",
    ]);
    let waited = began.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("minority write refused after {waited:?}: {err}");
    assert!(!out.status.success(), "a minority cannot commit");
    assert!(err.contains("Timeout"), "{err}");
    assert!(waited < Duration::from_secs(25), "took {waited:?}");
    // Once the server knows it is cut off, it answers at once.
    let began = Instant::now();
    let out = c.servers[lone].kubectl(&["create", "configmap", "in-minority-2"]);
    assert!(!out.status.success());
    assert!(
        began.elapsed() < Duration::from_secs(12),
        "took {:?}",
        began.elapsed()
    );
    let api: Api<ConfigMap> = Api::namespaced(c.servers[lone].client().await, "default");
    for (i, s) in c.servers.iter().enumerate() {
        if i != lone {
            s.signal("-CONT");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api.create(&PostParams::default(), &cm("after-heal")).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "writes did not come back: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// A real partition: each server on a host of its own (a network namespace), the leader cut off
/// from its peers while it keeps running and keeps answering clients, under a write load spread
/// over all three. The cut-off leader refuses writes with a timeout Status (and, knowing it is
/// cut off, at once), the majority elects a new leader and goes on, and after the partition
/// heals the old leader follows and serves the majority's writes; the history holds on every
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitioned_leader_steps_aside_and_catches_up() {
    let c = HaCluster::start_on_hosts(3).await;
    let load = Load::start(clients(&c).await, 6, "pt");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(load.acked() > 0, "no writes before the partition");
    let old = c.leader().await;
    c.isolate(old);
    let cut_at = Instant::now();

    // The majority elects a leader among themselves and takes writes.
    let majority: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let via = majority[0];
    let api: Api<ConfigMap> = Api::namespaced(c.servers[via].client().await, "default");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        match api
            .create(&PostParams::default(), &cm("majority-write"))
            .await
        {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "the majority took no write: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    eprintln!(
        "the majority took a write {:?} after the cut",
        cut_at.elapsed()
    );

    // The old leader, alive and reachable by clients, cannot commit.
    let out = c.servers[old].kubectl(&[
        "create",
        "configmap",
        "in-minority",
        "--request-timeout=120s",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a cut-off leader committed a write");
    assert!(err.contains("Timeout"), "{err}");
    let began = Instant::now();
    let out = c.servers[old].kubectl(&["create", "configmap", "in-minority-2"]);
    assert!(!out.status.success(), "a cut-off leader committed a write");
    assert!(
        began.elapsed() < Duration::from_secs(12),
        "took {:?}",
        began.elapsed()
    );

    // Healed: the old member follows the new leader and serves what the majority wrote.
    c.heal(old);
    let old_api: Api<ConfigMap> = Api::namespaced(c.servers[old].client().await, "default");
    let deadline = Instant::now() + Duration::from_secs(40);
    while old_api
        .get_opt("majority-write")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the healed member never caught up"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        old_api
            .get_opt("in-minority")
            .await
            .expect("read")
            .is_none(),
        "a write refused in the minority appeared"
    );
    let histories = load.stop().await;
    eprintln!("{}", history::summary(&histories));
    for s in &c.servers {
        history::check(&histories, s.client().await).await;
    }
}

/// An agent given all three servers keeps its node Lease renewed after its first server dies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_fails_over_between_servers() {
    use k8s_openapi::api::coordination::v1::Lease;
    let mut c = HaCluster::start(3).await;
    let urls: Vec<String> = c
        .servers
        .iter()
        .map(|s| format!("https://127.0.0.1:{}", s.port))
        .collect();
    let node = format!("ha-agent-{}", c.servers[0].port);
    let agent_dir = c.root.path().join("agent");
    let log = std::fs::File::create(c.root.path().join("agent.log")).expect("log");
    let mut agent = std::process::Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .args([
            "agent",
            "--no-proxy",
            "--node-name",
            &node,
            "--server",
            &urls.join(","),
        ])
        .arg("--token")
        .arg(c.servers[0].join_token())
        .arg("--ca-file")
        .arg(c.servers[0].dir.join("pki/ca.crt"))
        .arg("--data-dir")
        .arg(&agent_dir)
        .env("FERROKUBE_NO_IMAGE_PULL", "1")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("agent");
    let leases: Api<Lease> = Api::namespaced(c.servers[1].client().await, "kube-node-lease");
    let renew = |l: Lease| l.spec.and_then(|s| s.renew_time).map(|t| t.0);
    let deadline = Instant::now() + Duration::from_secs(90);
    let first = loop {
        if let Ok(Some(l)) = leases.get_opt(&node).await {
            if let Some(t) = renew(l) {
                break t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the agent never renewed its Lease"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    c.servers[0].kill9();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(l)) = leases.get_opt(&node).await {
            if renew(l).is_some_and(|t| t > first) {
                break;
            }
        }
        if Instant::now() > deadline {
            let _ = agent.kill();
            let text = std::fs::read_to_string(c.root.path().join("agent.log")).unwrap_or_default();
            panic!(
                "the agent did not fail over:\n{}",
                &text[text.len().saturating_sub(4000)..]
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = agent.kill();
    let _ = agent.wait();
}

/// The peer port takes only peer certificates of the cluster: no certificate, or a client
/// certificate of the cluster that is not a peer's (the admin's), gets 403; `/join` without
/// the right token gets 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peer_port_requires_a_peer_certificate() {
    let c = HaCluster::start(1).await;
    let s = &c.servers[0];
    let ca = std::fs::read(s.dir.join("pki/ca.crt")).expect("ca");
    let ca = reqwest::Certificate::from_pem(&ca).expect("ca pem");
    let url = format!("{}/peer/raft/vote", s.peer_url());
    let anonymous = reqwest::Client::builder()
        .add_root_certificate(ca.clone())
        .build()
        .expect("client");
    let resp = anonymous
        .post(&url)
        .body(vec![0u8; 4])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 403);
    let mut admin_pem = std::fs::read(s.dir.join("pki/admin.crt")).expect("admin cert");
    admin_pem.extend(std::fs::read(s.dir.join("pki/admin.key")).expect("admin key"));
    let admin = reqwest::Client::builder()
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&admin_pem).expect("identity"))
        .build()
        .expect("client");
    let resp = admin
        .post(&url)
        .body(vec![0u8; 4])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 403);
    let join = format!("{}/join", s.peer_url());
    let resp = admin
        .post(&join)
        .bearer_auth("abcdef.0123456789abcdef")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 401);
    let resp = admin.post(&join).send().await.expect("answer");
    assert_eq!(resp.status(), 401);
}
