//! Proportional scaling (upstream `sync.go` `scale` and `deploymentutil.GetProportion`): a
//! Deployment resized in the middle of a rollout spreads the added or removed replicas over
//! its active ReplicaSets in proportion to their sizes, so the rollout's old/new balance is
//! kept instead of the whole change landing on one of them.

/// An active ReplicaSet as proportional scaling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    /// RS name.
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Its `deployment.kubernetes.io/max-replicas` annotation (the Deployment's size plus
    /// surge when the RS was last scaled), if readable.
    pub max_replicas_before: Option<i32>,
    /// Creation order (larger is newer), to break ties between equal sizes.
    pub age_rank: usize,
}

/// Upstream `getReplicaSetFraction`: this RS's share of the new size, minus its size now.
fn fraction(rs: &Sized, desired: i32, max_total: i32, status_replicas: i32) -> i32 {
    if desired == 0 {
        return -rs.replicas;
    }
    let before = match rs.max_replicas_before {
        Some(v) if v > 0 => v,
        _ if status_replicas > 0 => status_replicas,
        _ => return 0,
    };
    let scaled = f64::from(rs.replicas) * f64::from(max_total) / f64::from(before);
    scaled.round() as i32 - rs.replicas
}

/// The new size of every active RS; `max_surge` is the resolved surge for `desired`.
pub fn sizes(
    active: &[Sized],
    desired: i32,
    max_surge: i32,
    status_replicas: i32,
) -> Vec<(String, i32)> {
    let total: i32 = active.iter().map(|r| r.replicas).sum();
    let max_total = if desired > 0 { desired + max_surge } else { 0 };
    let to_add = max_total - total;
    let mut order: Vec<&Sized> = active.iter().collect();
    // Largest first; among equals the newer when growing, the older when shrinking.
    order.sort_by(|a, b| {
        b.replicas.cmp(&a.replicas).then(if to_add > 0 {
            b.age_rank.cmp(&a.age_rank)
        } else {
            a.age_rank.cmp(&b.age_rank)
        })
    });
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = Vec::with_capacity(order.len());
    for rs in &order {
        let mut share = 0;
        if to_add != 0 && rs.replicas != 0 && added != to_add {
            let allowed = to_add - added;
            let f = fraction(rs, desired, max_total, status_replicas);
            share = if to_add > 0 {
                f.min(allowed)
            } else {
                f.max(allowed)
            };
        }
        added += share;
        sizes.push((rs.name.clone(), rs.replicas + share));
    }
    // Leftovers go to (or come from) the largest.
    if let Some(first) = sizes.first_mut() {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, replicas: i32, before: i32, age_rank: usize) -> Sized {
        Sized {
            name: name.into(),
            replicas,
            max_replicas_before: Some(before),
            age_rank,
        }
    }

    #[test]
    fn upstream_e2e_case_spreads_ten_more_replicas() {
        // upstream's "proportional scaling" spec: 10 replicas, surge 3, unavailable 2; a stuck
        // rollout leaves old=8 and new=5 (13 = 10 + 3); scaling to 30 (max 33) gives old 20,
        // new 13.
        let active = [rs("old", 8, 13, 0), rs("new", 5, 13, 1)];
        let got = sizes(&active, 30, 3, 13);
        assert_eq!(got, [("old".to_string(), 20), ("new".to_string(), 13)]);
    }

    #[test]
    fn scaling_down_and_to_zero() {
        let active = [rs("old", 6, 12, 0), rs("new", 6, 12, 1)];
        let got = sizes(&active, 5, 1, 12);
        // 12 -> 6: equal sizes shrink the older first; halves each.
        assert_eq!(got, [("old".to_string(), 3), ("new".to_string(), 3)]);
        let zero = sizes(&active, 0, 1, 12);
        assert!(zero.iter().all(|(_, n)| *n == 0), "{zero:?}");
    }
}
