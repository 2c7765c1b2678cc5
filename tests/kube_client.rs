//! kube-rs against the real server binary: CRUD, status and scale subresources, selectors and
//! pagination, generateName, finalizers and dryRun. Watches are in `kube_watch.rs`.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use support::objects::{api_error, configmap, namespace, rv_of, snapshot, OURS};
use support::{ClusterOptions, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_crud() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = api
        .create(
            &PostParams::default(),
            &configmap("crud", &[("a", "1")], &[("k", "v")]),
        )
        .await
        .expect("create");
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(
        created.uid().is_some_and(|u| u.len() == 36),
        "uid: {:?}",
        created.uid()
    );
    assert!(created.creation_timestamp().is_some());
    let rv1 = rv_of(&created);

    let got = api.get("crud").await.expect("get");
    assert_eq!(got.uid(), created.uid());
    assert_eq!(rv_of(&got), rv1);
    assert_eq!(got.data, created.data);

    let mut changed = got.clone();
    changed.data = Some(BTreeMap::from([("k".into(), "v2".into())]));
    let replaced = api
        .replace("crud", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert!(rv_of(&replaced) > rv1);
    assert_eq!(replaced.uid(), created.uid());
    assert_eq!(replaced.creation_timestamp(), created.creation_timestamp());

    let merged = api
        .patch(
            "crud",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "1"}, "metadata": {"labels": {"b": "2"}}})),
        )
        .await
        .expect("merge patch");
    assert!(rv_of(&merged) > rv_of(&replaced));
    assert_eq!(
        merged
            .data
            .as_ref()
            .and_then(|d| d.get("m"))
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(merged.labels().get("a").map(String::as_str), Some("1"));
    assert_eq!(merged.labels().get("b").map(String::as_str), Some("2"));

    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/k", "value": "v2"},
        {"op": "remove", "path": "/data/m"},
        {"op": "add", "path": "/data/j", "value": "x"}
    ]))
    .expect("json patch ops");
    let patched = api
        .patch("crud", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .expect("json patch");
    let expected = BTreeMap::from([
        ("k".to_string(), "v2".to_string()),
        ("j".to_string(), "x".to_string()),
    ]);
    assert_eq!(patched.data.as_ref(), Some(&expected));

    // A failing `test` op changes nothing (upstream: 422 Invalid... kube-apiserver answers 500 for
    // a failed test in older releases; any error is fine here, the state must be untouched).
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/k", "value": "nope"}]))
            .expect("ops");
    assert!(api
        .patch("crud", &PatchParams::default(), &Patch::<()>::Json(failing))
        .await
        .is_err());
    assert_eq!(rv_of(&api.get("crud").await.expect("get")), rv_of(&patched));

    let listed = api
        .list(&ListParams::default().labels(OURS))
        .await
        .expect("list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|c| c.name_any())
            .collect::<Vec<_>>(),
        ["crud"]
    );
    assert!(listed
        .metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse::<u64>().ok())
        .is_some_and(|r| r >= rv_of(&patched)));

    // Upstream returns a Success Status (not the object) for kinds without ReturnDeletedObject.
    let deleted = api
        .delete("crud", &DeleteParams::default())
        .await
        .expect("delete");
    let status = deleted
        .right()
        .expect("a configmap without finalizers is deleted at once");
    assert!(status.is_success(), "{status:?}");
    assert_eq!(
        status.details.as_ref().map(|d| d.name.as_str()),
        Some("crud")
    );
    let status = api_error(api.get("crud").await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    let status = api_error(api.delete("crud", &DeleteParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_status_and_scale() {
    // API semantics only: a running deployment controller would write status concurrently.
    let cluster = TestCluster::start_with(ClusterOptions::default().arg("--no-controllers")).await;
    let client = cluster.client().await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))
    .expect("deployment");
    let created = api
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let spec = created.spec.as_ref().expect("spec");
    // Upstream defaulting for apps/v1 Deployment.
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("RollingUpdate")
    );

    let scale = api.get_scale("web").await.expect("get scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(
        scale.status.as_ref().and_then(|s| s.selector.as_deref()),
        Some("app=web")
    );

    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("patch scale");
    assert_eq!(scaled.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let after_scale = api.get("web").await.expect("get");
    assert_eq!(after_scale.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        after_scale.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );

    // replace_status writes status only: the spec change in the body is ignored, generation kept.
    let mut with_status = after_scale.clone();
    with_status.status = Some(DeploymentStatus {
        replicas: Some(3),
        ready_replicas: Some(2),
        observed_generation: Some(2),
        ..Default::default()
    });
    if let Some(spec) = with_status.spec.as_mut() {
        spec.replicas = Some(9);
    }
    let status_written = api
        .replace_status("web", &PostParams::default(), &with_status)
        .await
        .expect("replace status");
    assert_eq!(
        status_written
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas),
        Some(2)
    );
    assert_eq!(
        status_written.spec.as_ref().and_then(|s| s.replicas),
        Some(3)
    );
    assert_eq!(status_written.metadata.generation, Some(2));
    assert!(rv_of(&status_written) > rv_of(&after_scale));

    // …and the main resource ignores status.
    let mut main = status_written.clone();
    main.status = None;
    if let Some(spec) = main.spec.as_mut() {
        spec.min_ready_seconds = Some(5);
    }
    let replaced = api
        .replace("web", &PostParams::default(), &main)
        .await
        .expect("replace");
    assert_eq!(
        replaced.status.as_ref().and_then(|s| s.ready_replicas),
        Some(2)
    );
    assert_eq!(replaced.metadata.generation, Some(3));

    // The scale subresource reads status.replicas back.
    let scale = api.get_scale("web").await.expect("get scale");
    assert_eq!(scale.status.as_ref().map(|s| s.replicas), Some(3));

    // Status patch through the subresource.
    let patched = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"patchedstatus": "true"}},
                "status": {"availableReplicas": 1}}),
            ),
        )
        .await
        .expect("patch status");
    assert_eq!(
        patched.status.as_ref().and_then(|s| s.available_replicas),
        Some(1)
    );
    // As upstream's status strategies: the spec is reset, labels and annotations are not.
    assert_eq!(
        patched
            .annotations()
            .get("patchedstatus")
            .map(String::as_str),
        Some("true")
    );
    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_pagination() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    namespace(&client, "page").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "page");
    for i in 1..=7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        let cm = configmap(
            &format!("cm-{i:02}"),
            &[("batch", "p"), ("tier", tier)],
            &[],
        );
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    // A configmap elsewhere that no namespaced list may return.
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &configmap("cm-01", &[("batch", "p")], &[]),
        )
        .await
        .expect("create in default");

    let names = |list: &kube::core::ObjectList<ConfigMap>| {
        list.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    };
    let even = api
        .list(&ListParams::default().labels("tier=even"))
        .await
        .expect("label =");
    assert_eq!(names(&even), ["cm-02", "cm-04", "cm-06"]);
    let not_even = api
        .list(&ListParams::default().labels("batch=p,tier!=even"))
        .await
        .expect("label !=");
    assert_eq!(names(&not_even), ["cm-01", "cm-03", "cm-05", "cm-07"]);
    let set = api
        .list(&ListParams::default().labels("tier in (odd),batch"))
        .await
        .expect("label in");
    assert_eq!(names(&set), ["cm-01", "cm-03", "cm-05", "cm-07"]);
    let notin = api
        .list(&ListParams::default().labels("batch,tier notin (odd,even)"))
        .await
        .expect("label notin");
    assert!(notin.items.is_empty());
    let absent = api
        .list(&ListParams::default().labels("batch,!tier"))
        .await
        .expect("label !exists");
    assert!(absent.items.is_empty());
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=cm-03"))
        .await
        .expect("field =");
    assert_eq!(names(&by_name), ["cm-03"]);
    let not_name = api
        .list(
            &ListParams::default()
                .fields("metadata.name!=cm-03")
                .labels("tier=odd"),
        )
        .await
        .expect("field !=");
    assert_eq!(names(&not_name), ["cm-01", "cm-05", "cm-07"]);
    let all = Api::<ConfigMap>::all(client.clone());
    let across = all
        .list(
            &ListParams::default()
                .fields("metadata.namespace=page")
                .labels("batch=p"),
        )
        .await
        .expect("ns field");
    assert_eq!(across.items.len(), 7);
    let everywhere = all
        .list(&ListParams::default().fields("metadata.name=cm-01"))
        .await
        .expect("all namespaces");
    assert_eq!(everywhere.items.len(), 2);

    // Pages of 3 over everything in the namespace (including anything the system put there):
    // continue tokens and remainingItemCount, all pages served at the first page's revision.
    let full = names(&api.list(&ListParams::default()).await.expect("full list"));
    assert!(full.len() >= 7, "{full:?}");
    let mut paged = Vec::new();
    let mut token: Option<String> = None;
    let mut snapshot_rv = None;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.expect("page");
        if paged.is_empty() {
            // Written after the first page, sorting into the second: a consistent snapshot
            // must not show it.
            api.create(&PostParams::default(), &configmap("cm-035", &[], &[]))
                .await
                .expect("create between pages");
        }
        let rv = page.metadata.resource_version.clone();
        assert_eq!(
            *snapshot_rv.get_or_insert(rv.clone()),
            rv,
            "pages share a snapshot"
        );
        let got = names(&page);
        assert!(got.len() <= 3);
        paged.extend(got);
        token = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        let remaining = full.len() - paged.len();
        match &token {
            Some(_) => {
                assert_eq!(
                    page.metadata.remaining_item_count,
                    Some(remaining as i64),
                    "after {paged:?}"
                );
            }
            None => {
                assert_eq!(remaining, 0, "no continue token before the end: {paged:?}");
                assert_eq!(page.metadata.remaining_item_count, None);
                break;
            }
        }
    }
    assert_eq!(paged, full, "cm-035 was written after the snapshot");
    assert_eq!(
        &paged[..7],
        ["cm-01", "cm-02", "cm-03", "cm-04", "cm-05", "cm-06", "cm-07"]
    );

    // Pagination combined with a selector still fills pages with matching items only.
    let odd = api
        .list(&ListParams::default().labels("tier=odd").limit(2))
        .await
        .expect("selected page");
    assert_eq!(names(&odd), ["cm-01", "cm-03"]);
    let token = odd
        .metadata
        .continue_
        .clone()
        .filter(|c| !c.is_empty())
        .expect("continue token");
    let odd2 = api
        .list(
            &ListParams::default()
                .labels("tier=odd")
                .limit(2)
                .continue_token(&token),
        )
        .await
        .expect("page");
    assert_eq!(names(&odd2), ["cm-05", "cm-07"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_name_finalizers_and_dry_run() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");

    // generateName: a random 5-character suffix, a new one each time.
    let mut generated = configmap("", &[], &[("k", "v")]);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let one = api
        .create(&PostParams::default(), &generated)
        .await
        .expect("create generated");
    let two = api
        .create(&PostParams::default(), &generated)
        .await
        .expect("create generated");
    for cm in [&one, &two] {
        let name = cm.name_any();
        assert!(
            name.starts_with("gen-") && name.len() == 9,
            "generated name {name}"
        );
        assert_eq!(cm.metadata.generate_name.as_deref(), Some("gen-"));
    }
    assert_ne!(one.name_any(), two.name_any());

    // Finalizers: delete only marks the object until the last finalizer is removed.
    let mut held = configmap("held", &[], &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("create held");
    let deleting = api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete held");
    let marked = deleting
        .left()
        .expect("the object comes back while finalizers remain");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let still = api.get("held").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    assert_eq!(still.finalizers(), ["example.com/hold"]);
    // A terminating object may still be updated.
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
    )
    .await
    .expect("label a terminating object");
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("drop finalizers");
    let status = api_error(api.get("held").await);
    assert_eq!(status.code, 404, "gone once the last finalizer is removed");

    // dryRun=All: the answer looks like a real write, but nothing is stored.
    let before = snapshot(&api).await;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let would_be = api
        .create(&dry, &configmap("dry", &[], &[("k", "v")]))
        .await
        .expect("dry-run create");
    assert_eq!(would_be.name_any(), "dry");
    assert_eq!(api_error(api.get("dry").await).code, 404);
    let name = one.name_any();
    let patched = api
        .patch(
            &name,
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"data": {"k": "changed"}})),
        )
        .await
        .expect("dry-run patch");
    assert_eq!(
        patched
            .data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("changed")
    );
    api.delete(&name, &DeleteParams::default().dry_run())
        .await
        .expect("dry-run delete");
    let mut replaced = api.get(&name).await.expect("get");
    replaced.data = Some(BTreeMap::from([("r".into(), "1".into())]));
    api.replace(&name, &dry, &replaced)
        .await
        .expect("dry-run replace");
    assert_eq!(
        snapshot(&api).await,
        before,
        "dry runs changed stored state"
    );
}

/// Metadata-only reads (`PartialObjectMetadata`), as kube-rs `list_metadata`/`get_metadata` and
/// metadata watches (the garbage collector's way of watching everything) use them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_reads() {
    let cluster = TestCluster::start().await;
    let client = cluster.client().await;
    namespace(&client, "meta").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "meta");
    let cm = configmap("m1", &[("app", OURS)], &[("k", "v")]);
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");

    let one = api.get_metadata("m1").await.expect("get_metadata");
    assert_eq!(one.metadata.name.as_deref(), Some("m1"));
    assert_eq!(one.labels().get("app").map(String::as_str), Some(OURS));

    let lp = ListParams::default().labels(&format!("app={OURS}"));
    let list = api.list_metadata(&lp).await.expect("list_metadata");
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());

    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut events = api
        .watch_metadata(
            &kube::api::WatchParams::default()
                .labels(&format!("app={OURS}"))
                .timeout(10),
            &rv,
        )
        .await
        .expect("watch_metadata")
        .boxed();
    api.create(
        &PostParams::default(),
        &configmap("m2", &[("app", OURS)], &[]),
    )
    .await
    .expect("create m2");
    use futures::StreamExt;
    match events.next().await {
        Some(Ok(kube::api::WatchEvent::Added(obj))) => {
            assert_eq!(obj.metadata.name.as_deref(), Some("m2"))
        }
        other => panic!("expected ADDED m2, got {other:?}"),
    }
}
