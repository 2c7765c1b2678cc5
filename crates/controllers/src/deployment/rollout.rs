//! Rollout arithmetic of the Deployment controller, as pure functions over replica counts
//! (upstream `rolling.go`, `deploymentutil.ResolveFenceposts`, `NewRSNewReplicas`).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::{Error, Result};

/// A ReplicaSet as the rollout math sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsCounts {
    /// RS name.
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

/// Resolves an int-or-percent against `total`, rounding up or down.
pub fn scaled_value(
    v: Option<&IntOrString>,
    total: i32,
    round_up: bool,
    default: &str,
) -> Result<i32> {
    let v = v
        .cloned()
        .unwrap_or_else(|| IntOrString::String(default.to_owned()));
    match v {
        IntOrString::Int(i) => Ok(i),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| Error::Invalid(format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}")))?;
            let prod = pct * i64::from(total);
            let r = if round_up {
                (prod + 99).div_euclid(100)
            } else {
                prod.div_euclid(100)
            };
            Ok(r as i32)
        }
    }
}

/// Upstream `ResolveFenceposts`: (maxSurge, maxUnavailable), never both zero.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32)> {
    let surge = scaled_value(max_surge, desired, true, "25%")?;
    let mut unavailable = scaled_value(max_unavailable, desired, false, "25%")?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

/// Replicas the new RS should have in this step of a rolling update.
pub fn new_rs_replicas(desired: i32, max_surge: i32, new_rs: i32, all_rs_total: i32) -> i32 {
    if new_rs >= desired {
        return desired;
    }
    let max_total = desired + max_surge;
    if all_rs_total >= max_total {
        return new_rs;
    }
    let up = (max_total - all_rs_total).min(desired - new_rs);
    new_rs + up
}

/// Plans old-RS scale-downs for a rolling update: returns (name, new replicas) pairs.
/// `olds` must be sorted oldest first. Mirrors `reconcileOldReplicaSets`: first remove
/// unhealthy replicas, then available ones while `minAvailable` holds.
pub fn scale_down_olds(
    desired: i32,
    max_unavailable: i32,
    new_rs: &RsCounts,
    olds: &[RsCounts],
) -> Vec<(String, i32)> {
    let old_total: i32 = olds.iter().map(|r| r.replicas).sum();
    if old_total == 0 {
        return Vec::new();
    }
    let all_total = old_total + new_rs.replicas;
    let min_available = desired - max_unavailable;
    let new_unavailable = (new_rs.replicas - new_rs.available).max(0);
    let max_scaled_down = all_total - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let mut plan: Vec<RsCounts> = olds.to_vec();
    // Step 1: unhealthy replicas go first, they add nothing to availability.
    let mut budget = max_scaled_down;
    for rs in plan.iter_mut() {
        if budget <= 0 {
            break;
        }
        let unhealthy = (rs.replicas - rs.available).max(0);
        let cut = unhealthy.min(budget);
        rs.replicas -= cut;
        budget -= cut;
    }
    // Step 2: available replicas, keeping minAvailable.
    let available: i32 = plan
        .iter()
        .map(|r| r.available.min(r.replicas))
        .sum::<i32>()
        + new_rs.available;
    let mut left = (available - min_available).min(budget);
    for rs in plan.iter_mut() {
        if left <= 0 {
            break;
        }
        let cut = rs.replicas.min(left);
        rs.replicas -= cut;
        left -= cut;
    }
    plan.iter()
        .zip(olds)
        .filter(|(p, o)| p.replicas != o.replicas)
        .map(|(p, _)| (p.name.clone(), p.replicas))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.to_owned())
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        assert_eq!(resolve_fenceposts(None, None, 10).unwrap(), (3, 2));
        assert_eq!(resolve_fenceposts(None, None, 1).unwrap(), (1, 0));
        assert_eq!(
            resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&s("0%")), 3).unwrap(),
            (0, 1)
        );
        assert_eq!(
            resolve_fenceposts(Some(&s("50%")), Some(&IntOrString::Int(2)), 5).unwrap(),
            (3, 2)
        );
        assert!(resolve_fenceposts(Some(&s("abc")), None, 5).is_err());
    }

    #[test]
    fn new_rs_scales_within_surge() {
        // 3 desired, surge 1: with 3 old pods the new RS may add 1.
        assert_eq!(new_rs_replicas(3, 1, 0, 3), 1);
        // Already at max total: wait.
        assert_eq!(new_rs_replicas(3, 1, 1, 4), 1);
        // Never beyond desired.
        assert_eq!(new_rs_replicas(3, 5, 2, 2), 3);
        assert_eq!(new_rs_replicas(3, 1, 5, 5), 3);
    }

    #[test]
    fn olds_scale_down_respecting_min_available() {
        let new = RsCounts {
            name: "new".into(),
            replicas: 1,
            available: 0,
        };
        let old = RsCounts {
            name: "old".into(),
            replicas: 3,
            available: 3,
        };
        // desired 3, maxUnavailable 0: new pod not available yet -> nothing to cut.
        assert!(scale_down_olds(3, 0, &new, std::slice::from_ref(&old)).is_empty());
        let new_ready = RsCounts {
            available: 1,
            ..new.clone()
        };
        assert_eq!(
            scale_down_olds(3, 0, &new_ready, std::slice::from_ref(&old)),
            vec![("old".to_owned(), 2)]
        );
        // maxUnavailable 1 lets one go even before the new pod is up.
        assert_eq!(
            scale_down_olds(3, 1, &new, &[old]),
            vec![("old".to_owned(), 2)]
        );
    }

    #[test]
    fn unhealthy_old_replicas_go_first() {
        let new = RsCounts {
            name: "new".into(),
            replicas: 0,
            available: 0,
        };
        let olds = vec![
            RsCounts {
                name: "a".into(),
                replicas: 2,
                available: 0,
            },
            RsCounts {
                name: "b".into(),
                replicas: 3,
                available: 3,
            },
        ];
        assert_eq!(
            scale_down_olds(3, 0, &new, &olds),
            vec![("a".to_owned(), 0)]
        );
    }
}
