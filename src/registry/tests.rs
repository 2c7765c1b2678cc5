//! In-process tests of the registry over a temporary store: the write paths every kind shares,
//! the storage hooks, and the pods' registry operations (binding, eviction).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferrokube_store::{Compare, Store, StoreConfig};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::hooks::{HookContext, OnFail, StorageHooks, TxnExtras};
use super::rest::{DeleteOptions, Deleted, Part, WriteOptions};
use super::{Registry, ResourceDescriptor};
use crate::status::{ApiError, ApiResult};

struct Fixture {
    registry: Registry,
    _dir: tempfile::TempDir,
}

async fn registry() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(StoreConfig::new(dir.path()))
        .await
        .expect("open store");
    let registry = Registry::new(store);
    let ns = registry.lookup("", "v1", "namespaces").expect("namespaces");
    registry
        .create(
            &ns,
            None,
            json!({"metadata": {"name": "demo"}}),
            &WriteOptions::default(),
        )
        .await
        .expect("namespace");
    // Pods are admitted only under an existing service account; no controller makes `default`.
    let accounts = registry
        .lookup("", "v1", "serviceaccounts")
        .expect("serviceaccounts");
    registry
        .create(
            &accounts,
            Some("demo"),
            json!({"metadata": {"name": "default"}}),
            &WriteOptions::default(),
        )
        .await
        .expect("service account");
    Fixture {
        registry,
        _dir: dir,
    }
}

fn kind(reg: &Registry, plural: &str) -> Arc<ResourceDescriptor> {
    reg.lookup("", "v1", plural).expect("served kind")
}

fn object(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

async fn create_cm(reg: &Registry, name: &str) -> Value {
    let cm = kind(reg, "configmaps");
    let written = reg
        .create(
            &cm,
            Some("demo"),
            config_map(name, json!({"a": "1"})),
            &WriteOptions::default(),
        )
        .await
        .expect("create");
    object(&written.object)
}

#[tokio::test]
async fn create_update_delete_round_trip() {
    let f = registry().await;
    let reg = &f.registry;
    let cm = kind(reg, "configmaps");
    let created = create_cm(reg, "c").await;
    assert!(created.pointer("/metadata/uid").is_some());
    let dup = reg
        .create(
            &cm,
            Some("demo"),
            config_map("c", json!({})),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!((dup.code, dup.reason), (409, "AlreadyExists"));
    let updated = reg
        .update(
            &cm,
            Some("demo"),
            "c",
            Part::Main,
            config_map("c", json!({"a": "2"})),
            &WriteOptions::default(),
        )
        .await
        .expect("update");
    assert_eq!(object(&updated.object)["data"]["a"], "2");
    let gone = reg
        .delete(&cm, Some("demo"), "c", &DeleteOptions::default())
        .await
        .expect("delete");
    assert!(matches!(gone, Deleted::Gone(_)));
    let missing = reg.get(&cm, Some("demo"), "c").await.unwrap_err();
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn invalid_objects_are_refused_by_the_kind_validator() {
    let f = registry().await;
    let pods = kind(&f.registry, "pods");
    let err = f
        .registry
        .create(
            &pods,
            Some("demo"),
            json!({"metadata": {"name": "p"}, "spec": {}}),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert!(err.message.contains("spec.containers"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guaranteed_update_retries_lost_races_and_preconditions_conflict() {
    let f = registry().await;
    let reg = &f.registry;
    let cm = kind(reg, "configmaps");
    let created = create_cm(reg, "c").await;
    let rv: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("rv");
    // The mutation writes the object behind our back once: the first attempt loses the race,
    // the second one (re-reading) wins.
    let calls = AtomicUsize::new(0);
    let store = reg.store.clone();
    let mutate: super::rest::Mutation = Box::new(|current: &Value| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            let mut other = current.clone();
            other["data"]["b"] = json!("raced");
            let store = store.clone();
            let key = "/core/configmaps/demo/c".to_string();
            let bytes = serde_json::to_vec(&other).expect("json");
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current()
                    .block_on(store.txn(ferrokube_store::Txn {
                        compares: vec![],
                        ops: vec![ferrokube_store::Op::Put { key, value: bytes }],
                    }))
                    .expect("racing write");
            });
        }
        let mut new = current.clone();
        new["data"]["a"] = json!("mine");
        Ok(new)
    });
    let written = reg
        .guaranteed_update(
            &cm,
            Some("demo"),
            "c",
            Part::Main,
            None,
            mutate,
            &WriteOptions::default(),
        )
        .await
        .expect("update");
    let obj = object(&written.object);
    assert_eq!(obj["data"]["a"], "mine");
    assert_eq!(obj["data"]["b"], "raced", "the retry saw the racing write");
    assert!(calls.load(Ordering::SeqCst) >= 2);
    // A stale resourceVersion in the body is a conflict, not a retry.
    let mut stale = config_map("c", json!({"a": "3"}));
    stale["metadata"]["resourceVersion"] = json!(rv.to_string());
    let err = reg
        .update(
            &cm,
            Some("demo"),
            "c",
            Part::Main,
            stale,
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 409);
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let f = registry().await;
    let reg = &f.registry;
    let cm = kind(reg, "configmaps");
    create_cm(reg, "c").await;
    for opts in [
        DeleteOptions {
            precondition_uid: Some("other".into()),
            ..Default::default()
        },
        DeleteOptions {
            precondition_rv: Some("1".into()),
            ..Default::default()
        },
    ] {
        let err = reg.delete(&cm, Some("demo"), "c", &opts).await.unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("Precondition failed"),
            "{}",
            err.message
        );
    }
    assert!(reg.get(&cm, Some("demo"), "c").await.is_ok());
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let f = registry().await;
    let reg = &f.registry;
    let cm = kind(reg, "configmaps");
    let dry = WriteOptions {
        dry_run: true,
        ..Default::default()
    };
    let before = reg.store.current_revision();
    let written = reg
        .create(&cm, Some("demo"), config_map("c", json!({})), &dry)
        .await
        .expect("dry create");
    assert_eq!(object(&written.object)["metadata"]["name"], "c");
    assert_eq!(reg.get(&cm, Some("demo"), "c").await.unwrap_err().code, 404);
    create_cm(reg, "c").await;
    let after_create = reg.store.current_revision();
    reg.update(
        &cm,
        Some("demo"),
        "c",
        Part::Main,
        config_map("c", json!({"x": "y"})),
        &dry,
    )
    .await
    .expect("dry update");
    reg.delete(
        &cm,
        Some("demo"),
        "c",
        &DeleteOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .expect("dry delete");
    assert_eq!(reg.store.current_revision(), after_create);
    assert!(after_create > before);
    let stored = object(&reg.get(&cm, Some("demo"), "c").await.expect("kept").value);
    assert_eq!(stored["data"], json!({"a": "1"}));
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let f = registry().await;
    let reg = &f.registry;
    let cm = kind(reg, "configmaps");
    let mut body = config_map("c", json!({}));
    body["metadata"]["finalizers"] = json!(["example.com/hold"]);
    reg.create(&cm, Some("demo"), body, &WriteOptions::default())
        .await
        .expect("create");
    let pending = reg
        .delete(&cm, Some("demo"), "c", &DeleteOptions::default())
        .await
        .expect("delete");
    let Deleted::Pending(obj) = pending else {
        panic!("a finalizer must hold the object");
    };
    assert!(object(&obj)
        .pointer("/metadata/deletionTimestamp")
        .is_some());
    let mut released = object(&reg.get(&cm, Some("demo"), "c").await.expect("held").value);
    released["metadata"]["finalizers"] = json!([]);
    reg.update(
        &cm,
        Some("demo"),
        "c",
        Part::Main,
        released,
        &WriteOptions::default(),
    )
    .await
    .expect("remove finalizer");
    assert_eq!(reg.get(&cm, Some("demo"), "c").await.unwrap_err().code, 404);
}

/// A toy allocator: gives each ConfigMap a "slot" recorded under its own key, freed on delete.
struct Slots {
    taken_error: bool,
}

const SLOT_KEY: &str = "/example.com/slots/_/one";

impl StorageHooks for Slots {
    fn before_create<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            obj["data"]["slot"] = json!("one");
            let on_fail = if self.taken_error {
                OnFail::Fail(ApiError::invalid(
                    "",
                    "ConfigMap",
                    "c",
                    vec![crate::status::Cause {
                        reason: "FieldValueInvalid".into(),
                        message: "Invalid value: \"one\": provided slot is already allocated"
                            .into(),
                        field: "data.slot".into(),
                    }],
                ))
            } else {
                OnFail::Retry
            };
            txn.require(SLOT_KEY, Compare::Absent, on_fail);
            txn.put(SLOT_KEY, &json!({"metadata": {"name": "one"}}));
            Ok(())
        })
    }

    fn before_delete<'a>(
        &'a self,
        _ctx: &'a HookContext<'_>,
        _obj: &'a Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            txn.delete(SLOT_KEY);
            Ok(())
        })
    }
}

#[tokio::test]
async fn storage_hooks_write_in_the_same_transaction() {
    let f = registry().await;
    let reg = &f.registry;
    assert!(reg.add_hook("", "ConfigMap", Arc::new(Slots { taken_error: true })));
    let cm = kind(reg, "configmaps");
    let created = create_cm(reg, "c").await;
    assert_eq!(
        created["data"]["slot"], "one",
        "the hook mutated the object"
    );
    let slot = reg.store.get(SLOT_KEY).await.expect("read").expect("slot");
    let cm_kv = reg.get(&cm, Some("demo"), "c").await.expect("cm");
    assert_eq!(
        slot.mod_revision, cm_kv.mod_revision,
        "one transaction, one revision"
    );
    let taken = reg
        .create(
            &cm,
            Some("demo"),
            config_map("d", json!({})),
            &WriteOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(taken.code, 422, "{taken:?}");
    assert_eq!(reg.get(&cm, Some("demo"), "d").await.unwrap_err().code, 404);
    reg.delete(&cm, Some("demo"), "c", &DeleteOptions::default())
        .await
        .expect("delete");
    assert!(reg.store.get(SLOT_KEY).await.expect("read").is_none());
    // Dry runs run the hooks but commit nothing.
    let dry = WriteOptions {
        dry_run: true,
        ..Default::default()
    };
    let written = reg
        .create(&cm, Some("demo"), config_map("e", json!({})), &dry)
        .await
        .expect("dry");
    assert_eq!(object(&written.object)["data"]["slot"], "one");
    assert!(reg.store.get(SLOT_KEY).await.expect("read").is_none());
}

#[tokio::test]
async fn binding_and_eviction_are_registry_operations() {
    let f = registry().await;
    let reg = &f.registry;
    let pods = kind(reg, "pods");
    reg.create(
        &pods,
        Some("demo"),
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        &WriteOptions::default(),
    )
    .await
    .expect("pod");
    reg.bind(
        &pods,
        Some("demo"),
        "p",
        &json!({"target": {"name": "n1"}}),
        true,
    )
    .await
    .expect("dry bind");
    let pod = object(&reg.get(&pods, Some("demo"), "p").await.expect("pod").value);
    assert!(pod.pointer("/spec/nodeName").is_none(), "dry run bound");
    reg.bind(
        &pods,
        Some("demo"),
        "p",
        &json!({"target": {"name": "n1"}}),
        false,
    )
    .await
    .expect("bind");
    let pod = object(&reg.get(&pods, Some("demo"), "p").await.expect("pod").value);
    assert_eq!(pod["spec"]["nodeName"], "n1");
    assert_eq!(pod["status"]["conditions"][0]["type"], "PodScheduled");
    let again = reg
        .bind(
            &pods,
            Some("demo"),
            "p",
            &json!({"target": {"name": "n2"}}),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(again.code, 409);
    // Bound and not yet terminal: eviction starts a graceful deletion.
    let evicted = reg
        .evict(
            &pods,
            Some("demo"),
            "p",
            &json!({"deleteOptions": {"gracePeriodSeconds": 0}}),
            false,
        )
        .await
        .expect("evict");
    assert!(matches!(evicted, Deleted::Gone(_)));
    assert_eq!(
        reg.get(&pods, Some("demo"), "p").await.unwrap_err().code,
        404
    );
}
