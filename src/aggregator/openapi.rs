//! Upstream's OpenAPI aggregation: the documents of every available extension server are
//! downloaded — `/openapi/v2` and `/openapi/v3/apis/<group>/<version>` — when it first becomes
//! available and again every [`REFETCH`], and published with this server's own: v2 merged into
//! the one document (its paths and definitions; on a clash the local one wins, as upstream's
//! merge keeps the first), v3 as one more group-version in `/openapi/v3`. So `kubectl explain`
//! and client generators see aggregated kinds. A server that stops being available drops out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::{availability, endpoint, Aggregator, Probe, Remote};
use crate::registry::Registry;

/// How often an available extension server's documents are downloaded again (upstream's
/// aggregation controller re-checks every minute).
pub const REFETCH: Duration = Duration::from_secs(60);
/// How long one download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What one extension server published.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteSpec {
    /// `apis/<group>/<version>`, the v3 document's key.
    pub group_version: String,
    pub v2: Option<Value>,
    pub v3: Option<Value>,
}

/// The downloaded documents, keyed by APIService name, with a generation that moves whenever
/// they change (the OpenAPI router rebuilds on it).
#[derive(Default)]
pub struct Specs {
    by_name: RwLock<BTreeMap<String, (Instant, RemoteSpec)>>,
    generation: AtomicU64,
}

impl Specs {
    /// Moves whenever a published document changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every published document set.
    pub fn snapshot(&self) -> Vec<RemoteSpec> {
        self.by_name
            .read()
            .map(|m| m.values().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }

    fn due(&self, name: &str) -> bool {
        self.by_name
            .read()
            .map(|m| m.get(name).is_none_or(|(at, _)| at.elapsed() >= REFETCH))
            .unwrap_or(true)
    }

    fn store(&self, name: &str, spec: RemoteSpec) {
        let Ok(mut map) = self.by_name.write() else {
            return;
        };
        let changed = map.get(name).is_none_or(|(_, old)| *old != spec);
        map.insert(name.to_string(), (Instant::now(), spec));
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Drops the documents of APIServices no longer available.
    fn retain(&self, available: &BTreeSet<String>) {
        let Ok(mut map) = self.by_name.write() else {
            return;
        };
        let before = map.len();
        map.retain(|name, _| available.contains(name));
        if map.len() != before {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Downloads the documents of the available extension servers that are due.
pub async fn refresh(agg: &Aggregator, reg: &Registry) {
    let mut available = BTreeSet::new();
    for entry in agg.entries() {
        if !matches!(entry.probe, Some(Probe::Passed(_))) {
            continue;
        }
        available.insert(entry.remote.name.clone());
        if !agg.specs.due(&entry.remote.name) {
            continue;
        }
        if let Some(spec) = fetch(agg, reg, &entry.remote).await {
            agg.specs.store(&entry.remote.name, spec);
        }
    }
    agg.specs.retain(&available);
}

/// One extension server's documents; None when it cannot be reached at all.
async fn fetch(agg: &Aggregator, reg: &Registry, remote: &Remote) -> Option<RemoteSpec> {
    let addr = endpoint::resolve(reg, &remote.service).await.ok()?;
    let group_version = format!("apis/{}/{}", remote.group, remote.version);
    let document = |path: String| {
        let addr = addr.clone();
        async move {
            let got =
                tokio::time::timeout(FETCH_TIMEOUT, availability::get(agg, remote, &addr, &path))
                    .await;
            match got {
                Ok(Ok((code, body))) if code.is_success() => {
                    serde_json::from_slice::<Value>(&body).ok()
                }
                other => {
                    tracing::debug!(apiservice = %remote.name, %path, "no OpenAPI document: {other:?}");
                    None
                }
            }
        }
    };
    let v2 = document("/openapi/v2".to_string()).await;
    let v3 = document(format!("/openapi/v3/{group_version}")).await;
    Some(RemoteSpec {
        group_version,
        v2,
        v3,
    })
}

/// Adds a remote v2 document's paths and definitions to `local`, keeping local entries.
pub fn merge_v2(local: &mut Value, remote: &Value) {
    for section in ["paths", "definitions"] {
        let Some(theirs) = remote.get(section).and_then(Value::as_object) else {
            continue;
        };
        let Some(ours) = local.as_object_mut().map(|l| {
            l.entry(section)
                .or_insert_with(|| Value::Object(Map::new()))
        }) else {
            return;
        };
        let Some(ours) = ours.as_object_mut() else {
            continue;
        };
        for (key, value) in theirs {
            ours.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remote_paths_and_definitions_join_without_replacing_local_ones() {
        let mut local = json!({"paths": {"/api/v1/pods": {"get": {}}},
            "definitions": {"io.k8s.api.core.v1.Pod": {"type": "object"}}});
        let remote = json!({"paths": {"/apis/wardle.example.com/v1alpha1/flunders": {"get": {}},
                "/api/v1/pods": {"post": {}}},
            "definitions": {"com.example.wardle.v1alpha1.Flunder": {"type": "object"},
                "io.k8s.api.core.v1.Pod": {"type": "string"}}});
        merge_v2(&mut local, &remote);
        assert_eq!(local["paths"]["/api/v1/pods"], json!({"get": {}}));
        assert!(local["paths"]["/apis/wardle.example.com/v1alpha1/flunders"].is_object());
        assert_eq!(
            local["definitions"]["io.k8s.api.core.v1.Pod"]["type"],
            "object"
        );
        assert!(local["definitions"]["com.example.wardle.v1alpha1.Flunder"].is_object());
    }

    #[test]
    fn the_generation_moves_only_on_change() {
        let specs = Specs::default();
        let spec = RemoteSpec {
            group_version: "apis/g/v1".into(),
            v2: None,
            v3: Some(json!({"openapi": "3.0.0"})),
        };
        specs.store("v1.g", spec.clone());
        let first = specs.generation();
        specs.store("v1.g", spec);
        assert_eq!(specs.generation(), first);
        assert!(!specs.due("v1.g"));
        specs.retain(&BTreeSet::new());
        assert_eq!(specs.generation(), first + 1);
        assert!(specs.snapshot().is_empty());
    }
}
