//! A small time-bounded cache of review answers, as upstream's kubelet keeps for its
//! TokenReview and SubjectAccessReview webhooks, so a streaming session or a busy log follower
//! does not cost the API server a review per request.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upstream's bound on cached entries (its LRU holds 10000 too).
const MAX_ENTRIES: usize = 10_000;

/// Entries expire `ttl` after insertion; the TTL may differ per entry (allowed vs denied).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// The unexpired value for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(v, _)| v.clone())
    }

    /// Remembers `value` for `ttl` (nothing when `ttl` is zero).
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now() + ttl));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_own_ttl() {
        let cache = TtlCache::default();
        cache.insert("long", true, Duration::from_secs(60));
        cache.insert("short", false, Duration::from_millis(20));
        cache.insert("never", true, Duration::ZERO);
        assert_eq!(cache.get(&"long"), Some(true));
        assert_eq!(cache.get(&"short"), Some(false));
        assert_eq!(cache.get(&"never"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"short"), None);
        assert_eq!(cache.get(&"long"), Some(true));
    }
}
