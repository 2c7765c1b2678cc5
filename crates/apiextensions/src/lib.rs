//! CustomResourceDefinition logic, as pure functions over JSON values. The API server's registry
//! calls these; nothing here touches the store or HTTP.
//!
//! INTERFACE CONTRACT (used by src/registry and src/crd in the root crate — keep signatures stable):
//! - `validate_crd(new, old)`: every 422 cause upstream's CRD validation gives, including
//!   non-structural schemas, with upstream's field paths. Upstream validates the internal form
//!   of a v1 CRD, in which per-version schemas/subresources/columns that are identical across
//!   all versions (always so with one version) live at the top level, so causes are spelled
//!   `spec.validation.openAPIV3Schema.properties[spec].type` then, and
//!   `spec.versions[1].schema.openAPIV3Schema...` when versions differ.
//! - `Schema::compile(openAPIV3Schema)`: a compiled structural schema of one version.
//! - `Schema::validate(obj)`: causes for a custom object violating its schema, paths like
//!   `spec.replicas` (no leading dot), messages/reasons as upstream's kube-openapi validator.
//! - `Schema::apply_defaults(obj)`: fills `default`s as upstream (on create/update/read).
//! - `Schema::prune(obj)`: drops fields the schema does not know (honouring
//!   `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-embedded-resource`), returns their
//!   paths sorted and spelled as upstream's `unknown field "spec.foo"` warnings (no leading dot).
//! - `printer_cell(json_path, obj)`: the value of an additionalPrinterColumn's JSONPath.

mod cel;
mod cel_structs;
mod crd;
mod defaults;
mod embedded;
pub mod expression;
mod field;
mod formats;
mod jsonpath;
mod listtype;
mod prune;
mod schema;
mod structural;
pub mod typecheck;
mod validate;

pub use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

/// Upstream's CRD validation on create (`old` None) and update.
pub fn validate_crd(new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    crd::validate(new, old)
}

/// Applies the v1 defaults upstream sets before validating a CRD (names.singular,
/// names.listKind, conversion.strategy=None); the registry calls it on create and update.
pub fn default_crd(crd: &mut Value) {
    crd::apply_defaults(crd);
}

/// A compiled structural schema of one CRD version.
#[derive(Debug, Clone)]
pub struct Schema {
    raw: Value,
    root: schema::Node,
}

impl Schema {
    /// Compiles a version's `openAPIV3Schema` (already checked by `validate_crd`).
    pub fn compile(open_api_v3_schema: &Value) -> Schema {
        Schema {
            raw: open_api_v3_schema.clone(),
            root: schema::Node::parse(open_api_v3_schema),
        }
    }

    /// The schema as given (for OpenAPI publishing).
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// Validation causes for a whole custom object: the schema (kube-openapi), list-type
    /// set/map uniqueness, embedded resources' TypeMeta/ObjectMeta and x-kubernetes-validations
    /// rules (not transition rules using `oldSelf`), as upstream's
    /// custom-resource strategy runs them. Root metadata is the registry's job.
    pub fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let root = field::Path::root();
        let mut errs = validate::validate_value(&self.root, obj, &root);
        errs.extend(listtype::validate(&root, &self.root, obj));
        errs.extend(embedded::validate(&root, &self.root, obj));
        errs.extend(cel::validate(&self.root, obj, &root));
        errs
    }

    /// Applies `default`s in place (dropping non-nullable nulls without default first).
    pub fn apply_defaults(&self, obj: &mut Value) {
        defaults::apply(obj, &self.root);
    }

    /// Drops unknown fields in place; returns the dropped paths (`spec.foo`), sorted.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        prune::prune(obj, &self.root, true)
    }
}

/// The value at an additionalPrinterColumn `jsonPath` (`.spec.replicas`), Null when absent.
pub fn printer_cell(json_path: &str, obj: &Value) -> Value {
    jsonpath::first_value(json_path, obj)
}

#[cfg(test)]
mod tests;
