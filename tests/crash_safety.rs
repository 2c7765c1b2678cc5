//! Crash safety: every acknowledged write survives `kill -9` and a restart on the same data dir,
//! with the same uid and resourceVersion, and revisions keep increasing afterwards.

mod support;

use std::collections::BTreeMap;

use futures::{stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use support::TestCluster;

/// Objects created concurrently before the crash.
const OBJECTS: usize = 200;
/// Concurrent clients.
const CONCURRENCY: usize = 32;

/// name → (uid, resourceVersion) as the server acknowledged them.
type Acked = BTreeMap<String, (String, String)>;

fn ack(cm: &ConfigMap) -> (String, (String, String)) {
    (
        cm.name_any(),
        (
            cm.uid().unwrap_or_default(),
            cm.resource_version().unwrap_or_default(),
        ),
    )
}

async fn stored(api: &Api<ConfigMap>) -> Acked {
    api.list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        // Only the test's own objects: controllers add e.g. kube-root-ca.crt to every namespace.
        .filter(|cm| cm.name_any() != "kube-root-ca.crt")
        .map(ack)
        .collect()
}

fn max_rv(acked: &Acked) -> u64 {
    acked
        .values()
        .filter_map(|(_, rv)| rv.parse().ok())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let mut cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some("crash".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let ns = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "crash");

    let created: Vec<ConfigMap> = stream::iter(0..OBJECTS)
        .map(|i| {
            let api = api.clone();
            async move {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(format!("cm-{i:04}")),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([("i".to_string(), i.to_string())])),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &cm)
                    .await
                    .expect("create")
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut acked: Acked = created.iter().map(ack).collect();
    assert_eq!(acked.len(), OBJECTS);
    let distinct_rvs: std::collections::BTreeSet<_> =
        acked.values().map(|(_, rv)| rv.clone()).collect();
    assert_eq!(
        distinct_rvs.len(),
        OBJECTS,
        "every write gets its own revision"
    );

    // Updates and deletes are acknowledged writes too.
    let updated: Vec<ConfigMap> = stream::iter(0..OBJECTS / 4)
        .map(|i| {
            let api = api.clone();
            async move {
                let body = json!({"data": {"updated": "yes"}});
                api.patch(
                    &format!("cm-{i:04}"),
                    &PatchParams::default(),
                    &Patch::Merge(body),
                )
                .await
                .expect("patch")
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    acked.extend(updated.iter().map(ack));
    for i in OBJECTS - 10..OBJECTS {
        let name = format!("cm-{i:04}");
        api.delete(&name, &DeleteParams::default())
            .await
            .expect("delete");
        acked.remove(&name);
    }
    assert_eq!(
        stored(&api).await,
        acked,
        "the server lists what it acknowledged"
    );
    let high_water = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("RV");
    let high_water: u64 = high_water.parse().expect("numeric RV");

    cluster.kill9();
    cluster.restart().await;
    let client = cluster.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "crash");
    assert_eq!(
        stored(&api).await,
        acked,
        "acknowledged writes lost or changed by kill -9"
    );
    let updated = api.get("cm-0000").await.expect("get");
    assert_eq!(
        updated
            .data
            .as_ref()
            .and_then(|d| d.get("updated"))
            .map(String::as_str),
        Some("yes")
    );
    let ns_after = Api::<Namespace>::all(client.clone())
        .get("crash")
        .await
        .expect("namespace survives");
    assert_eq!(ns_after.uid(), ns.uid());
    assert_eq!(ns_after.resource_version(), ns.resource_version());
    let listed_rv: u64 = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .and_then(|rv| rv.parse().ok())
        .expect("numeric list RV");
    assert!(
        listed_rv >= high_water,
        "the revision went backwards: {listed_rv} < {high_water}"
    );

    // The next write continues the revision sequence.
    let next = api
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("after".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .expect("create after restart");
    let next_rv: u64 = next
        .resource_version()
        .and_then(|rv| rv.parse().ok())
        .expect("numeric RV");
    assert!(
        next_rv > high_water && next_rv > max_rv(&acked),
        "next RV {next_rv} not above {high_water}"
    );
    acked.insert("after".into(), ack(&next).1);

    // A graceful restart keeps everything too.
    cluster.restart().await;
    let api: Api<ConfigMap> = Api::namespaced(cluster.client().await, "crash");
    assert_eq!(stored(&api).await, acked);
}
