//! Stabilization and rate limits (upstream `horizontal.go`: `stabilizeRecommendation*`,
//! `convertDesiredReplicasWith*`, `calculateScale*Limit*`, `storeScaleEvent`). Pure: each HPA
//! keeps a [`History`] and every decision takes `now` (Unix seconds).

use serde_json::Value;

/// `--horizontal-pod-autoscaler-downscale-stabilization` (5 min).
pub const DOWNSCALE_STABILIZATION: i64 = 300;

/// One `HPAScalingPolicy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// `Pods` (true) or `Percent`.
    pub pods: bool,
    /// Pods or percent allowed per period.
    pub value: i64,
    /// The period, seconds.
    pub period: i64,
}

/// One direction's `HPAScalingRules`, defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// Stabilization window, seconds.
    pub window: i64,
    /// `Max`, `Min` or `Disabled`.
    pub select: String,
    /// The policies.
    pub policies: Vec<Policy>,
}

impl Rules {
    /// Reads a (server-defaulted) rules object; a missing window takes `default_window`.
    pub fn from_json(v: &Value, default_window: i64) -> Rules {
        let policies = v["policies"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| Policy {
                        pods: p["type"] == "Pods",
                        value: p["value"].as_i64().unwrap_or(0),
                        period: p["periodSeconds"].as_i64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Rules {
            window: v["stabilizationWindowSeconds"]
                .as_i64()
                .unwrap_or(default_window),
            select: v["selectPolicy"].as_str().unwrap_or("Max").to_string(),
            policies,
        }
    }
}

/// A past rescale, for the rate policies.
#[derive(Clone, Copy, Debug)]
struct ScaleEvent {
    change: i64,
    at: i64,
}

/// What the controller remembers per HPA between syncs.
#[derive(Clone, Debug, Default)]
pub struct History {
    recommendations: Vec<(i32, i64)>,
    ups: Vec<ScaleEvent>,
    downs: Vec<ScaleEvent>,
}

/// A decision with the condition reason and message explaining it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// The replica count.
    pub replicas: i32,
    /// Condition reason.
    pub reason: &'static str,
    /// Condition message.
    pub message: &'static str,
}

const WITHIN_RANGE: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);
/// AbleToScale reason when stabilization changed nothing.
pub const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);

fn decision(replicas: i32, (reason, message): (&'static str, &'static str)) -> Decision {
    Decision {
        replicas,
        reason,
        message,
    }
}

impl History {
    /// `recordInitialRecommendation`: the first sync remembers the current size, so a
    /// restarted controller does not scale down at once.
    pub fn record_initial(&mut self, current: i32, now: i64) {
        if self.recommendations.is_empty() {
            self.recommendations.push((current, now));
        }
    }

    /// `stabilizeRecommendation` (no behavior): the highest recommendation of the last 5 min.
    pub fn stabilize(&mut self, desired: i32, now: i64) -> Decision {
        let cutoff = now - DOWNSCALE_STABILIZATION;
        self.recommendations.retain(|(_, at)| *at >= cutoff);
        let max = self
            .recommendations
            .iter()
            .map(|(r, _)| *r)
            .fold(desired, i32::max);
        self.recommendations.push((desired, now));
        if max != desired {
            decision(max, DOWN_STABILIZED)
        } else {
            decision(max, READY)
        }
    }

    /// `stabilizeRecommendationWithBehaviors`: within the scale-up window take the lowest
    /// recommendation, within the scale-down window the highest, then clamp current between.
    pub fn stabilize_with(
        &mut self,
        current: i32,
        desired: i32,
        up: &Rules,
        down: &Rules,
        now: i64,
    ) -> Decision {
        let (up_cut, down_cut) = (now - up.window, now - down.window);
        let mut up_rec = desired;
        let mut down_rec = desired;
        for (rec, at) in &self.recommendations {
            if *at > up_cut {
                up_rec = up_rec.min(*rec);
            }
            if *at > down_cut {
                down_rec = down_rec.max(*rec);
            }
        }
        let stabilized = current.max(up_rec).min(down_rec);
        self.recommendations
            .retain(|(_, at)| *at > up_cut || *at > down_cut);
        self.recommendations.push((desired, now));
        let why = match (stabilized == desired, desired >= current) {
            (true, _) => READY,
            (false, true) => UP_STABILIZED,
            (false, false) => DOWN_STABILIZED,
        };
        decision(stabilized, why)
    }

    /// Net change over the last `period` seconds in one direction.
    fn changed_within(events: &[ScaleEvent], period: i64, now: i64) -> i64 {
        events
            .iter()
            .filter(|e| e.at > now - period)
            .map(|e| e.change)
            .sum()
    }

    /// The replica count each policy allows, reduced by `select` (`calculateScaleUpLimit
    /// WithScalingRules` / `calculateScaleDownLimitWithBehaviors`).
    fn rate_limit(&self, current: i32, rules: &Rules, up: bool, now: i64) -> i64 {
        let current = i64::from(current);
        if rules.select == "Disabled" {
            return current;
        }
        // Max picks the largest change: the highest limit up, the lowest down.
        let pick_high = (rules.select == "Max") == up;
        let proposals = rules.policies.iter().map(|p| {
            let start = current - Self::changed_within(&self.ups, p.period, now)
                + Self::changed_within(&self.downs, p.period, now);
            match (p.pods, up) {
                (true, true) => start + p.value,
                (true, false) => start - p.value,
                (false, true) => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64,
                (false, false) => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64,
            }
        });
        if pick_high {
            proposals.max().unwrap_or(current)
        } else {
            proposals.min().unwrap_or(current)
        }
    }

    /// `convertDesiredReplicasWithBehaviorRate`: min/max and the policies' rate limits.
    #[allow(clippy::too_many_arguments)]
    pub fn limit_with(
        &self,
        current: i32,
        desired: i32,
        min: i32,
        max: i32,
        up: &Rules,
        down: &Rules,
        now: i64,
    ) -> Decision {
        if desired > current {
            let limit = self
                .rate_limit(current, up, true, now)
                .max(i64::from(current));
            let (allowed, why) = if i64::from(max) > limit {
                (limit as i32, UP_LIMIT)
            } else {
                (max, TOO_MANY)
            };
            if desired > allowed {
                return decision(allowed, why);
            }
        } else if desired < current {
            let limit = self
                .rate_limit(current, down, false, now)
                .min(i64::from(current));
            let (allowed, why) = if i64::from(min) < limit {
                (limit as i32, DOWN_LIMIT)
            } else {
                (min, TOO_FEW)
            };
            if desired < allowed {
                return decision(allowed, why);
            }
        }
        decision(desired, WITHIN_RANGE)
    }

    /// `storeScaleEvent`: remembers a rescale, forgetting those older than the direction's
    /// longest policy period.
    pub fn record_scale(&mut self, up: &Rules, down: &Rules, from: i32, to: i32, now: i64) {
        let (events, rules, change) = if to > from {
            (&mut self.ups, up, to - from)
        } else {
            (&mut self.downs, down, from - to)
        };
        let longest = rules.policies.iter().map(|p| p.period).max().unwrap_or(0);
        events.retain(|e| e.at > now - longest);
        events.push(ScaleEvent {
            change: i64::from(change),
            at: now,
        });
    }
}

/// `convertDesiredReplicasWithRules` (no behavior): min/max, and at most double (or 4) up.
pub fn limit_without_behavior(current: i32, desired: i32, min: i32, max: i32) -> Decision {
    let scale_up_limit = (2 * current).max(4);
    let (allowed_max, why) = if max > scale_up_limit {
        (scale_up_limit, UP_LIMIT)
    } else {
        (max, TOO_MANY)
    };
    if desired < min {
        decision(min, TOO_FEW)
    } else if desired > allowed_max {
        decision(allowed_max, why)
    } else {
        decision(desired, WITHIN_RANGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn up_default() -> Rules {
        Rules::from_json(
            &json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]}),
            0,
        )
    }

    fn down(window: i64, policies: Value) -> Rules {
        Rules::from_json(
            &json!({"selectPolicy": "Max", "policies": policies}),
            window,
        )
    }

    #[test]
    fn without_behavior_clamps_and_limits_doubling() {
        assert_eq!(limit_without_behavior(3, 1, 2, 10), decision(2, TOO_FEW));
        assert_eq!(limit_without_behavior(3, 20, 1, 10), decision(6, UP_LIMIT));
        assert_eq!(limit_without_behavior(3, 20, 1, 5), decision(5, TOO_MANY));
        assert_eq!(
            limit_without_behavior(1, 4, 1, 10),
            decision(4, WITHIN_RANGE)
        );
    }

    #[test]
    fn scale_down_is_stabilized_for_five_minutes() {
        let mut h = History::default();
        h.record_initial(5, 0);
        assert_eq!(h.stabilize(2, 10).replicas, 5);
        assert_eq!(h.stabilize(2, 200).reason, "ScaleDownStabilized");
        assert_eq!(h.stabilize(2, 400), decision(2, READY));
    }

    // horizontal_test.go TestScaleUpOneMetricLimitedByPods-like: Pods 4 vs Percent 100%.
    #[test]
    fn scale_up_policies_pick_the_largest_change() {
        let h = History::default();
        let d = down(
            300,
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
        assert_eq!(
            h.limit_with(1, 10, 1, 20, &up_default(), &d, 0),
            decision(5, UP_LIMIT)
        );
        assert_eq!(
            h.limit_with(10, 30, 1, 50, &up_default(), &d, 0),
            decision(20, UP_LIMIT)
        );
        assert_eq!(
            h.limit_with(10, 30, 1, 15, &up_default(), &d, 0),
            decision(15, TOO_MANY)
        );
    }

    #[test]
    fn recent_scale_events_use_up_the_period_budget() {
        let mut h = History::default();
        let d = down(
            0,
            json!([{"type": "Pods", "value": 2, "periodSeconds": 60}]),
        );
        h.record_scale(&up_default(), &d, 10, 8, 0);
        // 2 pods already removed within the minute: no further scale-down allowed.
        assert_eq!(
            h.limit_with(8, 3, 1, 20, &up_default(), &d, 30),
            decision(8, DOWN_LIMIT)
        );
        // After the period the budget is back.
        assert_eq!(
            h.limit_with(8, 3, 1, 20, &up_default(), &d, 61),
            decision(6, DOWN_LIMIT)
        );
    }

    #[test]
    fn min_select_policy_and_disabled() {
        let h = History::default();
        let rules = Rules::from_json(
            &json!({"selectPolicy": "Min", "policies": [
            {"type": "Pods", "value": 1, "periodSeconds": 60},
            {"type": "Percent", "value": 50, "periodSeconds": 60}]}),
            0,
        );
        assert_eq!(
            h.limit_with(10, 2, 1, 20, &up_default(), &rules, 0)
                .replicas,
            9
        );
        let off = Rules {
            select: "Disabled".into(),
            ..rules
        };
        assert_eq!(
            h.limit_with(10, 2, 1, 20, &up_default(), &off, 0).replicas,
            10
        );
    }

    #[test]
    fn behavior_windows_stabilize_both_ways() {
        let mut h = History::default();
        let up = Rules {
            window: 60,
            ..up_default()
        };
        let d = down(
            120,
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
        h.stabilize_with(4, 4, &up, &d, 0);
        assert_eq!(
            h.stabilize_with(4, 8, &up, &d, 10),
            decision(4, UP_STABILIZED)
        );
        assert_eq!(
            h.stabilize_with(4, 2, &up, &d, 20),
            decision(4, DOWN_STABILIZED)
        );
        // A minute later the low recommendations have left the scale-up window.
        assert_eq!(h.stabilize_with(4, 8, &up, &d, 100), decision(8, READY));
    }
}
