//! Upstream's per-key exponential back-off (`flowcontrol.Backoff`) for restarts and pulls.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Initial restart back-off, as upstream.
pub const INITIAL: Duration = Duration::from_secs(10);
/// Maximum restart back-off, as upstream.
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Instant,
}

/// Back-off state per key.
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

impl Backoff {
    /// Whether `key` is still backing off at `now`; returns the current delay when it is.
    pub fn in_backoff(&self, key: &str, now: Instant) -> Option<Duration> {
        let e = self.entries.get(key)?;
        let since = now.saturating_duration_since(e.last_update);
        // Entries idle for twice the max are forgotten, like upstream's GC.
        if since > 2 * MAX {
            return None;
        }
        (since < e.delay).then_some(e.delay)
    }

    /// Record an attempt at `now`: first one gets [`INITIAL`], later ones double up to [`MAX`].
    pub fn next(&mut self, key: &str, now: Instant) {
        let delay = match self.entries.get(key) {
            Some(e) if now.saturating_duration_since(e.last_update) <= 2 * MAX => {
                (e.delay * 2).min(MAX)
            }
            _ => INITIAL,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay,
                last_update: now,
            },
        );
    }

    /// Time left until `key` may be retried.
    pub fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let e = self.entries.get(key)?;
        e.delay
            .checked_sub(now.saturating_duration_since(e.last_update))
            .filter(|d| !d.is_zero())
    }

    /// Forget a key (e.g. a container that ran long enough).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// Format a delay the way Go prints durations in upstream's back-off message (`10s`, `1m20s`, `5m0s`).
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_max_and_expires() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert_eq!(b.in_backoff("c", t0), None);
        b.next("c", t0);
        assert_eq!(
            b.in_backoff("c", t0 + Duration::from_secs(5)),
            Some(INITIAL)
        );
        assert_eq!(b.in_backoff("c", t0 + Duration::from_secs(11)), None);
        let mut t = t0;
        for _ in 0..10 {
            t += Duration::from_secs(1);
            b.next("c", t);
        }
        assert_eq!(b.in_backoff("c", t + Duration::from_secs(1)), Some(MAX));
        assert_eq!(b.in_backoff("c", t + 3 * MAX), None);
        b.next("c", t + 3 * MAX);
        assert_eq!(b.in_backoff("c", t + 3 * MAX), Some(INITIAL));
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(MAX), "5m0s");
    }
}
