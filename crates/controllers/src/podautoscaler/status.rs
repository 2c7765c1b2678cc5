//! The HPA's status: conditions kept as upstream's `setCondition` does (the transition time
//! moves only when the status flips) and the status write skipped when nothing changed.

use serde_json::{json, Value};

/// `AbleToScale`.
pub const ABLE_TO_SCALE: &str = "AbleToScale";
/// `ScalingActive`.
pub const SCALING_ACTIVE: &str = "ScalingActive";
/// `ScalingLimited`.
pub const SCALING_LIMITED: &str = "ScalingLimited";

/// Sets condition `type_` in `conditions` (a JSON array), keeping its transition time when
/// the status is unchanged.
pub fn set_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
) {
    let status = if status { "True" } else { "False" };
    let existing = conditions.iter_mut().find(|c| c["type"] == type_);
    match existing {
        Some(c) => {
            if c["status"] != status {
                c["lastTransitionTime"] = json!(now);
            }
            c["status"] = json!(status);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        None => conditions.push(json!({"type": type_, "status": status,
            "lastTransitionTime": now, "reason": reason, "message": message})),
    }
}

/// The status with the transition times masked, for "did anything change".
pub fn comparable(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(conds) = s.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            c.as_object_mut().map(|m| m.remove("lastTransitionTime"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_flips() {
        let mut conds = Vec::new();
        set_condition(
            &mut conds,
            ABLE_TO_SCALE,
            true,
            "SucceededGetScale",
            "m",
            "t1",
        );
        set_condition(
            &mut conds,
            ABLE_TO_SCALE,
            true,
            "ReadyForNewScale",
            "m2",
            "t2",
        );
        assert_eq!(conds[0]["lastTransitionTime"], "t1");
        assert_eq!(conds[0]["reason"], "ReadyForNewScale");
        set_condition(
            &mut conds,
            ABLE_TO_SCALE,
            false,
            "FailedGetScale",
            "m3",
            "t3",
        );
        assert_eq!(conds[0]["lastTransitionTime"], "t3");
        assert_eq!(conds.len(), 1);
    }
}
