//! What admission policies add to the request's audit event (upstream's
//! `auditAnnotationCollector`): the failures of bindings with the `Audit` action, as one JSON
//! array under `validation.policy.admission.k8s.io/validation_failure`, and each policy's
//! `auditAnnotations` under `<policy>/<key>`, the distinct values several bindings gave one key
//! joined by ", ".

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Where the `Audit` action's failures go.
pub const VALIDATION_FAILURE: &str = "validation.policy.admission.k8s.io/validation_failure";

/// One failed validation as upstream's annotation lists it (fields in upstream's order).
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ValidationFailure {
    pub message: String,
    pub policy: String,
    pub binding: String,
    pub expression_index: usize,
    pub validation_actions: Vec<String>,
}

/// The annotations one request's policies collected.
#[derive(Default)]
pub struct PolicyAudit {
    failures: Vec<ValidationFailure>,
    annotations: BTreeMap<String, BTreeSet<String>>,
}

impl PolicyAudit {
    /// A failure of a binding whose actions include `Audit`.
    pub fn failed(&mut self, failure: ValidationFailure) {
        self.failures.push(failure);
    }

    /// `policy`'s audit annotation `key` evaluated to `value`.
    pub fn annotate(&mut self, policy: &str, key: &str, value: String) {
        let entry = self.annotations.entry(format!("{policy}/{key}"));
        entry.or_default().insert(value);
    }

    /// The annotations to add: (key, value).
    pub fn annotations(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = (self.annotations.iter())
            .map(|(k, values)| {
                (
                    k.clone(),
                    values.iter().cloned().collect::<Vec<_>>().join(", "),
                )
            })
            .collect();
        if !self.failures.is_empty() {
            let list = serde_json::to_string(&self.failures).unwrap_or_default();
            out.push((VALIDATION_FAILURE.to_owned(), list));
        }
        out
    }

    /// Adds the annotations to the request's audit event.
    pub fn publish(&self) {
        for (key, value) in self.annotations() {
            crate::audit::annotate(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_one_json_array_and_values_are_joined() {
        let mut audit = PolicyAudit::default();
        assert!(audit.annotations().is_empty());
        audit.annotate("p", "owner", "b".into());
        audit.annotate("p", "owner", "a".into());
        audit.annotate("p", "owner", "a".into());
        audit.failed(ValidationFailure {
            message: "too many replicas".into(),
            policy: "p".into(),
            binding: "pb".into(),
            expression_index: 1,
            validation_actions: vec!["Audit".into()],
        });
        let got: BTreeMap<_, _> = audit.annotations().into_iter().collect();
        assert_eq!(got["p/owner"], "a, b");
        assert_eq!(
            got[VALIDATION_FAILURE],
            r#"[{"message":"too many replicas","policy":"p","binding":"pb","expressionIndex":1,"validationActions":["Audit"]}]"#
        );
    }
}
