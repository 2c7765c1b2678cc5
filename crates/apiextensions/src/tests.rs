//! Behaviour tables for the public API (cases after upstream's validation_test.go,
//! pruning algorithm_test.go, defaulting algorithm_test.go and CRD validation_test.go).

use serde_json::{json, Value};

use super::*;

fn msgs(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| e.to_string()).collect()
}

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["image"],
                "properties": {
                    "image": {"type": "string", "minLength": 1, "maxLength": 20, "pattern": "^[a-z:0-9]+$"},
                    "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                    "ratio": {"type": "number", "multipleOf": 0.5, "exclusiveMaximum": true, "maximum": 2},
                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "when": {"type": "string", "format": "date-time"},
                    "tags": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"type": "string"}},
                    "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "note": {"type": "string", "nullable": true}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }
    })
}

fn widget(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
}

#[test]
fn valid_object_has_no_causes() {
    let s = Schema::compile(&widget_schema());
    let obj = widget(json!({
        "image": "busybox:1", "replicas": 3, "ratio": 1.5, "mode": "slow", "port": "http",
        "when": "2024-01-02T03:04:05Z", "tags": ["a"], "labels": {"a": "b"},
        "free": {"anything": [1, {"x": null}]}, "items": [{"name": "x"}], "note": null
    }));
    assert_eq!(msgs(&s.validate(&obj)), Vec::<String>::new());
    // an int-or-string also takes an integer; an integral float is an integer
    let obj = widget(json!({"image": "a", "port": 8080, "replicas": 2.0}));
    assert_eq!(msgs(&s.validate(&obj)), Vec::<String>::new());
}

#[test]
fn type_errors_match_upstream_wording() {
    let s = Schema::compile(&widget_schema());
    let errs = s.validate(&widget(
        json!({"image": "a", "replicas": "string", "port": true, "note": 5}),
    ));
    assert_eq!(
        msgs(&errs),
        vec![
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
            "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
            "spec.note: Invalid value: \"integer\": spec.note in body must be of type string: \"integer\"",
        ]
    );
    assert!(errs
        .iter()
        .all(|e| e.reason_str() == "FieldValueTypeInvalid"));
    let errs = s.validate(&widget(json!({"image": null})));
    assert_eq!(
        msgs(&errs),
        vec!["spec.image: Invalid value: \"null\": spec.image in body must be of type string: \"null\""]
    );
    let errs = s.validate(&widget(json!({"image": "a", "replicas": 1.5})));
    assert_eq!(
        msgs(&errs),
        vec!["spec.replicas: Invalid value: \"number\": spec.replicas in body must be of type integer: \"number\""]
    );
}

#[test]
fn constraint_errors_match_upstream_wording() {
    let s = Schema::compile(&widget_schema());
    let obj = widget(json!({
        "image": "UPPER", "replicas": 11, "ratio": 2, "mode": "medium",
        "when": "tomorrow", "tags": ["a", "b", "c"], "labels": {"a": "1", "b": "2"}
    }));
    let got = s.validate(&obj);
    assert_eq!(
        msgs(&got),
        vec![
            "spec.image: Invalid value: \"UPPER\": spec.image in body should match '^[a-z:0-9]+$'",
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
            "spec.ratio: Invalid value: 2: spec.ratio in body should be less than 2",
            "spec.mode: Unsupported value: \"medium\": supported values: \"fast\", \"slow\"",
            "spec.when: Invalid value: \"tomorrow\": spec.when in body must be of type date-time: \"tomorrow\"",
            "spec.tags: Too many: 3: must have at most 2 items",
            "spec.labels: Too many: 2: must have at most 1 item",
        ]
    );
    let reasons: Vec<&str> = got.iter().map(|e| e.reason_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "FieldValueInvalid",
            "FieldValueInvalid",
            "FieldValueInvalid",
            "FieldValueNotSupported",
            "FieldValueTypeInvalid",
            "FieldValueTooMany",
            "FieldValueTooMany"
        ]
    );
    let got = s.validate(&widget(
        json!({"image": "abcdefghijklmnopqrstuvwxyz", "ratio": 0.7, "tags": []}),
    ));
    assert_eq!(
        msgs(&got),
        vec![
            "spec.image: Too long: may not be more than 20 bytes",
            "spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5",
            "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items",
        ]
    );
    assert_eq!(got[0].reason_str(), "FieldValueTooLong");
    let got = s.validate(&widget(json!({"image": ""})));
    assert_eq!(
        msgs(&got),
        vec!["spec.image: Invalid value: \"\": spec.image in body should be at least 1 chars long",]
    );
}

#[test]
fn required_nested_paths_and_arrays() {
    let s = Schema::compile(&widget_schema());
    let got = s.validate(&widget(json!({"items": [{"name": "a"}, {"name": 3}]})));
    assert_eq!(
        msgs(&got),
        vec![
            "spec.items[1].name: Invalid value: \"integer\": spec.items[1].name in body must be of type string: \"integer\"",
            "spec.image: Required value",
        ]
    );
    assert_eq!(got[1].reason_str(), "FieldValueRequired");
    let root = Schema::compile(
        &json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}}),
    );
    assert_eq!(
        msgs(&root.validate(&json!({"kind": "X"}))),
        vec!["spec: Required value"]
    );
    assert_eq!(
        msgs(&root.validate(&json!("x"))),
        vec!["<nil>: Invalid value: \"string\":  in body must be of type object: \"string\""]
    );
    assert_eq!(
        msgs(&root.validate(&json!({"spec": "x"}))),
        vec!["spec: Invalid value: \"string\": spec in body must be of type object: \"string\""]
    );
}

#[test]
fn junctors_any_one_all_not() {
    let s = Schema::compile(&json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
        "not": {"required": ["c"]}
    }, "c": {"type": "integer", "anyOf": [{"minimum": 5}, {"maximum": 1}]}}}));
    assert!(s.validate(&json!({"spec": {"a": "x"}, "c": 7})).is_empty());
    let got = s.validate(&json!({"spec": {"a": "x", "b": "y"}, "c": 3}));
    assert_eq!(
        msgs(&got),
        vec![
            "<nil>: Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
            "<nil>: Invalid value: \"\": \"c\" must validate at least one schema (anyOf)",
            "c: Invalid value: 3: c in body should be greater than or equal to 5",
        ]
    );
    let got = s.validate(&json!({"spec": {}}));
    assert_eq!(
        msgs(&got)[0],
        "<nil>: Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found none valid"
    );
}

#[test]
fn list_type_uniqueness_in_validate() {
    let s = Schema::compile(
        &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "hosts": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
        }}}}),
    );
    assert_eq!(
        msgs(&s.validate(&json!({"spec": {"hosts": ["a", "b", "a"]}}))),
        vec!["spec.hosts[2]: Duplicate value: \"a\""]
    );
}

#[test]
fn defaults_are_applied_recursively_and_idempotently() {
    let s = Schema::compile(&json!({"type": "object", "properties": {"spec": {
    "type": "object", "default": {},
    "properties": {
        "replicas": {"type": "integer", "default": 1},
        "nested": {"type": "object", "default": {"x": "y"}, "properties": {"x": {"type": "string"}, "z": {"type": "string", "default": "zz"}}},
        "list": {"type": "array", "items": {"type": "object", "properties": {"p": {"type": "integer", "default": 80}}}},
        "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"q": {"type": "string", "default": "d"}}}},
        "keep": {"type": "string", "nullable": true, "default": "k"},
        "gone": {"type": "string"}
    }}}}));
    let mut obj = json!({"spec": {"list": [{}, {"p": 1}], "map": {"a": {}}, "keep": null, "gone": null, "replicas": null}});
    s.apply_defaults(&mut obj);
    let want = json!({"spec": {
        "list": [{"p": 80}, {"p": 1}], "map": {"a": {"q": "d"}}, "keep": null, "replicas": 1,
        "nested": {"x": "y", "z": "zz"}
    }});
    assert_eq!(obj, want);
    s.apply_defaults(&mut obj);
    assert_eq!(obj, want);
    let mut empty = json!({});
    s.apply_defaults(&mut empty);
    assert_eq!(
        empty,
        json!({"spec": {"replicas": 1, "nested": {"x": "y", "z": "zz"}, "keep": "k"}})
    );
}

#[test]
fn pruning_drops_unknown_fields_and_reports_paths() {
    let s = Schema::compile(&json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "a": {"type": "string"},
            "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "string"}}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                     "properties": {"strict": {"type": "object", "properties": {"k": {"type": "string"}}}}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}}},
            "pod": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}
        }}
    }}));
    let mut obj = json!({
        "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "whatever": 1}, "extra": 1,
        "spec": {
            "a": "x", "b": 1,
            "list": [{"n": "1", "m": 2}],
            "free": {"anything": {"deep": 1}, "strict": {"k": "v", "bad": 1}},
            "map": {"x": {"v": "1", "w": 2}},
            "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}, "status": {}}
        }
    });
    let pruned = s.prune(&mut obj);
    assert_eq!(
        pruned,
        vec![
            "extra",
            "spec.b",
            "spec.free.strict.bad",
            "spec.list[0].m",
            "spec.map.x.w",
            "spec.pod.status",
        ]
    );
    assert_eq!(
        obj,
        json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "whatever": 1},
            "spec": {
                "a": "x",
                "list": [{"n": "1"}],
                "free": {"anything": {"deep": 1}, "strict": {"k": "v"}},
                "map": {"x": {"v": "1"}},
                "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
            }
        })
    );
    assert!(s.prune(&mut obj).is_empty());
}

#[test]
fn printer_cells() {
    let obj = json!({"spec": {"replicas": 2}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    assert_eq!(printer_cell(".spec.replicas", &obj), json!(2));
    assert_eq!(
        printer_cell(".status.conditions[?(@.type==\"Ready\")].status", &obj),
        json!("True")
    );
    assert_eq!(printer_cell(".status.missing", &obj), Value::Null);
}

fn crd(schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]}]
        }
    })
}

#[test]
fn valid_crd_passes() {
    assert_eq!(
        msgs(&validate_crd(&crd(widget_schema()), None)),
        Vec::<String>::new()
    );
    // kubectl-style minimal CRD: singular/listKind/conversion defaulted
    let mut c = crd(widget_schema());
    c["spec"]["names"] = json!({"plural": "widgets", "kind": "Widget"});
    assert_eq!(msgs(&validate_crd(&c, None)), Vec::<String>::new());
}

#[test]
fn non_structural_schema_is_rejected_with_upstream_paths() {
    let schema = json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}});
    assert_eq!(
        msgs(&validate_crd(&crd(schema.clone()), None)),
        vec!["spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"]
    );
    // with differing per-version schemas the cause stays on the version
    let mut c = crd(schema);
    let mut v2 = c["spec"]["versions"][0].clone();
    v2["name"] = json!("v2");
    v2["storage"] = json!(false);
    v2["schema"] = json!({"openAPIV3Schema": {"type": "object"}});
    c["spec"]["versions"].as_array_mut().unwrap().push(v2);
    assert_eq!(
        msgs(&validate_crd(&c, None)),
        vec!["spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"]
    );
}

#[test]
fn crd_spec_rules() {
    let mut c = crd(json!({"type": "object"}));
    c["metadata"]["name"] = json!("foo.example.com");
    c["spec"]["group"] = json!("example");
    c["spec"]["scope"] = json!("Global");
    c["spec"]["names"]["kind"] = json!("WidgetList");
    c["spec"]["names"]["shortNames"] = json!(["Bad_Name"]);
    c["spec"]["versions"][0]["storage"] = json!(false);
    c["spec"]["versions"][0]["additionalPrinterColumns"] =
        json!([{"name": "x", "type": "float", "jsonPath": "spec.x"}]);
    c["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] =
        json!(".status.replicas");
    let got = msgs(&validate_crd(&c, None));
    let want = [
        "metadata.name: Invalid value: \"foo.example.com\": must be spec.names.plural+\".\"+spec.group",
        "spec.group: Invalid value: \"example\": should be a domain with at least one dot",
        "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
        "spec.names.shortNames[0]: Invalid value: \"Bad_Name\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        "spec.names.listKind: Invalid value: \"WidgetList\": kind and listKind may not be the same",
        "spec.subresources.scale.specReplicasPath: Invalid value: \".status.replicas\": should be a json path under .spec",
        "spec.additionalPrinterColumns[0].type: Invalid value: \"float\": must be one of boolean,date,integer,number,string",
        "spec.additionalPrinterColumns[0].JSONPath: Invalid value: \"spec.x\": must be a simple json path starting with .",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w}\n got {got:#?}");
    }
    assert!(got
        .iter()
        .any(|g| g.starts_with("spec.versions: Invalid value: ")
            && g.ends_with("must have exactly one version marked as storage version")));
    assert!(got.iter().any(|g| g == "status.storedVersions: Invalid value: []string{}: must have at least one stored version"));
}

#[test]
fn crd_schema_rules() {
    let schema = json!({"type": "object", "properties": {
        "metadata": {"type": "object", "default": {}},
        "spec": {"type": "object", "properties": {
            "list": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
            "map": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                    "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "bad": {"type": "string", "default": 5},
            "typ": {"type": "null"}
        }}
    }});
    let got = msgs(&validate_crd(&crd(schema), None));
    let want = [
        "spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata",
        "spec.validation.openAPIV3Schema.properties[spec].properties[list].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        "spec.validation.openAPIV3Schema.properties[spec].properties[map].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
        "spec.validation.openAPIV3Schema.properties[spec].properties[typ].type: Unsupported value: \"null\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
        "spec.validation.openAPIV3Schema.properties[spec].properties[typ].type: Forbidden: type cannot be set to null, use nullable as an alternative",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w}\n got {got:#?}");
    }
}

#[test]
fn crd_defaults_must_validate_and_be_pruned() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "n": {"type": "integer", "default": "x"},
        "o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": 1}}
    }}}});
    let got = msgs(&validate_crd(&crd(schema), None));
    assert_eq!(
        got,
        vec![
            "spec.validation.openAPIV3Schema.properties[spec].properties[n].default: Invalid value: \"string\":  in body must be of type integer: \"string\"",
            "spec.validation.openAPIV3Schema.properties[spec].properties[o].default: Invalid value: map[string]interface {}{\"a\":\"x\", \"b\":1}: must not have unknown fields",
        ]
    );
}

#[test]
fn crd_update_rules() {
    let mut old = crd(widget_schema());
    old["status"] = json!({"storedVersions": ["v1"], "conditions": [{"type": "Established", "status": "True"}]});
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["group"] = json!("other.com");
    new["metadata"]["name"] = json!("widgets.other.com");
    let got = msgs(&validate_crd(&new, Some(&old)));
    assert_eq!(
        got,
        vec![
            "spec.scope: Invalid value: \"Cluster\": field is immutable",
            "spec.group: Invalid value: \"other.com\": field is immutable",
        ]
    );
    // dropping a stored version is refused until storage migration
    let mut new = old.clone();
    new["spec"]["versions"][0]["name"] = json!("v2");
    let got = msgs(&validate_crd(&new, Some(&old)));
    assert_eq!(
        got,
        vec!["status.storedVersions[0]: Invalid value: \"v1\": missing from spec.versions; v1 was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in v1 and removes v1 from status.storedVersions"]
    );
}

#[test]
fn crd_conversion_and_approval() {
    let mut c = crd(widget_schema());
    c["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {"clientConfig": {"url": "http://x/convert"}, "conversionReviewVersions": ["v2"]}});
    let got = msgs(&validate_crd(&c, None));
    assert_eq!(
        got,
        vec![
            "spec.conversion.webhookClientConfig.url: Invalid value: \"http://x/convert\": 'https' is the only allowed URL scheme",
            "spec.conversion.conversionReviewVersions: Invalid value: []string{\"v2\"}: must include at least one of v1, v1beta1",
        ]
    );
    let mut k = crd(widget_schema());
    k["spec"]["group"] = json!("x.k8s.io");
    k["metadata"]["name"] = json!("widgets.x.k8s.io");
    let got = msgs(&validate_crd(&k, None));
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation"));
}

#[test]
fn malformed_input_never_panics() {
    for bad in [
        json!(null),
        json!(5),
        json!("x"),
        json!([]),
        json!({"spec": 3}),
        json!({"spec": {"versions": "x", "names": 1}}),
    ] {
        let _ = validate_crd(&bad, Some(&bad));
        let s = Schema::compile(&bad);
        let mut obj = json!({"a": [1, {"b": null}], "c": "d"});
        let _ = s.validate(&obj);
        s.apply_defaults(&mut obj);
        let _ = s.prune(&mut obj);
    }
    let s = Schema::compile(
        &json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
    );
    assert!(s.validate(&json!({"a": "x"})).is_empty());
    for p in [
        "",
        ".",
        "[",
        ".a[?(@.b",
        ".a[-99999999999]",
        ".a[1:-1]",
        "..",
        "{",
        "$",
    ] {
        let _ = printer_cell(p, &json!({"a": [1, 2, 3]}));
    }
}

#[test]
fn schema_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Schema>();
}

#[test]
fn cel_rules_in_crd_and_objects() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}}}});
    assert_eq!(
        msgs(&validate_crd(&crd(schema.clone()), None)),
        Vec::<String>::new()
    );
    let s = Schema::compile(&schema);
    assert_eq!(
        msgs(&s.validate(&json!({"spec": {"min": 3, "max": 1}}))),
        vec!["spec: Invalid value: \"object\": min must not exceed max"]
    );
    let bad = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a =="}]});
    let got = msgs(&validate_crd(&crd(bad), None));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with(
            "spec.validation.openAPIV3Schema.x-kubernetes-validations[0].rule: Invalid value: "
        ) && got[0].contains("compilation failed: "),
        "{got:?}"
    );
}
