//! The API server's storage compactor (upstream's `--etcd-compaction-interval`, 5 minutes by
//! default): the store keeps at least the last interval of history, so a continue token or a watch
//! resumes from any recent revision, while older ones answer 410 Expired as upstream's do
//! (a list continued with such a token is then offered an inconsistent continuation).

use std::collections::VecDeque;
use std::time::Duration;

use ferrokube_store::{Revision, Store};

/// Revisions sampled per interval: compaction trails the interval by at most one sample.
const SAMPLES: usize = 5;

/// Compacts the store, from its leader, to the revision it had `interval` ago; forever.
pub async fn run(store: Store, interval: Duration) {
    let mut tick = tokio::time::interval(interval / SAMPLES as u32);
    let mut seen: VecDeque<Revision> = VecDeque::new();
    loop {
        tick.tick().await;
        seen.push_back(store.current_revision());
        let Some(old) = oldest_due(&mut seen) else {
            continue;
        };
        if store.is_leader() && old > store.compacted_revision() {
            if let Err(e) = store.compact(old).await {
                tracing::debug!(error = %e, revision = old, "compaction failed");
            }
        }
    }
}

/// The sample one whole interval old, once there is one.
fn oldest_due(seen: &mut VecDeque<Revision>) -> Option<Revision> {
    (seen.len() > SAMPLES).then(|| seen.pop_front()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_trails_by_one_interval() {
        let mut seen = VecDeque::new();
        for rev in 1..=SAMPLES as Revision {
            seen.push_back(rev);
            assert_eq!(oldest_due(&mut seen), None);
        }
        seen.push_back(99);
        assert_eq!(oldest_due(&mut seen), Some(1));
        assert_eq!(seen.len(), SAMPLES);
    }
}
