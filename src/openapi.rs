//! The OpenAPI documents of what we serve, generated from the registry table.

use std::path::Path;

use ferrokube_openapi::{ApiKind, Documents, OpenApiError};

use crate::http::discovery;
use crate::registry::Registry;

/// The verbs every built-in kind serves.
const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// One `ApiKind` per served kind, as the OpenAPI generator needs them.
pub fn api_kinds(registry: &Registry) -> Vec<ApiKind> {
    registry
        .kinds()
        .iter()
        .map(|d| ApiKind {
            group: d.group.to_string(),
            version: d.version.to_string(),
            kind: d.kind.to_string(),
            plural: d.plural.to_string(),
            namespaced: d.namespaced,
            verbs: VERBS.iter().map(|v| v.to_string()).collect(),
            subresources: ["status", "scale"]
                .iter()
                .filter(|s| discovery::has_subresource(d, s))
                .map(|s| s.to_string())
                .collect(),
            schema: d.codec.schema,
            list_schema: d.codec.list_schema,
        })
        .collect()
}

/// Generates the documents for the registry's kinds.
pub fn generate(registry: &Registry) -> Result<Documents, OpenApiError> {
    ferrokube_openapi::generate(&api_kinds(registry))
}

/// Writes the documents into `dir` (the repository's `openapi/` folder).
pub fn write(registry: &Registry, dir: &Path) -> anyhow::Result<()> {
    generate(registry)?.write_to(dir)?;
    Ok(())
}
