//! Completion indexes of Indexed Jobs: the compressed interval lists upstream keeps in
//! `status.completedIndexes` / `status.failedIndexes` ("1,3-5,7") and the index a pod carries.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) naming a pod's completion index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The annotation counting earlier failures of a pod's index (backoffLimitPerIndex).
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";

/// Parses an interval list such as "1,3-5,7", keeping only indexes below `completions`
/// (upstream ignores out-of-range and malformed parts the same way).
pub fn parse(list: Option<&str>, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in list.unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<i32>(), b.trim().parse::<i32>()),
            None => (part.trim().parse::<i32>(), part.trim().parse::<i32>()),
        };
        if let (Ok(lo), Ok(hi)) = (lo, hi) {
            out.extend((lo.max(0)..=hi.min(completions - 1)).filter(|i| *i >= lo));
        }
    }
    out
}

/// Formats indexes as upstream's compressed interval list ("0-3,5").
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in indexes {
        run = match run {
            Some((lo, hi)) if i == hi + 1 => Some((lo, i)),
            Some(done) => {
                parts.push(interval(done));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some(done) = run {
        parts.push(interval(done));
    }
    parts.join(",")
}

fn interval((lo, hi): (i32, i32)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// The valid completion index a pod of an Indexed Job carries, if any.
pub fn of_pod(pod: &Pod, completions: i32) -> Option<i32> {
    let value = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX)?;
    let index: i32 = value.parse().ok()?;
    (0..completions).contains(&index).then_some(index)
}

/// The lowest indexes that still need a pod: neither succeeded, failed, nor running now.
pub fn to_start(
    completions: i32,
    done: &BTreeSet<i32>,
    running: &BTreeSet<i32>,
    count: usize,
) -> Vec<i32> {
    (0..completions)
        .filter(|i| !done.contains(i) && !running.contains(i))
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[i32]) -> BTreeSet<i32> {
        items.iter().copied().collect()
    }

    #[test]
    fn interval_lists_round_trip() {
        assert_eq!(format(&set(&[0, 1, 2, 3, 5, 7, 8])), "0-3,5,7-8");
        assert_eq!(format(&set(&[])), "");
        assert_eq!(format(&set(&[4])), "4");
        assert_eq!(parse(Some("0-3,5,7-8"), 10), set(&[0, 1, 2, 3, 5, 7, 8]));
        assert_eq!(parse(Some("1,3-20"), 5), set(&[1, 3, 4]));
        assert_eq!(parse(Some("x,2"), 5), set(&[2]));
        assert_eq!(parse(None, 5), set(&[]));
    }

    #[test]
    fn lowest_missing_indexes_start_first() {
        assert_eq!(to_start(5, &set(&[0]), &set(&[2]), 2), vec![1, 3]);
        assert_eq!(
            to_start(3, &set(&[0, 1, 2]), &set(&[]), 2),
            Vec::<i32>::new()
        );
    }
}
