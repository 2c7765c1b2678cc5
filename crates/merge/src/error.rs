//! Error types. Messages follow upstream `mergepatch` errors so API responses read the same.

/// Why a strategic merge patch could not be applied (the API server answers 422, or 400 for
/// documents that are not objects).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    /// The original or the patch is not a JSON object.
    #[error("{0} must be a JSON object")]
    NotAnObject(&'static str),
    /// A `$patch` directive other than replace/delete/merge where it is allowed.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType {
        /// The directive value (JSON text).
        directive: String,
        /// The map holding it (JSON text).
        map: String,
    },
    /// `$patch: merge` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// A list item lacks the declared merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The offending item (JSON text).
        map: String,
        /// The merge key.
        key: String,
    },
    /// A value has an unexpected JSON type.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        /// Expected JSON type.
        expected: &'static str,
        /// Actual JSON type.
        actual: &'static str,
    },
    /// `$retainKeys` is malformed or does not list a field the patch sets.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// `$deleteFromPrimitiveList/...` is malformed.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// `$setElementOrder/...` is malformed.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// The patch list order contradicts its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch {
        /// The patch list (JSON text).
        patch: String,
        /// The `$setElementOrder` list (JSON text).
        order: String,
    },
    /// Nested lists cannot be merged.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A merging list mixes item types.
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    /// A merging list of objects has no merge key in the schema.
    #[error("cannot merge lists without merge key for type map")]
    NoMergeKeyDeclared,
    /// An item of a merging list of objects is not an object.
    #[error("value for key {0} is not a map.")]
    ItemNotAMap(usize),
}

/// A field owned by another manager that an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owning manager as upstream prints it, e.g. `"kubectl" using apps/v1 at <time>`.
    pub manager: String,
    /// The field path in upstream display form, e.g. `.spec.replicas`.
    pub path: String,
}

impl Conflict {
    /// The `StatusCause` message upstream uses (type `FieldManagerConflict`, field = `path`).
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager)
    }
}

/// Why a server-side apply failed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    /// Other managers own fields the apply would change (409 unless forced).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The apply configuration is not usable (400/422).
    #[error("{0}")]
    Invalid(String),
}

/// The Status message upstream returns for apply conflicts.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.path
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        lines.extend(
            conflicts
                .iter()
                .filter(|c| c.manager == m)
                .map(|c| format!("- {}", c.path)),
        );
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
