//! The aggregation layer (upstream's kube-aggregator): an APIService with a `spec.service`
//! claims its group-version for an extension API server running behind that Service. Requests
//! under `/apis/<group>/<version>` are proxied there ([`proxy`]) after this server has
//! authenticated and authorized them, with the user's identity in upstream's request headers
//! and this server authenticating by its front-proxy client certificate ([`transport`]); the
//! group appears in discovery ([`discovery`]); an availability controller probes each service
//! and writes the `Available` condition ([`availability`]).
//!
//! Every server keeps its own [`Aggregator`] table, reloaded from the store, with the result of
//! its own latest discovery probe of each extension server (which also feeds discovery); only
//! the leader writes status.

pub mod authentication_config;
pub mod availability;
pub mod discovery;
pub mod endpoint;
pub mod openapi;
pub mod proxy;
pub mod transport;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use crate::registry::list::ListOptions;
use crate::registry::Registry;

/// How often the table is reloaded and extension servers probed (upstream's availability
/// controller resyncs every 30s and reacts to events; a short poll keeps this small and quick).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

/// Where an APIService's requests go: the Service that fronts the extension server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    /// The Service port (upstream defaults it to 443).
    pub port: i32,
}

/// One APIService with a `spec.service`, as last read from the store.
#[derive(Clone, Debug)]
pub struct Remote {
    /// `<version>.<group>`.
    pub name: String,
    pub group: String,
    pub version: String,
    pub group_priority: i64,
    pub version_priority: i64,
    pub service: ServiceRef,
    /// PEM roots for the extension server's serving certificate.
    pub ca_bundle: Option<String>,
    pub insecure_skip_tls_verify: bool,
    /// The stored `Available` condition is True (what upstream's proxy checks).
    pub available: bool,
    /// The stored `Available` condition (status, reason, message), if any.
    pub condition: Option<(String, String, String)>,
    /// That condition's `lastTransitionTime`.
    pub condition_since: Option<String>,
}

/// What this server's latest probe of an extension server found.
#[derive(Clone, Debug)]
pub enum Probe {
    /// Its `/apis/<group>/<version>` document (an APIResourceList).
    Passed(Value),
    /// Why it is unavailable: upstream's condition reason and message.
    Failed { reason: String, message: String },
}

/// A remote group-version with its latest probe and the last discovery document it served.
#[derive(Clone, Debug)]
pub struct Entry {
    pub remote: Remote,
    pub probe: Option<Probe>,
    /// The last APIResourceList a probe returned (kept while the server is down: "Stale").
    pub last_document: Option<Value>,
}

/// The remote group-versions this server knows of, keyed by APIService name.
#[derive(Default)]
pub struct Aggregator {
    entries: RwLock<BTreeMap<String, Entry>>,
    /// The OpenAPI documents the available extension servers publish.
    pub specs: openapi::Specs,
    /// The front-proxy client identity and TLS settings for dialing extension servers.
    pub transport: transport::Transport,
}

impl Aggregator {
    /// An empty table dialing with `transport`.
    pub fn new(transport: transport::Transport) -> Self {
        Aggregator {
            entries: RwLock::default(),
            specs: openapi::Specs::default(),
            transport,
        }
    }

    /// A copy of every entry.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .read()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The remote group-version a request path falls under (`/apis/<g>/<v>` or below).
    pub fn claim(&self, path: &str) -> Option<Remote> {
        let rest = path.strip_prefix("/apis/")?;
        let mut parts = rest.splitn(3, '/');
        let (group, version) = (parts.next()?, parts.next()?);
        if group.is_empty() || version.is_empty() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        entries
            .values()
            .find(|e| e.remote.group == group && e.remote.version == version)
            .map(|e| e.remote.clone())
    }

    /// Replaces the table with `remotes`, keeping what was probed of unchanged ones.
    fn replace(&self, remotes: Vec<Remote>) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        let mut next = BTreeMap::new();
        for remote in remotes {
            let old = entries.remove(&remote.name);
            let same_target = old.as_ref().is_some_and(|o| {
                o.remote.service == remote.service
                    && o.remote.ca_bundle == remote.ca_bundle
                    && o.remote.insecure_skip_tls_verify == remote.insecure_skip_tls_verify
            });
            let (probe, last_document) = match old {
                Some(o) if same_target => (o.probe, o.last_document),
                _ => (None, None),
            };
            next.insert(
                remote.name.clone(),
                Entry {
                    remote,
                    probe,
                    last_document,
                },
            );
        }
        *entries = next;
    }

    /// Records a probe's outcome.
    fn record(&self, name: &str, probe: Probe) {
        if let Ok(mut entries) = self.entries.write() {
            if let Some(entry) = entries.get_mut(name) {
                if let Probe::Passed(doc) = &probe {
                    entry.last_document = Some(doc.clone());
                }
                entry.probe = Some(probe);
            }
        }
    }

    /// Reloads the table from the store and probes every extension server once.
    pub async fn refresh(&self, reg: &Registry) -> anyhow::Result<()> {
        self.replace(load(reg).await?);
        let probes = self.entries().into_iter().map(|e| async move {
            let probe = availability::probe(self, reg, &e.remote).await;
            (e.remote.name, probe)
        });
        for (name, probe) in futures::future::join_all(probes).await {
            self.record(&name, probe);
        }
        openapi::refresh(self, reg).await;
        Ok(())
    }
}

/// The stored APIServices that name a service.
async fn load(reg: &Registry) -> anyhow::Result<Vec<Remote>> {
    let d = reg
        .lookup("apiregistration.k8s.io", "v1", "apiservices")
        .ok_or_else(|| anyhow::anyhow!("apiservices are not served"))?;
    let page = reg
        .list(&d, None, &ListOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("listing APIServices: {}", e.message))?;
    Ok(page
        .items
        .iter()
        .filter_map(|raw| serde_json::from_slice::<Value>(raw).ok())
        .filter_map(|obj| remote_of(&obj))
        .collect())
}

/// One APIService as stored now, if it names a service.
pub async fn reload(reg: &Registry, name: &str) -> Option<Remote> {
    let obj = reg
        .get_value("apiregistration.k8s.io", "APIService", None, name)
        .await
        .ok()??;
    remote_of(&obj)
}

/// The [`Remote`] an APIService object describes, if it names a service.
pub fn remote_of(obj: &Value) -> Option<Remote> {
    let spec = obj.get("spec")?;
    let service = spec.get("service").filter(|s| s.is_object())?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let ca_bundle = spec
        .get("caBundle")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|b64| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .map(|pem| String::from_utf8_lossy(&pem).into_owned());
    let available = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"))
        });
    let condition = available.map(|c| (text(c, "status"), text(c, "reason"), text(c, "message")));
    let condition_since = available
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(Remote {
        name: obj.pointer("/metadata/name")?.as_str()?.to_string(),
        group: text(spec, "group"),
        version: text(spec, "version"),
        group_priority: spec.get("groupPriorityMinimum")?.as_i64().unwrap_or(0),
        version_priority: spec.get("versionPriority")?.as_i64().unwrap_or(0),
        service: ServiceRef {
            namespace: text(service, "namespace"),
            name: text(service, "name"),
            port: service.get("port").and_then(Value::as_i64).unwrap_or(443) as i32,
        },
        ca_bundle,
        insecure_skip_tls_verify: spec
            .get("insecureSkipTLSVerify")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        available: condition.as_ref().is_some_and(|c| c.0 == "True"),
        condition,
        condition_since,
    })
}

/// Reloads and probes on every server, every [`REFRESH_INTERVAL`], for as long as the process
/// runs; the leader then writes the `Available` conditions ([`availability::spawn`]).
pub fn spawn(state: Arc<crate::http::AppState>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = state.aggregator.refresh(&state.registry).await {
                tracing::debug!("refreshing the aggregated APIServices: {e:#}");
            }
            tokio::time::sleep(REFRESH_INTERVAL).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_apiservices_with_a_service_are_remote() {
        let local = json!({"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1}});
        assert!(remote_of(&local).is_none());
        let remote = json!({
            "metadata": {"name": "v1alpha1.wardle.example.com"},
            "spec": {"group": "wardle.example.com", "version": "v1alpha1",
                     "groupPriorityMinimum": 1000, "versionPriority": 15,
                     "service": {"namespace": "ns", "name": "api"}},
            "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Passed"}]},
        });
        let r = remote_of(&remote).expect("remote");
        assert_eq!(r.service.port, 443);
        assert!(r.available);
        let agg = Aggregator::default();
        agg.replace(vec![r]);
        assert!(agg
            .claim("/apis/wardle.example.com/v1alpha1/namespaces/x/flunders")
            .is_some());
        assert!(agg.claim("/apis/wardle.example.com/v1alpha1").is_some());
        assert!(agg.claim("/apis/wardle.example.com").is_none());
        assert!(agg.claim("/apis/wardle.example.com/v1").is_none());
    }
}
