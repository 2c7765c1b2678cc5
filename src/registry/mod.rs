//! The registry: one generic REST implementation over the store, driven by the per-kind
//! descriptor table. HTTP specifics live in `http`; this module speaks in objects and `ApiError`s.

pub mod admit;
pub mod descriptor;
pub mod filter;
pub mod kinds;
pub mod list;
pub mod meta;
pub mod patch;
pub mod rest;
pub mod strategy;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use ferrokube_store::Store;

pub use descriptor::ResourceDescriptor;

/// The served kinds and the store they live in.
pub struct Registry {
    kinds: Vec<Arc<ResourceDescriptor>>,
    by_resource: HashMap<(String, String, String), Arc<ResourceDescriptor>>,
    /// The revisioned store every object lives in.
    pub store: Store,
}

impl Registry {
    /// A registry serving the built-in kinds from `store`.
    pub fn new(store: Store) -> Self {
        let kinds: Vec<Arc<ResourceDescriptor>> =
            kinds::builtin_kinds().into_iter().map(Arc::new).collect();
        let by_resource = kinds
            .iter()
            .map(|k| {
                (
                    (
                        k.group.to_string(),
                        k.version.to_string(),
                        k.plural.to_string(),
                    ),
                    k.clone(),
                )
            })
            .collect();
        Registry {
            kinds,
            by_resource,
            store,
        }
    }

    /// The descriptor serving `/<group>/<version>/<plural>`, if any.
    pub fn lookup(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceDescriptor>> {
        self.by_resource
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The descriptor of a kind by group and kind name.
    pub fn lookup_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDescriptor>> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind)
            .cloned()
    }

    /// Every served kind, in discovery order.
    pub fn kinds(&self) -> &[Arc<ResourceDescriptor>] {
        &self.kinds
    }

    /// The served API groups in discovery order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for kind in &self.kinds {
            match groups.iter_mut().find(|(g, _)| g == kind.group) {
                Some((_, versions)) => {
                    if !versions.iter().any(|v| v == kind.version) {
                        versions.push(kind.version.to_string());
                    }
                }
                None => groups.push((kind.group.to_string(), vec![kind.version.to_string()])),
            }
        }
        groups
    }
}
