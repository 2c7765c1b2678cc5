//! Upstream's naming controller: which of a CRD's requested names it may have, given the names
//! other CRDs of the same group (and the built-in kinds of that group) already hold.

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// The NamesAccepted condition: (status, reason, message).
pub type Condition = (&'static str, &'static str, String);

/// Names already held in one group.
#[derive(Default, Debug)]
pub struct UsedNames {
    /// Plurals, singulars and short names.
    pub resources: BTreeSet<String>,
    /// Kinds and list kinds.
    pub kinds: BTreeSet<String>,
}

impl UsedNames {
    /// Records the names a holder has.
    pub fn add(&mut self, names: &Value) {
        for field in ["plural", "singular"] {
            if let Some(n) = names.get(field).and_then(Value::as_str) {
                self.resources.insert(n.to_string());
            }
        }
        for n in names
            .get("shortNames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            self.resources.insert(n.to_string());
        }
        for field in ["kind", "listKind"] {
            if let Some(n) = names.get(field).and_then(Value::as_str) {
                self.kinds.insert(n.to_string());
            }
        }
    }
}

fn fresh(requested: &str, accepted: &str, used: &BTreeSet<String>) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("{requested:?} is already in use"))
    }
}

/// Upstream's `calculateNamesAndConditions`: the names to accept and the NamesAccepted
/// condition. A conflicting name keeps its previously accepted value.
pub fn accept(requested: &Value, accepted: &Value, used: &UsedNames) -> (Value, Condition) {
    let get = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    let mut names = accepted.clone();
    if !names.is_object() {
        names = json!({});
    }
    let mut condition: Option<Condition> = None;
    let mut conflict = |reason: &'static str, message: String| {
        condition = Some(("False", reason, message));
    };
    for (field, reason, pool) in [
        ("plural", "PluralConflict", &used.resources),
        ("singular", "SingularConflict", &used.resources),
    ] {
        match fresh(&get(requested, field), &get(accepted, field), pool) {
            Ok(()) => names[field] = requested.get(field).cloned().unwrap_or(json!("")),
            Err(e) => conflict(reason, e),
        }
    }
    let requested_short: Vec<&str> = requested
        .get("shortNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let accepted_short: Vec<&str> = accepted
        .get("shortNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if requested_short != accepted_short {
        let own = [get(accepted, "plural"), get(accepted, "singular")];
        let errors: Vec<String> = requested_short
            .iter()
            .filter(|s| !accepted_short.contains(s) && !own.iter().any(|o| o == *s))
            .filter_map(|s| fresh(s, "", &used.resources).err())
            .collect();
        if errors.is_empty() {
            match requested.get("shortNames") {
                Some(v) => names["shortNames"] = v.clone(),
                None => {
                    names.as_object_mut().map(|m| m.remove("shortNames"));
                }
            }
        } else {
            conflict("ShortNamesConflict", aggregate(&errors));
        }
    }
    for (field, reason) in [("kind", "KindConflict"), ("listKind", "ListKindConflict")] {
        match fresh(&get(requested, field), &get(accepted, field), &used.kinds) {
            Ok(()) => names[field] = requested.get(field).cloned().unwrap_or(json!("")),
            Err(e) => conflict(reason, e),
        }
    }
    match requested.get("categories") {
        Some(v) => names["categories"] = v.clone(),
        None => {
            names.as_object_mut().map(|m| m.remove("categories"));
        }
    }
    let condition = condition.unwrap_or(("True", "NoConflicts", "no conflicts found".to_string()));
    (names, condition)
}

/// Go's `utilerrors.NewAggregate(...).Error()`: one error alone, else `[a, b]`.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> Value {
        json!({"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wid"], "categories": ["toys"]})
    }

    #[test]
    fn fresh_names_are_accepted() {
        let (names, cond) = accept(
            &requested(),
            &json!({"plural": "", "kind": ""}),
            &UsedNames::default(),
        );
        assert_eq!(names, requested());
        assert_eq!(cond, ("True", "NoConflicts", "no conflicts found".into()));
    }

    #[test]
    fn conflicts_keep_old_names_with_upstream_reasons() {
        let mut used = UsedNames::default();
        used.add(&json!({"plural": "widgets", "kind": "Gadget"}));
        let (names, cond) = accept(&requested(), &json!({"plural": "", "kind": ""}), &used);
        assert_eq!(names["plural"], "");
        assert_eq!(names["kind"], "Widget");
        assert_eq!(cond.0, "False");
        assert_eq!(cond.1, "PluralConflict");
        assert_eq!(cond.2, "\"widgets\" is already in use");
        let mut used = UsedNames::default();
        used.add(&json!({"plural": "gadgets", "shortNames": ["wid"], "kind": "Gadget"}));
        let (_, cond) = accept(&requested(), &json!({}), &used);
        assert_eq!(cond.1, "ShortNamesConflict");
    }
}
