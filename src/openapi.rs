//! The OpenAPI documents of what we serve, generated from the registry table.

use std::path::Path;

use ferrokube_openapi::{ApiKind, Documents, OpenApiError};

use crate::http::discovery;
use crate::registry::{kinds::builtin_kinds, ResourceDescriptor};

/// One `ApiKind` per served kind, as the OpenAPI generator needs them.
pub fn api_kinds<'a>(kinds: impl IntoIterator<Item = &'a ResourceDescriptor>) -> Vec<ApiKind> {
    kinds
        .into_iter()
        .map(|d| ApiKind {
            group: d.group.to_string(),
            version: d.version.to_string(),
            kind: d.kind.to_string(),
            plural: d.plural.to_string(),
            namespaced: d.namespaced,
            verbs: discovery::VERBS.iter().map(|v| v.to_string()).collect(),
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

/// Generates the documents for the built-in kinds.
pub fn generate() -> Result<Documents, OpenApiError> {
    let kinds = builtin_kinds();
    ferrokube_openapi::generate(&api_kinds(kinds.iter()))
}

/// Writes the documents into `dir` (the repository's `openapi/` folder).
pub fn write(dir: &Path) -> anyhow::Result<()> {
    generate()?.write_to(dir)?;
    Ok(())
}
