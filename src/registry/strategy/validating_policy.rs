//! ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1): upstream's
//! defaults (`failurePolicy: Fail`, the match resources' `Equivalent` policy and empty
//! selectors) and `validateValidatingAdmissionPolicySpec` / `…BindingSpec`: validations and
//! audit annotations whose CEL compiles, audit annotation keys that make qualified names under
//! the policy's, and binding actions that are known, unique and not both Deny and Warn. A policy
//! that could never be evaluated is refused on write rather than failing every request.

use ferrokube_apimachinery::validation::{is_qualified_name, FieldError};
use serde_json::{json, Value};

use super::match_resources::validate_match_resources;
use super::mutating_policy::{
    default_match_resources, expression, named_expressions, one_of, validate_binding_spec,
};
use super::{set_default, Strategy};

/// ValidatingAdmissionPolicy.
pub struct ValidatingPolicyStrategy;
/// ValidatingAdmissionPolicyBinding.
pub struct ValidatingPolicyBindingStrategy;
pub static VALIDATING_POLICY: ValidatingPolicyStrategy = ValidatingPolicyStrategy;
pub static VALIDATING_POLICY_BINDING: ValidatingPolicyBindingStrategy =
    ValidatingPolicyBindingStrategy;

const REASONS: &[&str] = &[
    "Forbidden",
    "Invalid",
    "RequestEntityTooLarge",
    "Unauthorized",
];
const ACTIONS: &[&str] = &["Audit", "Deny", "Warn"];
const AT_LEAST_ONE: &str = "validations or auditAnnotations must contain at least one item";

impl Strategy for ValidatingPolicyStrategy {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, &["spec", "failurePolicy"], json!("Fail"));
        default_match_resources(obj, &["spec", "matchConstraints"]);
    }

    fn validate(&self, new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        let name = new["metadata"]["name"].as_str().unwrap_or("");
        validate_policy_spec(name, &new["spec"])
    }
}

impl Strategy for ValidatingPolicyBindingStrategy {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        default_match_resources(obj, &["spec", "matchResources"]);
    }

    fn validate(&self, new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        let spec = &new["spec"];
        let mut errs = validate_binding_spec(spec);
        errs.extend(validation_actions(&spec["validationActions"]));
        errs
    }
}

fn validate_policy_spec(name: &str, spec: &Value) -> Vec<FieldError> {
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
    } else if (constraints["resourceRules"].as_array()).is_none_or(|r| r.is_empty()) {
        // Upstream needs at least one rule: it is where type checking learns the kinds.
        errs.push(FieldError::required(
            "spec.matchConstraints.resourceRules",
            "",
        ));
    } else {
        errs.extend(validate_match_resources(
            constraints,
            "spec.matchConstraints",
        ));
    }
    named_expressions(&mut errs, &spec["matchConditions"], "spec.matchConditions");
    named_expressions(&mut errs, &spec["variables"], "spec.variables");
    let validations = list(&spec["validations"]);
    let annotations = list(&spec["auditAnnotations"]);
    if validations.is_empty() && annotations.is_empty() {
        errs.push(FieldError::required("spec.validations", AT_LEAST_ONE));
        errs.push(FieldError::required("spec.auditAnnotations", AT_LEAST_ONE));
        return errs;
    }
    for (i, v) in validations.iter().enumerate() {
        errs.extend(validation(v, &format!("spec.validations[{i}]")));
    }
    let mut keys = std::collections::BTreeSet::new();
    for (i, a) in annotations.iter().enumerate() {
        let at = format!("spec.auditAnnotations[{i}]");
        errs.extend(audit_annotation(name, a, &at));
        let key = a["key"].as_str().unwrap_or("");
        if !keys.insert(key) {
            errs.push(FieldError::duplicate(&format!("{at}.key"), key));
        }
    }
    errs
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// `validateValidation`: an expression that compiles, an optional message expression that
/// compiles, a one-line message, a known reason.
fn validation(v: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let source = v["expression"].as_str().unwrap_or("");
    match source.trim() {
        "" => errs.push(FieldError::required(
            &format!("{at}.expression"),
            "expression is not specified",
        )),
        _ => errs.extend(expression(&format!("{at}.expression"), source, false)),
    }
    if let Some(m) = v["messageExpression"].as_str().filter(|m| !m.is_empty()) {
        let field = format!("{at}.messageExpression");
        match m.trim() {
            "" => errs.push(FieldError::invalid(
                &field,
                m,
                "must be non-empty if specified",
            )),
            _ => errs.extend(expression(&field, m, false)),
        }
    }
    if let Some(m) = v["message"].as_str().filter(|m| !m.is_empty()) {
        let field = format!("{at}.message");
        if m.trim().is_empty() {
            errs.push(FieldError::invalid(
                &field,
                m,
                "message must be non-empty if specified",
            ));
        } else if m.trim().contains(['\n', '\r']) {
            errs.push(FieldError::invalid(
                &field,
                m,
                "message must not contain line breaks",
            ));
        }
    }
    if let Some(reason) = v["reason"].as_str() {
        if !REASONS.contains(&reason) {
            errs.push(FieldError::not_supported(
                &format!("{at}.reason"),
                reason,
                REASONS,
            ));
        }
    }
    errs
}

/// `validateAuditAnnotation`: `<policy name>/<key>` must be a qualified name (so the key is
/// at most 63 characters of the name alphabet) and the value expression must compile.
fn audit_annotation(policy: &str, a: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let key = a["key"].as_str().unwrap_or("");
    let field = format!("{at}.key");
    if policy.is_empty() {
        errs.push(FieldError::invalid(
            &field,
            key,
            "requires metadata.name be non-empty",
        ));
    } else {
        let qualified = format!("{policy}/{key}");
        for msg in is_qualified_name(&qualified) {
            errs.push(FieldError::invalid(&field, qualified.as_str(), &msg));
        }
    }
    let source = a["valueExpression"].as_str().unwrap_or("");
    let field = format!("{at}.valueExpression");
    match source.trim() {
        "" => errs.push(FieldError::required(
            &field,
            "valueExpression is not specified",
        )),
        _ => errs.extend(expression(&field, source, false)),
    }
    errs
}

/// `validateValidationActions`: at least one, each known and listed once, never both Deny
/// and Warn.
fn validation_actions(actions: &Value) -> Vec<FieldError> {
    let listed: Vec<&str> = (actions.as_array().into_iter().flatten())
        .map(|a| a.as_str().unwrap_or(""))
        .collect();
    let mut errs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, action) in listed.iter().enumerate() {
        let at = format!("spec.validationActions[{i}]");
        if !ACTIONS.contains(action) {
            errs.push(FieldError::not_supported(&at, *action, ACTIONS));
        }
        if !seen.insert(*action) {
            errs.push(FieldError::duplicate(&at, *action));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        // Upstream prints the list with Go's `%#v` of its internal type.
        let quoted: Vec<String> = listed.iter().map(|a| format!("{a:?}")).collect();
        let value = format!(
            "[]admissionregistration.ValidationAction{{{}}}",
            quoted.join(", ")
        );
        errs.push(FieldError::invalid(
            "spec.validationActions",
            ferrokube_apimachinery::validation::BadValue::Raw(value),
            "must not contain both Deny and Warn (repeating the same validation failure \
             information in the API response and headers serves no purpose)",
        ));
    }
    if seen.is_empty() {
        errs.push(FieldError::required(
            "spec.validationActions",
            "at least one validation action is required",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: Value) -> Value {
        let mut p = json!({"metadata": {"name": "p.example.com"}, "spec": {
            "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"],
                "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}]}}});
        for (k, v) in extra.as_object().unwrap() {
            p["spec"][k] = v.clone();
        }
        VALIDATING_POLICY.default(&mut p);
        p
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_policy_with_only_audit_annotations_is_valid() {
        let p = policy(json!({"auditAnnotations": [
            {"key": "high-replicas", "valueExpression": "'replicas: ' + string(object.spec.replicas)"}]}));
        assert_eq!(p["spec"]["failurePolicy"], "Fail");
        assert!(VALIDATING_POLICY.validate(&p, None).is_empty());
    }

    #[test]
    fn what_upstream_refuses_in_a_policy() {
        let empty = policy(json!({}));
        assert_eq!(
            fields(&VALIDATING_POLICY.validate(&empty, None)),
            vec![
                format!("spec.validations: Required value: {AT_LEAST_ONE}"),
                format!("spec.auditAnnotations: Required value: {AT_LEAST_ONE}"),
            ]
        );
        let long = "k".repeat(64);
        let p = policy(json!({
            "validations": [{"expression": "object.spec.replicas <", "reason": "Teapot"}],
            "auditAnnotations": [{"key": long, "valueExpression": "'x'"},
                {"key": "a", "valueExpression": ""}, {"key": "a", "valueExpression": "'y'"}]}));
        let got = fields(&VALIDATING_POLICY.validate(&p, None));
        assert_eq!(got.len(), 5, "{got:#?}");
        assert!(got[0].starts_with("spec.validations[0].expression: Invalid value: \"object.spec.replicas <\": compilation failed: "));
        assert_eq!(got[1], "spec.validations[0].reason: Unsupported value: \"Teapot\": supported values: \"Forbidden\", \"Invalid\", \"RequestEntityTooLarge\", \"Unauthorized\"");
        assert!(got[2].starts_with(&format!("spec.auditAnnotations[0].key: Invalid value: \"p.example.com/{long}\": name part must be no more than 63 ")), "{}", got[2]);
        assert_eq!(got[3], "spec.auditAnnotations[1].valueExpression: Required value: valueExpression is not specified");
        assert_eq!(
            got[4],
            "spec.auditAnnotations[2].key: Duplicate value: \"a\""
        );
    }

    #[test]
    fn binding_actions_are_known_unique_and_not_deny_with_warn() {
        let b = |actions: Value| json!({"spec": {"policyName": "p", "validationActions": actions}});
        assert!(VALIDATING_POLICY_BINDING
            .validate(&b(json!(["Deny", "Audit"])), None)
            .is_empty());
        assert_eq!(
            fields(&VALIDATING_POLICY_BINDING.validate(&b(json!(["Deny", "Warn", "Deny", "Log"])), None)),
            vec![
                "spec.validationActions[2]: Duplicate value: \"Deny\"",
                "spec.validationActions[3]: Unsupported value: \"Log\": supported values: \"Audit\", \"Deny\", \"Warn\"",
                "spec.validationActions: Invalid value: []admissionregistration.ValidationAction{\"Deny\", \"Warn\", \"Deny\", \"Log\"}: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
            ]
        );
        assert_eq!(
            fields(&VALIDATING_POLICY_BINDING.validate(&b(json!([])), None)),
            vec!["spec.validationActions: Required value: at least one validation action is required"]
        );
    }
}
