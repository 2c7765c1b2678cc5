//! Type checking of ValidatingAdmissionPolicies into their status (upstream's apiserver
//! `TypeChecker`, run by its policy status controller): when a policy's generation changes,
//! each of its expressions is checked against the kinds its `matchConstraints` name, with the
//! schemas the API publishes (discovery for the kind, `/openapi/v3` for its schema), and
//! `status.observedGeneration` and `status.typeChecking.expressionWarnings` are written
//! through the status subresource. Checking is advisory: a policy with warnings is still
//! enforced. Rules with wildcards or subresources give no kind to check against, as upstream.

use std::collections::BTreeMap;

use ferrokube_apiextensions::typecheck::{self, KindSchema};
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use kube::api::{Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::{json, Value};

/// Upstream checks at most this many kinds per policy.
const MAX_KINDS: usize = 10;

/// Runs the checker until the process ends (the watcher restarts itself on errors).
pub fn spawn(client: kube::Client) {
    tokio::spawn(run(client));
}

async fn run(client: kube::Client) {
    let api: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let mut stream =
        std::pin::pin!(watcher(api.clone(), watcher::Config::default()).default_backoff());
    while let Some(event) = stream.next().await {
        let policy = match event {
            Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("policy type checking watch: {e}");
                continue;
            }
        };
        if let Err(e) = reconcile(&client, &api, &policy).await {
            let name = policy.metadata.name.as_deref().unwrap_or_default();
            tracing::warn!("type checking policy {name}: {e:#}");
        }
    }
}

async fn reconcile(
    client: &kube::Client,
    api: &Api<ValidatingAdmissionPolicy>,
    policy: &ValidatingAdmissionPolicy,
) -> anyhow::Result<()> {
    let generation = policy.metadata.generation.unwrap_or(0);
    let observed = policy.status.as_ref().and_then(|s| s.observed_generation);
    if observed == Some(generation) {
        return Ok(());
    }
    let spec = serde_json::to_value(&policy.spec)?;
    let mut documents = Documents::default();
    for (group, version, resource) in matched_resources(&spec).into_iter().take(MAX_KINDS) {
        documents.load(client, &group, &version, &resource).await;
    }
    let warnings = expression_warnings(&spec, &documents.kinds());
    // An empty list is written as null so a merge patch removes earlier warnings.
    let listed = match warnings.is_empty() {
        true => Value::Null,
        false => json!(warnings),
    };
    let patch = json!({"status": {"observedGeneration": generation,
        "typeChecking": {"expressionWarnings": listed}}});
    let name = policy.metadata.name.clone().unwrap_or_default();
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The (group, version, resource) each resource rule names without wildcards.
fn matched_resources(spec: &Value) -> Vec<(String, String, String)> {
    let rules = spec["matchConstraints"]["resourceRules"].as_array();
    let strings = |v: &Value| -> Vec<String> {
        (v.as_array().into_iter().flatten())
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut out = Vec::new();
    for rule in rules.into_iter().flatten() {
        for group in strings(&rule["apiGroups"]) {
            for version in strings(&rule["apiVersions"]) {
                for resource in strings(&rule["resources"]) {
                    let names = [&group, &version, &resource];
                    if names.iter().any(|n| n.contains('*') || n.contains('/')) {
                        continue;
                    }
                    let gvr = (group.clone(), version.clone(), resource.clone());
                    if !out.contains(&gvr) {
                        out.push(gvr);
                    }
                }
            }
        }
    }
    out
}

/// Every expression of the policy with its field path, as upstream's status names them.
fn expressions(spec: &Value) -> Vec<(String, String)> {
    let lists = [
        ("validations", "expression"),
        ("validations", "messageExpression"),
        ("auditAnnotations", "valueExpression"),
        ("matchConditions", "expression"),
        ("variables", "expression"),
    ];
    let mut out = Vec::new();
    for (list, field) in lists {
        for (i, item) in (spec[list].as_array().into_iter().flatten()).enumerate() {
            if let Some(source) = item[field].as_str().filter(|s| !s.trim().is_empty()) {
                out.push((format!("spec.{list}[{i}].{field}"), source.to_owned()));
            }
        }
    }
    out
}

/// A kind to check against: upstream's `<group/version>, Kind=<Kind>` and its schema.
struct Kind<'d> {
    label: String,
    schema: KindSchema<'d>,
}

/// `expressionWarnings`: per expression, each kind's errors as `<gvk>: <errors>` lines.
fn expression_warnings(spec: &Value, kinds: &[Kind<'_>]) -> Vec<Value> {
    let mut out = Vec::new();
    for (field_ref, source) in expressions(spec) {
        let lines: Vec<String> = kinds
            .iter()
            .filter_map(|k| {
                let errors = typecheck::check(&source, k.schema);
                (!errors.is_empty()).then(|| format!("{}: {}", k.label, errors.join("\n")))
            })
            .collect();
        if !lines.is_empty() {
            out.push(json!({"fieldRef": field_ref, "warning": lines.join("\n")}));
        }
    }
    out
}

/// The OpenAPI v3 documents of the matched group versions and the kinds found in them.
#[derive(Default)]
struct Documents {
    /// By group version: the document's `components.schemas`.
    schemas: BTreeMap<String, serde_json::Map<String, Value>>,
    /// (label, group version, schema name).
    kinds: Vec<(String, String, String)>,
}

impl Documents {
    /// Finds `resource`'s kind by discovery and its schema in the group version's document;
    /// a kind the API cannot describe is skipped (nothing to check against).
    async fn load(&mut self, client: &kube::Client, group: &str, version: &str, resource: &str) {
        let gv = match group {
            "" => format!("api/{version}"),
            g => format!("apis/{g}/{version}"),
        };
        let Ok(discovery) = get_json(client, &format!("/{gv}")).await else {
            return;
        };
        let found = (discovery["resources"].as_array().into_iter().flatten())
            .find(|r| r["name"] == resource)
            .and_then(|r| r["kind"].as_str().map(str::to_owned));
        let Some(kind) = found else { return };
        if !self.schemas.contains_key(&gv) {
            let Ok(doc) = get_json(client, &format!("/openapi/v3/{gv}")).await else {
                return;
            };
            let schemas = doc["components"]["schemas"].as_object().cloned();
            self.schemas.insert(gv.clone(), schemas.unwrap_or_default());
        }
        if let Some(name) = schema_name(&self.schemas[&gv], group, version, &kind) {
            let api_version = match group {
                "" => version.to_owned(),
                g => format!("{g}/{version}"),
            };
            self.kinds
                .push((format!("{api_version}, Kind={kind}"), gv, name));
        }
    }

    fn kinds(&self) -> Vec<Kind<'_>> {
        (self.kinds.iter())
            .map(|(label, gv, name)| Kind {
                label: label.clone(),
                schema: KindSchema {
                    root: &self.schemas[gv][name],
                    schemas: &self.schemas[gv],
                },
            })
            .collect()
    }
}

/// The schema carrying the kind's `x-kubernetes-group-version-kind`.
fn schema_name(
    schemas: &serde_json::Map<String, Value>,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<String> {
    let wanted = json!({"group": group, "version": version, "kind": kind});
    schemas.iter().find_map(|(name, s)| {
        let gvks = s["x-kubernetes-group-version-kind"].as_array()?;
        gvks.iter()
            .any(|g| {
                g["group"] == wanted["group"]
                    && g["version"] == wanted["version"]
                    && g["kind"] == wanted["kind"]
            })
            .then(|| name.clone())
    })
}

async fn get_json(client: &kube::Client, path: &str) -> anyhow::Result<Value> {
    let req = axum::http::Request::get(path).body(Vec::new())?;
    Ok(serde_json::from_str(&client.request_text(req).await?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_without_wildcards_name_kinds() {
        let spec = json!({"matchConstraints": {"resourceRules": [
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments", "deployments/scale"]},
            {"apiGroups": ["*"], "apiVersions": ["v1"], "resources": ["pods"]},
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps", "*"]}]}});
        assert_eq!(
            matched_resources(&spec),
            vec![
                ("apps".into(), "v1".into(), "deployments".into()),
                ("".into(), "v1".into(), "configmaps".into()),
            ]
        );
    }

    #[test]
    fn warnings_name_the_expression_and_the_kind() {
        let schemas = json!({
            "io.k8s.api.apps.v1.Deployment": {"type": "object",
                "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
                "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}
        });
        let schemas = schemas.as_object().unwrap();
        let name = schema_name(schemas, "apps", "v1", "Deployment").unwrap();
        let kinds = [Kind {
            label: "apps/v1, Kind=Deployment".into(),
            schema: KindSchema {
                root: &schemas[&name],
                schemas,
            },
        }];
        let spec = json!({
            "validations": [{"expression": "object.spec.replicas < 5",
                "messageExpression": "'x' + string(object.spec.replicaz)"}],
            "auditAnnotations": [{"key": "k", "valueExpression": "string(object.spec.repl)"}]});
        let got = expression_warnings(&spec, &kinds);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(got[0]["fieldRef"], "spec.validations[0].messageExpression");
        let warning = got[0]["warning"].as_str().unwrap();
        assert!(
            warning.starts_with(
                "apps/v1, Kind=Deployment: ERROR: <input>:1:25: undefined field 'replicaz'"
            ),
            "{warning}"
        );
        assert_eq!(
            got[1]["fieldRef"],
            "spec.auditAnnotations[0].valueExpression"
        );
    }
}
