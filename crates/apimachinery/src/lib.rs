//! Kubernetes apimachinery behaviour over stored JSON objects (`serde_json::Value`).
//!
//! - [`body`]: `decode_json`/`decode_yaml` of request bodies (upstream's error texts) and
//!   `duplicates::duplicate_fields` (the repeated keys a strict decode reports).
//! - [`labels`]: `Selector::parse("a=b,c in (x),!d")`, `Selector::from_label_selector(json)`
//!   (null matches nothing, `{}` everything), `Selector::matches(&labels)`,
//!   `format_labels`, `format_label_selector`.
//! - [`fields`]: `FieldSelector::parse`; per kind a [`fields::FieldAttrs`] (`fields::POD`,
//!   `fields::META`, ...) with `validate(&sel)` (upstream `field label not supported: <f>`
//!   messages) and `value(obj, field)`; `matches(&sel, &attrs, obj)`.
//! - [`host_ports`]: a pod's host ports (`of`) and whether two sets `clash`, as the
//!   scheduler's NodePorts filter and the kubelet's admission both decide.
//! - [`validation`]: `is_dns1123_subdomain`/`_label`, `is_dns1035_label`, `is_qualified_name`,
//!   `is_valid_label_value`, `is_config_map_key`, `validate_object_meta(obj, namespaced, NameRule)`,
//!   one `validate_<kind>(obj)` per kind with checks of its own ([`validation::KindValidator`]),
//!   `generate_name(prefix)`; every failure is a [`validation::FieldError`] whose `field`,
//!   `reason` and `message` fill a 422 Status `details.causes` entry exactly like upstream.
//! - [`quantity`]: `Quantity::parse("1.5Gi")` exactly as upstream's `ParseQuantity` (its
//!   grammar, suffixes, rounding and error messages); `nanos`, `milli_value`, `value`.
//! - [`printers`]: per kind a [`printers::Printer`] (`printers::PODS`, `printers::DEFAULT`, ...);
//!   `table(&printer, &objects, IncludeObject, now)` builds the `meta.k8s.io/v1` Table
//!   kube-apiserver returns (all columns, wide ones with priority 1), `column_definitions`, and
//!   `human_duration` for ages.
//!
//! Which function applies to which kind is decided in one place: the server's kind descriptors
//! (`src/registry/kinds.rs`), never by string-keyed lookups here.
//!
//! Selector errors carry only upstream's inner text; a list handler answers them as
//! 400 BadRequest wrapped like kube-apiserver: `Unable to find "<gvr>" that match label
//! selector "<l>", field selector "<f>": <error>`.

#![deny(missing_docs)]

pub mod body;
pub mod fields;
pub mod host_ports;
pub mod labels;
pub mod printers;
pub mod quantity;
pub mod validation;
