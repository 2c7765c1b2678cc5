//! The five deletion conditions the namespace controller keeps on a Terminating namespace
//! (upstream `status_condition_utils.go`): each is either its failure form or its "ok" form,
//! so a client can tell what holds the namespace up; lastTransitionTime moves only when a
//! condition's status flips.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NamespaceCondition;

use crate::util::now;

/// What one pass over the namespace's content found.
#[derive(Debug, Default)]
pub struct Pass {
    /// Discovery failed (the message), so some resources may have been missed.
    pub discovery_error: Option<String>,
    /// Errors deleting or listing content, one per resource.
    pub delete_errors: Vec<String>,
    /// `resource.group` → objects still present.
    pub remaining: BTreeMap<String, usize>,
    /// Finalizer → objects still carrying it.
    pub finalizers: BTreeMap<String, usize>,
}

impl Pass {
    /// Whether the namespace holds nothing more and can be finalized.
    pub fn is_done(&self) -> bool {
        self.discovery_error.is_none()
            && self.delete_errors.is_empty()
            && self.remaining.values().all(|n| *n == 0)
    }
}

/// (type, ok reason, ok message), in upstream's order.
const KINDS: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// The failure form of `type_` for this pass, if it failed that way: (reason, message).
fn failure(type_: &str, pass: &Pass) -> Option<(&'static str, String)> {
    match type_ {
        "NamespaceDeletionDiscoveryFailure" => pass
            .discovery_error
            .as_ref()
            .map(|e| ("DiscoveryFailed", e.clone())),
        "NamespaceDeletionContentFailure" if !pass.delete_errors.is_empty() => {
            let mut msgs = pass.delete_errors.clone();
            msgs.sort();
            Some((
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    msgs.len(),
                    msgs.join(", ")
                ),
            ))
        }
        "NamespaceContentRemaining" => {
            let left: Vec<String> = pass
                .remaining
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(gr, n)| format!("{gr} has {n} resource instances"))
                .collect();
            (!left.is_empty()).then(|| {
                (
                    "SomeResourcesRemain",
                    format!("Some resources are remaining: {}", left.join(", ")),
                )
            })
        }
        "NamespaceFinalizersRemaining" => {
            let left: Vec<String> = pass
                .finalizers
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(f, n)| format!("{f} in {n} resource instances"))
                .collect();
            (!left.is_empty()).then(|| {
                (
                    "SomeFinalizersRemain",
                    format!(
                        "Some content in the namespace has finalizers remaining: {}",
                        left.join(", ")
                    ),
                )
            })
        }
        _ => None,
    }
}

/// The namespace's conditions after `pass`, or None when nothing changed.
pub fn updated(old: &[NamespaceCondition], pass: &Pass) -> Option<Vec<NamespaceCondition>> {
    let mut conditions = old.to_vec();
    let mut changed = false;
    for (type_, ok_reason, ok_message) in KINDS {
        let (status, reason, message) = match failure(type_, pass) {
            Some((reason, message)) => ("True", reason.to_string(), message),
            None => ("False", ok_reason.to_string(), ok_message.to_string()),
        };
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: type_.into(),
                    status: status.into(),
                    reason: Some(reason),
                    message: Some(message),
                    last_transition_time: Some(now()),
                });
                changed = true;
            }
            Some(c) => {
                let same = c.status == status
                    && c.reason.as_deref() == Some(reason.as_str())
                    && c.message.as_deref() == Some(message.as_str());
                if !same {
                    if c.status != status {
                        c.last_transition_time = Some(now());
                    }
                    c.status = status.into();
                    c.reason = Some(reason);
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed.then_some(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(c: &'a [NamespaceCondition], t: &str) -> &'a NamespaceCondition {
        c.iter().find(|c| c.type_ == t).expect(t)
    }

    #[test]
    fn remaining_pods_with_finalizers_are_reported_in_upstream_words() {
        let pass = Pass {
            remaining: BTreeMap::from([("pods.".to_string(), 1)]),
            finalizers: BTreeMap::from([("e2e.example.com/finalizer".to_string(), 1)]),
            ..Pass::default()
        };
        assert!(!pass.is_done());
        let c = updated(&[], &pass).expect("new conditions");
        assert_eq!(c.len(), 5);
        let content = find(&c, "NamespaceDeletionContentFailure");
        assert_eq!(
            (content.status.as_str(), content.reason.as_deref()),
            ("False", Some("ContentDeleted"))
        );
        let remaining = find(&c, "NamespaceContentRemaining");
        assert_eq!(remaining.status, "True");
        assert_eq!(
            remaining.message.as_deref(),
            Some("Some resources are remaining: pods. has 1 resource instances")
        );
        assert_eq!(
            find(&c, "NamespaceFinalizersRemaining").message.as_deref(),
            Some("Some content in the namespace has finalizers remaining: e2e.example.com/finalizer in 1 resource instances")
        );
        assert!(
            updated(&c, &pass).is_none(),
            "an unchanged pass writes nothing"
        );
    }

    #[test]
    fn delete_errors_and_a_clean_pass() {
        let failing = Pass {
            delete_errors: vec!["b failed".into(), "a failed".into()],
            ..Pass::default()
        };
        let c = updated(&[], &failing).expect("conditions");
        assert_eq!(
            find(&c, "NamespaceDeletionContentFailure")
                .message
                .as_deref(),
            Some("Failed to delete all resource types, 2 remaining: a failed, b failed")
        );
        let clean = Pass::default();
        assert!(clean.is_done());
        let after = updated(&c, &clean).expect("flipped back");
        assert_eq!(
            find(&after, "NamespaceDeletionContentFailure").status,
            "False"
        );
    }
}
