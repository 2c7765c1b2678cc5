use super::*;
use async_trait::async_trait;
use serde_json::json;

struct Objects;

#[async_trait]
impl ObjectSource for Objects {
    async fn config_map(&self, _: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok((name == "cm").then(|| {
            BTreeMap::from([
                ("a.txt".to_string(), b"alpha".to_vec()),
                ("b.txt".to_string(), b"beta".to_vec()),
            ])
        }))
    }
    async fn secret(&self, _: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>> {
        Ok((name == "s").then(|| BTreeMap::from([("pw".to_string(), b"hunter2".to_vec())])))
    }
}

#[async_trait]
impl TokenSource for Objects {
    async fn token(
        &self,
        _: &str,
        sa: &str,
        _: Option<&str>,
        _: i64,
        _: &Pod,
    ) -> Result<Option<String>> {
        Ok(Some(format!("token-for-{sa}")))
    }
}

fn pod(volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c"}], "volumes": volumes}
    }))
    .expect("pod")
}

fn ctx(tmp: &Path) -> VolumeContext<'static> {
    VolumeContext {
        objects: &Objects,
        tokens: &Objects,
        node: NodeResources {
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
            ephemeral_bytes: 0,
        },
        memory_root: tmp.join("shm"),
    }
}

#[tokio::test]
async fn materialises_every_kind() {
    let tmp = tempfile::tempdir().expect("tmp");
    let host = tmp.path().join("host/data");
    let p = pod(json!([
        {"name": "scratch", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory"}},
        {"name": "host", "hostPath": {"path": host.to_string_lossy(), "type": "DirectoryOrCreate"}},
        {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a.txt", "path": "sub/a", "mode": 0o600}]}},
        {"name": "sec", "secret": {"secretName": "s"}},
        {"name": "dw", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "proj", "projected": {"sources": [
            {"configMap": {"name": "cm"}},
            {"serviceAccountToken": {"path": "token"}},
            {"secret": {"name": "absent", "optional": true}}
        ]}}
    ]));
    let pod_dir = tmp.path().join("pods/u1");
    let vols = prepare_volumes(&ctx(tmp.path()), &p, &pod_dir)
        .await
        .expect("volumes");
    assert!(vols["scratch"].path.is_dir());
    assert!(vols["mem"].path.starts_with(tmp.path().join("shm/u1")));
    assert!(host.is_dir());
    let cfg = &vols["cfg"];
    assert!(cfg.read_only);
    assert_eq!(
        std::fs::read(cfg.path.join("sub/a")).ok(),
        Some(b"alpha".to_vec())
    );
    let mode = std::fs::metadata(cfg.path.join("sub/a"))
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    assert_eq!(mode, Some(0o600));
    assert!(!cfg.path.join("b.txt").exists());
    assert_eq!(
        std::fs::read(vols["sec"].path.join("pw")).ok(),
        Some(b"hunter2".to_vec())
    );
    assert_eq!(
        std::fs::read_to_string(vols["dw"].path.join("labels"))
            .ok()
            .as_deref(),
        Some("app=\"x\"")
    );
    assert_eq!(
        std::fs::read_to_string(vols["proj"].path.join("token"))
            .ok()
            .as_deref(),
        Some("token-for-default")
    );
    assert!(vols["proj"].path.join("b.txt").exists());

    let c: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
        {"name": "scratch", "mountPath": "/data", "subPathExpr": "$(POD)"},
        {"name": "cfg", "mountPath": "/cfg"}
    ]}))
    .expect("container");
    let mounts = container_mounts(&c, &vols, &[("POD".into(), "p".into())]).expect("mounts");
    assert!(mounts[0].host_path.ends_with("volumes/scratch/p"));
    assert!(!mounts[0].read_only);
    assert!(mounts[1].read_only);

    cleanup_pod_dirs(&pod_dir, &tmp.path().join("shm"), "u1");
    assert!(!pod_dir.exists());
}

#[tokio::test]
async fn rejects_bad_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = pod(json!([{"name": "cfg", "configMap": {"name": "nope"}}]));
    assert!(prepare_volumes(&ctx(tmp.path()), &missing, tmp.path())
        .await
        .is_err());
    let escape = pod(
        json!([{"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a.txt", "path": "../x"}]}}]),
    );
    assert!(prepare_volumes(&ctx(tmp.path()), &escape, tmp.path())
        .await
        .is_err());
    let not_dir = pod(
        json!([{"name": "h", "hostPath": {"path": "/definitely/not/here", "type": "Directory"}}]),
    );
    assert!(prepare_volumes(&ctx(tmp.path()), &not_dir, tmp.path())
        .await
        .is_err());
    assert!(safe_relative("/abs").is_err());
    assert!(safe_relative("a/../../b").is_err());
    assert!(safe_relative("a/b").is_ok());
}
