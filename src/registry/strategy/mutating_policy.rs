//! MutatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1): upstream's
//! defaults (`failurePolicy: Fail`, the match resources' `Equivalent` policy and empty
//! selectors) and `validateMutatingAdmissionPolicySpec` / `…BindingSpec`: what a policy must
//! say to be evaluable (constraints with resource rules, CREATE/UPDATE only, mutations whose
//! CEL compiles, a reinvocation policy), so a policy that could never run is refused on write.

use ferrokube_apiextensions::expression::Expression;
use ferrokube_apimachinery::validation::FieldError;
use serde_json::{json, Value};

use super::match_resources::validate_match_resources;
use super::{set_default, Strategy};

/// MutatingAdmissionPolicy.
pub struct MutatingPolicyStrategy;
/// MutatingAdmissionPolicyBinding.
pub struct MutatingPolicyBindingStrategy;
pub static MUTATING_POLICY: MutatingPolicyStrategy = MutatingPolicyStrategy;
pub static MUTATING_POLICY_BINDING: MutatingPolicyBindingStrategy = MutatingPolicyBindingStrategy;

const MUTATING_OPERATIONS: &[&str] = &["*", "CREATE", "UPDATE"];

/// `SetDefaults_MatchResources`.
pub(super) fn default_match_resources(obj: &mut Value, at: &[&str]) {
    if obj.pointer(&format!("/{}", at.join("/"))).is_none() {
        return;
    }
    let with = |leaf: &'static str| [at, &[leaf]].concat();
    set_default(obj, &with("matchPolicy"), json!("Equivalent"));
    set_default(obj, &with("namespaceSelector"), json!({}));
    set_default(obj, &with("objectSelector"), json!({}));
}

impl Strategy for MutatingPolicyStrategy {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, &["spec", "failurePolicy"], json!("Fail"));
        default_match_resources(obj, &["spec", "matchConstraints"]);
    }

    fn validate(&self, new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validate_policy_spec(&new["spec"])
    }
}

impl Strategy for MutatingPolicyBindingStrategy {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_match_resources(obj, &["spec", "matchResources"]);
    }

    fn validate(&self, new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        let spec = &new["spec"];
        let mut errs = validate_binding_spec(spec);
        errs.extend(mutating_operations(
            &spec["matchResources"],
            "spec.matchResources",
        ));
        errs
    }
}

/// What every policy binding must say: the policy's name, a valid `paramRef` if any, and
/// valid match resources (upstream's shared part of `validate…BindingSpec`).
pub(super) fn validate_binding_spec(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match spec["policyName"].as_str().unwrap_or("") {
        "" => errs.push(FieldError::required("spec.policyName", "")),
        name => {
            for msg in ferrokube_apimachinery::validation::is_dns1123_subdomain(name) {
                errs.push(FieldError::invalid("spec.policyName", name, &msg));
            }
        }
    }
    if let Some(r) = spec.get("paramRef").filter(|r| !r.is_null()) {
        errs.extend(validate_param_ref(r));
    }
    errs.extend(validate_match_resources(
        &spec["matchResources"],
        "spec.matchResources",
    ));
    errs
}

/// `validateParamRef`: a name or a selector (not both), and a parameterNotFoundAction.
pub(super) fn validate_param_ref(r: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let named = r["name"].as_str().is_some_and(|n| !n.is_empty());
    if named && !r["selector"].is_null() {
        errs.push(FieldError::forbidden(
            "spec.paramRef.name",
            "name and selector are mutually exclusive",
        ));
    }
    match r["parameterNotFoundAction"].as_str() {
        None => errs.push(FieldError::required(
            "spec.paramRef.parameterNotFoundAction",
            "",
        )),
        Some("Allow" | "Deny") => {}
        Some(other) => errs.push(FieldError::not_supported(
            "spec.paramRef.parameterNotFoundAction",
            other,
            &["Allow", "Deny"],
        )),
    }
    errs
}

/// Mutations happen on create and update only.
fn mutating_operations(resources: &Value, at: &str) -> Vec<FieldError> {
    let rules = resources["resourceRules"].as_array().into_iter().flatten();
    rules
        .flat_map(|rule| rule["operations"].as_array().cloned().unwrap_or_default())
        .filter_map(|op| {
            let op = op.as_str().unwrap_or("").to_owned();
            (!MUTATING_OPERATIONS.contains(&op.as_str())).then(|| {
                FieldError::not_supported(
                    &format!("{at}.resourceRules.operations"),
                    op.as_str(),
                    MUTATING_OPERATIONS,
                )
            })
        })
        .collect()
}

/// One of `allowed` (required when absent).
pub(super) fn one_of(errs: &mut Vec<FieldError>, spec: &Value, field: &str, allowed: &[&str]) {
    let at = format!("spec.{field}");
    match spec[field].as_str() {
        None | Some("") => errs.push(FieldError::required(&at, "")),
        Some(v) if !allowed.contains(&v) => errs.push(FieldError::not_supported(&at, v, allowed)),
        Some(_) => {}
    }
}

/// A named CEL expression list (`matchConditions`, `variables`): names and expressions
/// present, expressions compiling.
pub(super) fn named_expressions(errs: &mut Vec<FieldError>, list: &Value, at: &str) {
    for (i, item) in list.as_array().into_iter().flatten().enumerate() {
        if item["name"].as_str().unwrap_or("").is_empty() {
            errs.push(FieldError::required(&format!("{at}[{i}].name"), ""));
        }
        let expr = item["expression"].as_str().unwrap_or("");
        errs.extend(expression(&format!("{at}[{i}].expression"), expr, false));
    }
}

pub(super) fn expression(at: &str, source: &str, mutation: bool) -> Option<FieldError> {
    if source.trim().is_empty() {
        return Some(FieldError::required(at, ""));
    }
    let compiled = match mutation {
        true => Expression::compile_mutation(source.trim()),
        false => Expression::compile(source.trim()),
    };
    compiled
        .err()
        .map(|e| FieldError::invalid(at, source, &format!("compilation failed: {e}")))
}

fn validate_policy_spec(spec: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    one_of(&mut errs, spec, "failurePolicy", &["Fail", "Ignore"]);
    if let Some(kind) = spec.get("paramKind").filter(|k| !k.is_null()) {
        for field in ["apiVersion", "kind"] {
            if kind[field].as_str().unwrap_or("").is_empty() {
                errs.push(FieldError::required(&format!("spec.paramKind.{field}"), ""));
            }
        }
    }
    let constraints = &spec["matchConstraints"];
    if constraints.is_null() {
        errs.push(FieldError::required("spec.matchConstraints", ""));
    } else {
        if constraints["resourceRules"]
            .as_array()
            .is_none_or(|r| r.is_empty())
        {
            errs.push(FieldError::required(
                "spec.matchConstraints.resourceRules",
                "",
            ));
        }
        errs.extend(mutating_operations(constraints, "spec.matchConstraints"));
        errs.extend(validate_match_resources(
            constraints,
            "spec.matchConstraints",
        ));
    }
    named_expressions(&mut errs, &spec["matchConditions"], "spec.matchConditions");
    named_expressions(&mut errs, &spec["variables"], "spec.variables");
    match spec["mutations"].as_array().filter(|m| !m.is_empty()) {
        None => errs.push(FieldError::required(
            "spec.mutations",
            "mutations must contain at least one item",
        )),
        Some(list) => {
            for (i, m) in list.iter().enumerate() {
                errs.extend(validate_mutation(m, &format!("spec.mutations[{i}]")));
            }
        }
    }
    one_of(
        &mut errs,
        spec,
        "reinvocationPolicy",
        &["IfNeeded", "Never"],
    );
    errs
}

/// `validateMutation`: the patch type's own member, and only it.
fn validate_mutation(m: &Value, at: &str) -> Vec<FieldError> {
    let (own, other) = match m["patchType"].as_str().unwrap_or("") {
        "" => return vec![FieldError::required(&format!("{at}.patchType"), "")],
        "JSONPatch" => ("jsonPatch", "applyConfiguration"),
        "ApplyConfiguration" => ("applyConfiguration", "jsonPatch"),
        t => {
            return vec![FieldError::not_supported(
                &format!("{at}.patchType"),
                t,
                &["ApplyConfiguration", "JSONPatch"],
            )]
        }
    };
    let patch_type = m["patchType"].as_str().unwrap_or("");
    let mut errs = Vec::new();
    match m.get(own).filter(|v| !v.is_null()) {
        None => errs.push(FieldError::required(
            &format!("{at}.{own}"),
            &format!("must be specified when patchType is {patch_type}"),
        )),
        Some(body) => errs.extend(expression(
            &format!("{at}.{own}.expression"),
            body["expression"].as_str().unwrap_or(""),
            true,
        )),
    }
    if m.get(other).is_some_and(|v| !v.is_null()) {
        errs.push(FieldError::invalid(
            &format!("{at}.{other}"),
            format!("{{{other}}}").as_str(),
            &format!("must not be specified when patchType is {patch_type}"),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mutations: Value) -> Value {
        json!({"spec": {"failurePolicy": "Fail", "reinvocationPolicy": "Never",
            "matchConstraints": {"matchPolicy": "Equivalent", "namespaceSelector": {},
                "objectSelector": {}, "resourceRules": [{"apiGroups": ["apps"],
                "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}]},
            "mutations": mutations}})
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_complete_policy_is_valid() {
        let p = policy(
            json!([{"patchType": "ApplyConfiguration", "applyConfiguration":
            {"expression": "Object{spec: Object.spec{replicas: 3}}"}}]),
        );
        assert!(MUTATING_POLICY.validate(&p, None).is_empty());
    }

    #[test]
    fn what_upstream_refuses() {
        let mut p = policy(json!([{"patchType": "JSONPatch",
            "applyConfiguration": {"expression": "Object{}"}}]));
        p["spec"]["reinvocationPolicy"] = json!("Always");
        p["spec"]["matchConstraints"]["resourceRules"][0]["operations"] = json!(["DELETE"]);
        assert_eq!(
            fields(&MUTATING_POLICY.validate(&p, None)),
            vec![
                "spec.matchConstraints.resourceRules.operations: Unsupported value: \"DELETE\": supported values: \"*\", \"CREATE\", \"UPDATE\"",
                "spec.mutations[0].jsonPatch: Required value: must be specified when patchType is JSONPatch",
                "spec.mutations[0].applyConfiguration: Invalid value: \"{applyConfiguration}\": must not be specified when patchType is JSONPatch",
                "spec.reinvocationPolicy: Unsupported value: \"Always\": supported values: \"IfNeeded\", \"Never\"",
            ]
        );
        let empty = json!({"spec": {}});
        let mut defaulted = empty.clone();
        MUTATING_POLICY.default(&mut defaulted);
        assert_eq!(
            fields(&MUTATING_POLICY.validate(&defaulted, None)),
            vec![
                "spec.matchConstraints: Required value",
                "spec.mutations: Required value: mutations must contain at least one item",
                "spec.reinvocationPolicy: Required value",
            ]
        );
    }

    #[test]
    fn bindings_name_a_policy() {
        let b = json!({"spec": {"paramRef": {"name": "p", "selector": {}}}});
        assert_eq!(
            fields(&MUTATING_POLICY_BINDING.validate(&b, None)),
            vec![
                "spec.policyName: Required value",
                "spec.paramRef.name: Forbidden: name and selector are mutually exclusive",
                "spec.paramRef.parameterNotFoundAction: Required value",
            ]
        );
    }
}
