//! Kubernetes apimachinery behaviour over stored JSON objects (`serde_json::Value`).
//!
//! - [`labels`]: `Selector::parse("a=b,c in (x),!d")`, `Selector::from_label_selector(json)`
//!   (null matches nothing, `{}` everything), `Selector::matches(&labels)`,
//!   `format_labels`, `format_label_selector`.
//! - [`fields`]: `FieldSelector::parse`, `validate_fields(group, resource, &sel)` (upstream
//!   `field label not supported: <f>` messages), `field_value(group, resource, obj, field)`,
//!   `matches(&sel, group, resource, obj)`.
//! - [`validation`]: `is_dns1123_subdomain`/`_label`, `is_dns1035_label`, `is_qualified_name`,
//!   `is_valid_label_value`, `is_config_map_key`, `validate_object_meta(obj, namespaced, NameRule)`,
//!   `validate_kind(group, kind, obj)`, `validate_object(..)`, `name_rule(group, kind)`,
//!   `generate_name(prefix)`; every failure is a [`validation::FieldError`] whose `field`,
//!   `reason` and `message` fill a 422 Status `details.causes` entry exactly like upstream.
//! - [`printers`]: `table(group, resource, &objects, IncludeObject, now)` builds the
//!   `meta.k8s.io/v1` Table kube-apiserver returns (all columns, wide ones with priority 1),
//!   `column_definitions(group, resource)`, and `human_duration` for ages.
//!
//! Selector errors carry only upstream's inner text; a list handler answers them as
//! 400 BadRequest wrapped like kube-apiserver: `Unable to find "<gvr>" that match label
//! selector "<l>", field selector "<f>": <error>`.

#![deny(missing_docs)]

pub mod fields;
pub mod labels;
pub mod printers;
pub mod validation;
