//! The registry: one generic REST implementation over the store, driven by the per-kind
//! descriptor table. HTTP specifics live in `http`; this module speaks in objects and `ApiError`s.

pub mod admission;
pub mod admit;
pub mod bootstrap_tokens;
pub mod bound_tokens;
pub mod claims;
pub mod compactor;
pub mod component_status;
pub mod connect;
pub mod convert;
pub mod csr;
pub mod descriptor;
pub mod endpoints;
pub mod ephemeral;
pub mod filter;
pub mod follow;
pub mod hooks;
pub mod kinds;
pub mod list;
pub mod locate;
pub mod meta;
pub mod metrics;
pub mod patch;
pub mod pod_update;
pub mod pods;
pub mod quantity_fields;
pub mod resize;
pub mod rest;
pub mod reviews;
pub mod runtime_class;
pub mod service_alloc;
pub mod strategy;
pub mod subresource;
#[cfg(test)]
mod tests;
pub mod token;
pub mod watch;
pub mod webhook_client;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use ferrokube_store::Store;

pub use descriptor::ResourceDescriptor;

/// One snapshot of the served kinds: built-ins first, then custom resources. Replaced whole
/// when a CRD is installed or removed, so a request keeps a consistent view for its lifetime.
struct KindSet {
    kinds: Vec<Arc<ResourceDescriptor>>,
    by_resource: HashMap<(String, String, String), Arc<ResourceDescriptor>>,
    /// Rises with every change (OpenAPI caches key on it).
    generation: u64,
}

impl KindSet {
    fn new(kinds: Vec<Arc<ResourceDescriptor>>, generation: u64) -> Self {
        let by_resource = kinds
            .iter()
            .map(|k| {
                (
                    (k.group.clone(), k.version.clone(), k.plural.clone()),
                    k.clone(),
                )
            })
            .collect();
        KindSet {
            kinds,
            by_resource,
            generation,
        }
    }
}

/// The descriptors one CRD serves, with the fingerprint of the CRD content they came from.
type Installed = (String, Vec<Arc<ResourceDescriptor>>);

/// The served kinds and the store they live in.
pub struct Registry {
    builtins: Vec<Arc<ResourceDescriptor>>,
    /// Custom descriptors by CRD name (one per served version), with the fingerprint of the
    /// CRD content they were built from.
    custom: RwLock<BTreeMap<String, Installed>>,
    current: RwLock<Arc<KindSet>>,
    /// The revisioned store every object lives in.
    pub store: Store,
    /// Where Service ClusterIPs and node ports are allocated from.
    pub service_ranges: service_alloc::ServiceRanges,
    /// Admission that applies to every kind, custom ones included (admission policies); runs
    /// after each kind's own hooks.
    every_kind_hooks: RwLock<Vec<Arc<dyn hooks::StorageHooks>>>,
    /// Turns of writers serialised on a key by their hooks.
    pub(crate) key_turns: hooks::KeyTurns,
    /// Where the metrics.k8s.io kinds get their figures (the nodes' kubelets).
    pub metrics: metrics::MetricsSource,
}

impl Registry {
    /// A registry serving the built-in kinds from `store`, admission plugins unconfigured.
    pub fn new(store: Store) -> Self {
        Self::with_admission(store, &admission::config::AdmissionConfig::default())
    }

    /// A registry whose admission plugins take `admission` (`--admission-control-config-file`).
    pub fn with_admission(store: Store, admission: &admission::config::AdmissionConfig) -> Self {
        let builtins: Vec<Arc<ResourceDescriptor>> =
            kinds::builtin_kinds().into_iter().map(Arc::new).collect();
        admission::install(&builtins, admission);
        let current = RwLock::new(Arc::new(KindSet::new(builtins.clone(), 0)));
        Registry {
            builtins,
            custom: RwLock::new(BTreeMap::new()),
            current,
            store,
            service_ranges: Default::default(),
            every_kind_hooks: RwLock::default(),
            key_turns: Default::default(),
            metrics: Default::default(),
        }
    }

    /// Installs a hook on every kind, present and future.
    pub fn add_hook_for_every_kind(&self, hook: Arc<dyn hooks::StorageHooks>) {
        let mut all = self
            .every_kind_hooks
            .write()
            .unwrap_or_else(|e| e.into_inner());
        all.push(hook);
    }

    pub(crate) fn hooks_for_every_kind(&self) -> Vec<Arc<dyn hooks::StorageHooks>> {
        let all = self
            .every_kind_hooks
            .read()
            .unwrap_or_else(|e| e.into_inner());
        all.clone()
    }

    fn snapshot(&self) -> Arc<KindSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `descriptors` for the CRD `crd_name`, replacing what it served before, unless
    /// they were built from the same CRD content (`fingerprint`): then nothing changes, and
    /// caches keyed on [`Registry::generation`] stay valid.
    pub fn install_custom(
        &self,
        crd_name: &str,
        fingerprint: String,
        descriptors: Vec<ResourceDescriptor>,
    ) {
        let mut custom = self.custom.write().unwrap_or_else(|e| e.into_inner());
        if custom.get(crd_name).is_some_and(|(f, _)| *f == fingerprint) {
            return;
        }
        custom.insert(
            crd_name.to_string(),
            (fingerprint, descriptors.into_iter().map(Arc::new).collect()),
        );
        self.publish(&custom);
    }

    /// Stops serving the CRD `crd_name`'s resources.
    pub fn remove_custom(&self, crd_name: &str) {
        let mut custom = self.custom.write().unwrap_or_else(|e| e.into_inner());
        if custom.remove(crd_name).is_some() {
            self.publish(&custom);
        }
    }

    /// Rebuilds the snapshot; called with the custom map locked so publications are ordered.
    fn publish(&self, custom: &BTreeMap<String, Installed>) {
        let mut kinds = self.builtins.clone();
        kinds.extend(custom.values().flat_map(|(_, kinds)| kinds.iter().cloned()));
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let generation = current.generation + 1;
        *current = Arc::new(KindSet::new(kinds, generation));
    }

    /// A number that changes whenever the set of served kinds changes.
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    /// The descriptor serving `/<group>/<version>/<plural>`, if any.
    pub fn lookup(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceDescriptor>> {
        self.snapshot()
            .by_resource
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The descriptor of a kind by group and kind name.
    pub fn lookup_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDescriptor>> {
        self.snapshot()
            .kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind)
            .cloned()
    }

    /// Installs a storage hook on the built-in kind `group`/`kind` (see [`hooks`]); false when
    /// no such kind is served.
    pub fn add_hook(&self, group: &str, kind: &str, hook: Arc<dyn hooks::StorageHooks>) -> bool {
        match self
            .builtins
            .iter()
            .find(|d| d.group == group && d.kind == kind)
        {
            Some(d) => {
                d.add_hook(hook);
                true
            }
            None => false,
        }
    }

    /// The built-in kinds (what CRD names must not collide with).
    pub fn builtin_kinds(&self) -> &[Arc<ResourceDescriptor>] {
        &self.builtins
    }

    /// Every served kind, in discovery order.
    pub fn kinds(&self) -> Vec<Arc<ResourceDescriptor>> {
        self.snapshot().kinds.clone()
    }

    /// The served API groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for kind in self.snapshot().kinds.iter() {
            match groups.iter_mut().find(|(g, _)| *g == kind.group) {
                Some((_, versions)) => {
                    if !versions.iter().any(|v| *v == kind.version) {
                        versions.push(kind.version.clone());
                    }
                }
                None => groups.push((kind.group.clone(), vec![kind.version.clone()])),
            }
        }
        groups
    }
}
