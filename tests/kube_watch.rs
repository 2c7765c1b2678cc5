//! kube-rs watches against the real server binary: reflector in sync, resume from a
//! resourceVersion, 410 Gone and the watcher's relist, WatchList (sendInitialEvents).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::ResourceExt;
use serde_json::json;
use support::objects::{configmap, namespace, rv_of, snapshot, OURS, WAIT};
use support::{eventually, ClusterOptions, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_stays_in_sync() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    namespace(&client, "refl").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "refl");
    for name in ["a", "b"] {
        api.create(&PostParams::default(), &configmap(name, &[], &[("v", "0")]))
            .await
            .expect("create");
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().labels(OURS)),
    )
    .applied_objects();
    let driver = tokio::spawn(stream.for_each(|_| async {}));
    tokio::time::timeout(WAIT, reader.wait_until_ready())
        .await
        .expect("reflector ready in time")
        .expect("ready");
    assert_eq!(reader.state().len(), 2);

    api.create(&PostParams::default(), &configmap("c", &[], &[("v", "0")]))
        .await
        .expect("create c");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "1"}})),
    )
    .await
    .expect("patch a");
    api.delete("b", &DeleteParams::default())
        .await
        .expect("delete b");
    for i in 0..5 {
        let body = json!({"data": {"v": format!("{}", i + 2)}});
        api.patch("c", &PatchParams::default(), &Patch::Merge(body))
            .await
            .expect("patch c");
    }

    let expected = snapshot(&api).await;
    let synced = eventually(WAIT, || {
        let reader = reader.clone();
        let expected = expected.clone();
        async move {
            let mut seen: BTreeMap<_, _> = BTreeMap::new();
            for cm in reader.state() {
                seen.insert(
                    cm.name_any(),
                    (cm.resource_version().unwrap_or_default(), cm.data.clone()),
                );
            }
            (seen == expected).then_some(())
        }
    })
    .await;
    let cached: Vec<_> = reader
        .state()
        .iter()
        .map(|c| (c.name_any(), c.data.clone()))
        .collect();
    assert!(
        synced.is_some(),
        "reflector never matched the server: {cached:?} vs {expected:?}"
    );
    driver.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_from_resource_version() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list RV");
    let wp = WatchParams::default()
        .labels(OURS)
        .disable_bookmarks()
        .timeout(30);

    let mut stream = api.watch(&wp, &start).await.expect("watch").boxed();
    api.create(&PostParams::default(), &configmap("a", &[], &[]))
        .await
        .expect("create a");
    api.create(&PostParams::default(), &configmap("b", &[], &[]))
        .await
        .expect("create b");
    let first = tokio::time::timeout(WAIT, stream.try_next())
        .await
        .expect("event in time")
        .expect("event")
        .expect("open");
    let WatchEvent::Added(a) = first else {
        panic!("expected ADDED a, got {first:?}")
    };
    assert_eq!(a.name_any(), "a");
    drop(stream);

    // Writes while no watch is open, then resume from the last revision seen.
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .expect("patch a");
    api.delete("b", &DeleteParams::default())
        .await
        .expect("delete b");
    api.create(&PostParams::default(), &configmap("c", &[], &[]))
        .await
        .expect("create c");

    let resumed = api
        .watch(&wp, &a.resource_version().expect("rv"))
        .await
        .expect("resume")
        .boxed();
    let events: Vec<WatchEvent<ConfigMap>> =
        tokio::time::timeout(WAIT, resumed.take(4).try_collect())
            .await
            .expect("events in time")
            .expect("events");
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(o) => ("ADDED".into(), o.name_any()),
            WatchEvent::Modified(o) => ("MODIFIED".into(), o.name_any()),
            WatchEvent::Deleted(o) => ("DELETED".into(), o.name_any()),
            other => (format!("{other:?}"), String::new()),
        })
        .collect();
    let expected = [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
        ("ADDED", "c"),
    ];
    assert_eq!(seen, expected.map(|(t, n)| (t.to_string(), n.to_string())));
    let rvs: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                Some(rv_of(o))
            }
            _ => None,
        })
        .collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "revisions must increase: {rvs:?}"
    );
}

/// A server whose watch history holds only 10 events.
async fn small_history() -> TestCluster {
    TestCluster::start_with(ClusterOptions::default().env("FERROKUBE_WATCH_HISTORY", "10")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_expired_revision_is_gone() {
    let cluster = small_history().await;
    let client = cluster.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let old = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("RV");
    for i in 0..30 {
        api.create(
            &PostParams::default(),
            &configmap(&format!("n{i}"), &[], &[]),
        )
        .await
        .expect("create");
    }
    // Upstream's watch cache answers 200 and sends the 410 as an ERROR event (kube-rs relists only
    // on that form; an HTTP 410 on watch start would leave its watcher retrying forever).
    let mut stream = api
        .watch(&WatchParams::default(), &old)
        .await
        .expect("watch starts")
        .boxed();
    let event = tokio::time::timeout(WAIT, stream.try_next())
        .await
        .expect("in time")
        .expect("event")
        .expect("open");
    let WatchEvent::Error(status) = event else {
        panic!("expected an ERROR event, got {event:?}")
    };
    assert_eq!(status.code, 410);
    assert_eq!(status.reason, "Expired");
    assert!(
        status.message.contains("too old resource version"),
        "{}",
        status.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_gone() {
    let cluster = small_history().await;
    let client = cluster.client().await;
    namespace(&client, "quiet").await;
    let quiet: Api<ConfigMap> = Api::namespaced(client.clone(), "quiet");
    let busy: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    quiet
        .create(&PostParams::default(), &configmap("keep", &[], &[]))
        .await
        .expect("create");

    // No bookmarks and a 1 s watch timeout: the watcher's revision stays at its list while others
    // write, so its re-watch falls out of the 10-event window.
    let config = watcher::Config::default()
        .labels(OURS)
        .disable_bookmarks()
        .timeout(1);
    let mut events = watcher(quiet.clone(), config).boxed();
    let mut initial = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("in time")
            .expect("no error")
            .expect("open");
        match event {
            watcher::Event::InitApply(cm) => initial.push(cm.name_any()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["keep"]);

    // Not polling the watcher now; its watch times out meanwhile.
    for i in 0..30 {
        busy.create(
            &PostParams::default(),
            &configmap(&format!("n{i}"), &[], &[]),
        )
        .await
        .expect("create");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    quiet
        .create(&PostParams::default(), &configmap("late", &[], &[]))
        .await
        .expect("create late");

    let mut saw_gone = false;
    let mut relisted = Vec::new();
    let outcome = tokio::time::timeout(WAIT, async {
        loop {
            match events.next().await {
                Some(Err(watcher::Error::WatchError(status))) if status.code == 410 => {
                    saw_gone = true
                }
                Some(Ok(watcher::Event::Init)) => relisted.clear(),
                Some(Ok(watcher::Event::InitApply(cm))) => relisted.push(cm.name_any()),
                Some(Ok(watcher::Event::InitDone)) if saw_gone => return,
                Some(Ok(watcher::Event::Apply(cm))) => panic!(
                    "{} arrived as a watch event, not by relisting",
                    cm.name_any()
                ),
                Some(_) => {}
                None => panic!("watcher ended"),
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "no 410 + relist within {WAIT:?} (saw_gone={saw_gone}, relisted={relisted:?})"
    );
    relisted.sort();
    assert_eq!(relisted, ["keep", "late"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_list_streams_initial_state() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    namespace(&client, "wl").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "wl");
    for name in ["x", "y", "z"] {
        api.create(&PostParams::default(), &configmap(name, &[], &[]))
            .await
            .expect("create");
    }

    // Raw WatchList: ADDED for each object, then the bookmark annotated initial-events-end.
    let mut raw = api
        .watch(&WatchParams::streaming_lists().labels(OURS), "")
        .await
        .expect("watch")
        .boxed();
    let mut added = Vec::new();
    let bookmark = loop {
        let event = tokio::time::timeout(WAIT, raw.try_next())
            .await
            .expect("in time")
            .expect("event")
            .expect("open");
        match event {
            WatchEvent::Added(cm) => added.push(cm.name_any()),
            WatchEvent::Bookmark(bm) => break bm,
            other => panic!("unexpected {other:?} during the initial events"),
        }
    };
    added.sort();
    assert_eq!(added, ["x", "y", "z"]);
    assert_eq!(
        bookmark
            .metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    let list_rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("RV");
    assert!(
        bookmark
            .metadata
            .resource_version
            .parse::<u64>()
            .expect("numeric")
            <= list_rv.parse::<u64>().expect("numeric")
    );
    drop(raw);

    // kube-rs's streaming-list watcher.
    let mut events = watcher(
        api.clone(),
        watcher::Config::default().streaming_lists().labels(OURS),
    )
    .boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, events.try_next())
            .await
            .expect("in time")
            .expect("no error")
            .expect("open")
        {
            watcher::Event::Init => initial.clear(),
            watcher::Event::InitApply(cm) => initial.push(cm.name_any()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?} before InitDone"),
        }
    }
    initial.sort();
    assert_eq!(initial, ["x", "y", "z"]);
    api.delete("y", &DeleteParams::default())
        .await
        .expect("delete");
    let next = tokio::time::timeout(WAIT, events.try_next())
        .await
        .expect("in time")
        .expect("no error")
        .expect("open");
    match next {
        watcher::Event::Delete(cm) => assert_eq!(cm.name_any(), "y"),
        other => panic!("expected Delete(y), got {other:?}"),
    }
}
