//! From a CustomResourceDefinition to the descriptors serving it: one per served version, all
//! under the CRD's accepted names and the same store keys (conversion strategy None, or the
//! CRD's conversion webhook, see [`crate::crd::conversion`]).

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::registry::descriptor::{Codec, CustomCodec, PrinterColumn, ScaleSpec};
use crate::registry::strategy::crd::storage_version;
use crate::registry::strategy::{CUSTOM_RESOURCE, CUSTOM_RESOURCE_WITH_STATUS};
use crate::registry::ResourceDescriptor;

fn s(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_string()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// What the descriptors of `crd` depend on: its spec, its accepted names and whether it is
/// terminating. Equal fingerprints build equal descriptors.
pub fn fingerprint(crd: &Value, terminating: bool) -> String {
    json!([
        crd.get("spec"),
        crd.pointer("/status/acceptedNames"),
        terminating
    ])
    .to_string()
}

/// Installs the descriptors of `crd` in the registry (a no-op when nothing they depend on changed).
pub fn install(reg: &crate::registry::Registry, crd: &Value, terminating: bool) {
    let name = s(crd.pointer("/metadata/name"));
    reg.install_custom(
        &name,
        fingerprint(crd, terminating),
        descriptors(crd, terminating),
    );
}

/// A printer column's or scale path's simple JSONPath (`.spec.replicas`) as a JSON pointer.
pub fn json_path_pointer(path: &str) -> String {
    let trimmed = path.trim().trim_start_matches('.');
    format!("/{}", trimmed.replace('.', "/"))
}

/// The descriptors for every served version of `crd`, under its accepted names, in upstream's
/// version priority order (so the first is the preferred version). Empty until names are
/// accepted.
pub fn descriptors(crd: &Value, terminating: bool) -> Vec<ResourceDescriptor> {
    let names = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .unwrap_or(json!({}));
    let plural = s(names.get("plural"));
    let kind = s(names.get("kind"));
    if plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let group = s(crd.pointer("/spec/group"));
    let crd_name = s(crd.pointer("/metadata/name"));
    let namespaced = s(crd.pointer("/spec/scope")) != "Cluster";
    let storage = storage_version(crd).unwrap_or_default();
    let storage_api_version = format!("{group}/{storage}");
    let mut versions: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by(|a, b| compare_versions(&s(a.get("name")), &s(b.get("name"))));
    let webhook = crate::crd::conversion::ConversionWebhook::of_crd(crd);
    versions
        .into_iter()
        .map(|v| {
            let status = v.pointer("/subresources/status").is_some();
            let scale = v.pointer("/subresources/scale").map(|sc| ScaleSpec {
                spec_replicas: json_path_pointer(&s(sc.get("specReplicasPath"))),
                status_replicas: json_path_pointer(&s(sc.get("statusReplicasPath"))),
                selector: sc
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .map(json_path_pointer),
            });
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .unwrap_or_else(
                    || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                );
            let columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| cols.iter().map(column).collect())
                .unwrap_or_default();
            ResourceDescriptor {
                group: group.clone(),
                version: s(v.get("name")),
                kind: kind.clone(),
                list_kind: {
                    let list = s(names.get("listKind"));
                    if list.is_empty() {
                        format!("{kind}List")
                    } else {
                        list
                    }
                },
                plural: plural.clone(),
                singular: {
                    let singular = s(names.get("singular"));
                    if singular.is_empty() {
                        kind.to_lowercase()
                    } else {
                        singular
                    }
                },
                namespaced,
                short_names: strings(names.get("shortNames")),
                categories: strings(names.get("categories")),
                status_subresource: status,
                scale,
                codec: Codec::Custom(Arc::new(CustomCodec {
                    crd_name: crd_name.clone(),
                    schema: ferrokube_apiextensions::Schema::compile(&schema),
                    merge_table: ferrokube_merge::MergeKeyTable::with_custom(
                        &group,
                        &s(v.get("name")),
                        &kind,
                        &schema,
                    ),
                    storage_api_version: storage_api_version.clone(),
                    columns: crate::crd::table::columns_or_default(columns),
                    terminating,
                    selectable_fields: selectable_fields(v),
                    webhook: webhook.clone(),
                })),
                strategy: if status {
                    &CUSTOM_RESOURCE_WITH_STATUS
                } else {
                    &CUSTOM_RESOURCE
                },
                name_rule: ferrokube_apimachinery::validation::NameRule::Dns1123Subdomain,
                validator: None,
                field_attrs: ferrokube_apimachinery::fields::FieldAttrs::custom_resource(
                    &selectable_fields(v),
                ),
                printer: ferrokube_apimachinery::printers::DEFAULT,
                extra_subresources: Vec::new(),
                hooks: Default::default(),
                create_only: None,
                computed: None,
                conversion: None,
                delete_collection: true,
            }
        })
        .collect()
}

/// A CRD version's `selectableFields` JSON paths (`.spec.color`).
fn selectable_fields(version: &Value) -> Vec<String> {
    version
        .get("selectableFields")
        .and_then(Value::as_array)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn column(c: &Value) -> PrinterColumn {
    PrinterColumn {
        name: s(c.get("name")),
        type_: s(c.get("type")),
        format: s(c.get("format")),
        description: s(c.get("description")),
        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
        json_path: s(c.get("jsonPath")),
    }
}

/// A version name parsed as upstream's `version.CompareKubeAwareVersionStrings` sees it:
/// `v<major>[(alpha|beta)<minor>]`, anything else sorts last, alphabetically.
fn parse_version(v: &str) -> Option<(u64, u8, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major: u64 = digits.parse().ok()?;
    if major == 0 {
        return None;
    }
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return Some((major, 2, 0));
    }
    let (stability, minor) = if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (0, m)
    } else {
        return None;
    };
    let minor: u64 = minor.parse().ok()?;
    Some((major, stability, minor))
}

/// Upstream's version priority: GA before beta before alpha, higher numbers first, then
/// non-Kubernetes version names alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse_version(a), parse_version(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sb.cmp(&sa).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_upstream() {
        let mut v = vec![
            "v1beta1",
            "foo",
            "v2",
            "v1",
            "v1alpha1",
            "v10beta3",
            "v11alpha2",
            "bar",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            [
                "v2",
                "v1",
                "v10beta3",
                "v1beta1",
                "v11alpha2",
                "v1alpha1",
                "bar",
                "foo"
            ]
        );
    }

    #[test]
    fn served_versions_share_names_and_storage() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [
                    {"name": "v1beta1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                     "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1}]},
                    {"name": "v0", "served": false, "storage": false},
                ],
            },
            "status": {"acceptedNames": {"plural": "widgets", "kind": "Widget", "shortNames": ["wid"], "categories": ["toys"]}},
        });
        let ds = descriptors(&crd, false);
        assert_eq!(ds.len(), 2);
        assert_eq!(
            (ds[0].version.as_str(), ds[1].version.as_str()),
            ("v1", "v1beta1")
        );
        assert_eq!(ds[0].key_prefix(), ds[1].key_prefix());
        assert_eq!(ds[0].list_kind, "WidgetList");
        assert_eq!(ds[0].singular, "widget");
        assert_eq!(ds[0].short_names, ["wid"]);
        assert!(ds[0].status_subresource && !ds[1].status_subresource);
        let scale = ds[0].scale.clone().unwrap();
        assert_eq!(scale.spec_replicas, "/spec/replicas");
        assert_eq!(scale.selector.as_deref(), Some("/status/selector"));
        let custom = ds[1].custom().unwrap();
        assert_eq!(custom.storage_api_version, "example.com/v1");
        assert_eq!(custom.columns[0].name, "Age");
        assert_eq!(ds[0].custom().unwrap().columns[0].priority, 1);
    }

    #[test]
    fn nothing_is_served_before_names_are_accepted() {
        let crd = json!({"spec": {"group": "g", "names": {"plural": "xs", "kind": "X"}, "versions": [{"name": "v1", "served": true, "storage": true}]}});
        assert!(descriptors(&crd, false).is_empty());
    }
}
