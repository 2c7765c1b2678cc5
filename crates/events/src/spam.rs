//! Upstream's `EventSourceObjectSpamFilter`: each involved object may have a burst of
//! [`BURST`] events from one recorder, then one more every [`REFILL`]; the rest are dropped.
//! A loop that keeps failing the same way (a container in back-off, a volume that will not
//! mount) therefore cannot turn into a steady stream of writes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Events an object may get at once (upstream's `defaultSpamBurst`).
pub const BURST: f64 = 25.0;
/// How long one more event takes to become allowed (upstream's `defaultSpamQPS` of 1/300).
pub const REFILL: Duration = Duration::from_secs(300);
/// Objects remembered before the filter starts over (upstream's LRU holds 4096).
const OBJECTS: usize = 4096;

/// Token buckets keyed by involved object.
#[derive(Default)]
pub struct SpamFilter {
    buckets: HashMap<String, (f64, Instant)>,
}

impl SpamFilter {
    /// Whether an event about `object` may be written at `now` (and spends a token if so).
    pub fn allow(&mut self, object: &str, now: Instant) -> bool {
        if self.buckets.len() >= OBJECTS && !self.buckets.contains_key(object) {
            self.buckets.clear();
        }
        let (tokens, last) = self
            .buckets
            .entry(object.to_owned())
            .or_insert((BURST, now));
        let earned = now.saturating_duration_since(*last).as_secs_f64() / REFILL.as_secs_f64();
        *tokens = (*tokens + earned).min(BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_refill_period() {
        let mut filter = SpamFilter::default();
        let start = Instant::now();
        assert!((0..25).all(|_| filter.allow("pod-a", start)));
        assert!(!filter.allow("pod-a", start));
        // Other objects have their own budget.
        assert!(filter.allow("pod-b", start));
        assert!(!filter.allow("pod-a", start + REFILL / 2));
        assert!(filter.allow("pod-a", start + REFILL));
        assert!(!filter.allow("pod-a", start + REFILL));
    }
}
