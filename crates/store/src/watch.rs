//! The watch hub: fans applied events out to watchers, each with a bounded buffer.
//!
//! Gap- and duplicate-freedom comes from the caller: a watcher is registered while the state lock
//! is held (so its replay ends exactly where live events begin), and events are broadcast while
//! the same lock is held for writing.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::error::StoreError;
use crate::types::{Event, Revision};

/// A watch: replayed history, then live events, ending with an error item if it is cut off.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Arc<Event>, StoreError>> + Send>>;

/// Live events a watcher may have queued before it counts as too slow.
pub(crate) const WATCH_BUFFER: usize = 10_000;

const OPEN: u8 = 0;
const TOO_SLOW: u8 = 1;
const SHUT_DOWN: u8 = 2;

struct Watcher {
    prefix: String,
    tx: mpsc::Sender<Arc<Event>>,
    /// Why the sender was dropped, read by the stream when its channel ends.
    closed: Arc<AtomicU8>,
}

/// The set of live watchers.
#[derive(Default)]
pub(crate) struct WatchHub {
    watchers: Vec<Watcher>,
    shut_down: bool,
}

impl WatchHub {
    /// Registers a watcher for `prefix` and returns its stream: `replay` first, then live events
    /// with revision > `after`.
    pub fn subscribe(
        &mut self,
        prefix: &str,
        after: Revision,
        replay: Vec<Arc<Event>>,
        buffer: usize,
    ) -> Result<WatchStream, StoreError> {
        if self.shut_down {
            return Err(StoreError::Unavailable("store is shut down".into()));
        }
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let closed = Arc::new(AtomicU8::new(OPEN));
        self.watchers.push(Watcher {
            prefix: prefix.to_string(),
            tx,
            closed: closed.clone(),
        });
        Ok(Box::pin(EventStream {
            replay: replay.into_iter(),
            rx,
            closed,
            after,
            done: false,
        }))
    }

    /// Delivers `events` (one applied transaction) to every interested watcher; drops watchers
    /// that are gone or whose buffer is full.
    pub fn broadcast(&mut self, events: &[Arc<Event>]) {
        if events.is_empty() {
            return;
        }
        self.watchers.retain(|w| {
            for e in events {
                if !e.key.starts_with(&w.prefix) {
                    continue;
                }
                match w.tx.try_send(e.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        w.closed.store(TOO_SLOW, Ordering::Release);
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            !w.tx.is_closed()
        });
    }

    /// Ends every watch as if it were too slow, so clients re-watch from their last revision
    /// (used when a snapshot replaces the whole state).
    pub fn reset(&mut self) {
        for w in self.watchers.drain(..) {
            w.closed.store(TOO_SLOW, Ordering::Release);
        }
    }

    /// Ends every watch with an Unavailable error and refuses new ones.
    pub fn shutdown(&mut self) {
        self.shut_down = true;
        for w in self.watchers.drain(..) {
            w.closed.store(SHUT_DOWN, Ordering::Release);
        }
    }

    /// Number of registered watchers (for tests and metrics).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.watchers.len()
    }
}

struct EventStream {
    replay: std::vec::IntoIter<Arc<Event>>,
    rx: mpsc::Receiver<Arc<Event>>,
    closed: Arc<AtomicU8>,
    after: Revision,
    done: bool,
}

impl Stream for EventStream {
    type Item = Result<Arc<Event>, StoreError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(e) = self.replay.next() {
            return Poll::Ready(Some(Ok(e)));
        }
        loop {
            match self.rx.poll_recv(cx) {
                // A watch from a future revision skips live events it has asked to be past.
                Poll::Ready(Some(e)) if e.revision <= self.after => continue,
                Poll::Ready(Some(e)) => return Poll::Ready(Some(Ok(e))),
                Poll::Ready(None) => {
                    self.done = true;
                    let err = match self.closed.load(Ordering::Acquire) {
                        TOO_SLOW => StoreError::WatcherTooSlow,
                        _ => StoreError::Unavailable("store is shut down".into()),
                    };
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EventKind;
    use futures::StreamExt;

    fn ev(key: &str, rev: Revision) -> Arc<Event> {
        Arc::new(Event {
            kind: EventKind::Added,
            key: key.into(),
            revision: rev,
            value: bytes::Bytes::new(),
            prev: None,
        })
    }

    #[tokio::test]
    async fn replay_then_live_filtered_by_prefix() {
        let mut hub = WatchHub::default();
        let mut s = hub
            .subscribe("/a/", 0, vec![ev("/a/1", 1)], 16)
            .expect("subscribe");
        hub.broadcast(&[ev("/b/1", 2), ev("/a/2", 2)]);
        hub.broadcast(&[ev("/a/3", 3)]);
        let mut got = Vec::new();
        for _ in 0..3 {
            if let Some(Ok(e)) = s.next().await {
                got.push((e.key.clone(), e.revision));
            }
        }
        assert_eq!(
            got,
            vec![("/a/1".into(), 1), ("/a/2".into(), 2), ("/a/3".into(), 3)]
        );
    }

    #[tokio::test]
    async fn slow_watcher_gets_error_after_buffered_events() {
        let mut hub = WatchHub::default();
        let mut s = hub.subscribe("", 0, vec![], 2).expect("subscribe");
        for rev in 1..=3 {
            hub.broadcast(&[ev("/x", rev)]);
        }
        assert_eq!(hub.len(), 0, "overflowing watcher is dropped");
        assert_eq!(
            s.next().await.and_then(|r| r.ok()).map(|e| e.revision),
            Some(1)
        );
        assert_eq!(
            s.next().await.and_then(|r| r.ok()).map(|e| e.revision),
            Some(2)
        );
        assert!(matches!(
            s.next().await,
            Some(Err(StoreError::WatcherTooSlow))
        ));
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn dropped_watchers_are_pruned_and_shutdown_ends_streams() {
        let mut hub = WatchHub::default();
        let s1 = hub.subscribe("/a", 0, vec![], 4).expect("subscribe");
        let mut s2 = hub.subscribe("/b", 5, vec![], 4).expect("subscribe");
        drop(s1);
        hub.broadcast(&[ev("/zzz", 1)]);
        assert_eq!(hub.len(), 1);
        hub.broadcast(&[ev("/b", 5), ev("/b", 6)]);
        assert_eq!(
            s2.next().await.and_then(|r| r.ok()).map(|e| e.revision),
            Some(6)
        );
        hub.shutdown();
        assert!(matches!(
            s2.next().await,
            Some(Err(StoreError::Unavailable(_)))
        ));
        assert!(hub.subscribe("", 0, vec![], 4).is_err());
    }
}
