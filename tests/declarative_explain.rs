//! `kubectl explain` (1.32 on PATH and 1.33 beside it) against the OpenAPI v3 documents we serve:
//! for three nested paths, the fields kubectl prints are exactly the schema's properties, with
//! the types and `-required-` marks the schema implies; `--recursive` walks a whole kind.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::{kubectls, stdout_ok, TestCluster};

/// Fetches one v3 group-version document from the server.
async fn v3_document(cluster: &TestCluster, group_version: &str) -> Value {
    let url = format!("{}/openapi/v3/{group_version}", cluster.base_url());
    let resp = cluster.http().get(&url).send().await.expect("GET openapi");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.expect("v3 JSON")
}

/// Follows `$ref` and single-element `allOf` to the schema they name.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    if let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        if schema.get("properties").is_none() {
            return resolve(doc, only);
        }
    }
    schema
}

/// The root schema of a kind (the definition carrying its group-version-kind).
fn kind_schema<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    doc["components"]["schemas"]
        .as_object()
        .and_then(|schemas| {
            schemas.values().find(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|gvks| gvks.iter().any(|g| g["kind"] == kind))
            })
        })
        .unwrap_or_else(|| panic!("no schema for {kind}"))
}

/// Walks field names from a kind's root, stepping through list items.
fn walk<'a>(doc: &'a Value, root: &'a Value, path: &[&str]) -> &'a Value {
    let mut schema = resolve(doc, root);
    for field in path {
        schema = resolve(doc, &schema["properties"][*field]);
        if let Some(items) = schema.get("items") {
            schema = resolve(doc, items);
        }
        assert!(schema.is_object(), "no field {field} in the schema");
    }
    schema
}

/// The type name kubectl's explain template derives from a schema.
fn type_guess(schema: &Value) -> String {
    if let Some(items) = schema.get("items") {
        return format!("[]{}", type_guess(items));
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        return format!("map[string]{}", type_guess(values));
    }
    if let Some([only]) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        if schema.get("properties").is_none() {
            return type_guess(only);
        }
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('.').next().unwrap_or("Object").to_string();
    }
    schema["type"].as_str().unwrap_or("Object").to_string()
}

/// `name <type>[ -required-]` for every property of a schema.
fn expected_fields(schema: &Value) -> BTreeSet<String> {
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| {
                    let mark = if required.contains(name.as_str()) {
                        " -required-"
                    } else {
                        ""
                    };
                    format!("{name} <{}>{mark}", type_guess(prop))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The top-level field lines kubectl explain prints under `FIELDS:`.
fn printed_fields(out: &str) -> BTreeSet<String> {
    out.lines()
        .skip_while(|l| !l.starts_with("FIELDS:"))
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.trim().replace('\t', " "))
        .collect()
}

fn explain(cluster: &TestCluster, kubectl: &Path, args: &[&str]) -> String {
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    stdout_ok(
        &format!("{} {}", kubectl.display(), all.join(" ")),
        &cluster.kubectl_bin(kubectl, &all),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_matches_the_served_schema() {
    let cluster = TestCluster::start().await;
    let core = v3_document(&cluster, "api/v1").await;
    let apps = v3_document(&cluster, "apis/apps/v1").await;
    let cases: [(&str, &Value, &str, &[&str], &str); 3] = [
        (
            "pod.spec.containers.livenessProbe",
            &core,
            "Pod",
            &["spec", "containers", "livenessProbe"],
            "FIELD: livenessProbe <Probe>",
        ),
        (
            "deployment.spec.template.spec",
            &apps,
            "Deployment",
            &["spec", "template", "spec"],
            "FIELD: spec <PodSpec>",
        ),
        (
            "svc.spec.ports",
            &core,
            "Service",
            &["spec", "ports"],
            "FIELD: ports <[]ServicePort>",
        ),
    ];
    for kubectl in kubectls() {
        for (path, doc, kind, fields, header) in &cases {
            let out = explain(&cluster, &kubectl, &[path]);
            assert!(out.contains(header), "{path}: {out}");
            let schema = walk(doc, kind_schema(doc, kind), fields);
            let expected = expected_fields(schema);
            assert!(expected.len() > 3, "{path}: {expected:?}");
            assert_eq!(printed_fields(&out), expected, "{path}:\n{out}");
        }

        let out = explain(&cluster, &kubectl, &["deploy", "--recursive"]);
        assert!(
            out.starts_with("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n"),
            "{out}"
        );
        // Nested fields appear at their depth: spec.template.spec.containers.livenessProbe.
        for line in [
            "  spec\t<DeploymentSpec>",
            "    template\t<PodTemplateSpec> -required-",
            "      spec\t<PodSpec>",
            "        containers\t<[]Container> -required-",
            "          livenessProbe\t<Probe>",
            "    selector\t<LabelSelector> -required-",
            "      matchLabels\t<map[string]string>",
        ] {
            assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
        }
        assert!(out.lines().count() > 500, "{out}");
    }
}
