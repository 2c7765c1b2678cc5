//! The per-request audit annotation sink (upstream's `audit.AddAuditAnnotation`): admission
//! (admission policies, webhooks) records `key: value` pairs that end up in the request's audit
//! Event `annotations`. The audit filter opens a sink around the request it audits; code deep
//! in the write path reaches it through a task-local, so admission need not know whether the
//! request is audited. Outside an audited request (the server's own writes, level None),
//! annotations go nowhere.
//!
//! Writes may run their admission more than once (a write that lost a race is re-run from a
//! fresh read), so annotating a key again replaces its value rather than adding to it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use super::Level;

/// The annotations of one request, audited at `level`.
#[derive(Clone)]
pub struct AnnotationSink {
    level: Level,
    annotations: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Default for AnnotationSink {
    fn default() -> Self {
        AnnotationSink::at(Level::Metadata)
    }
}

tokio::task_local! {
    static SINK: AnnotationSink;
}

impl AnnotationSink {
    /// A sink for a request audited at `level`.
    pub fn at(level: Level) -> Self {
        AnnotationSink {
            level,
            annotations: Arc::default(),
        }
    }

    /// Runs `fut` (the request) with this sink receiving what it annotates.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        SINK.scope(self.clone(), fut).await
    }

    /// What was annotated so far.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.annotations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, key: String, value: String) {
        let mut map = self.annotations.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key, value);
    }
}

/// Annotates the current request's audit event (nothing when it is not audited).
pub fn annotate(key: impl Into<String>, value: impl Into<String>) {
    annotate_at(Level::Metadata, key, value);
}

/// Annotates the current request's audit event only when it is audited at `level` or above
/// (upstream's `AddAnnotationWithLevel`: annotations that carry request contents).
pub fn annotate_at(level: Level, key: impl Into<String>, value: impl Into<String>) {
    let _ = SINK.try_with(|sink| {
        if sink.level >= level {
            sink.set(key.into(), value.into());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn annotations_reach_the_sink_in_scope_only() {
        annotate("outside", "lost");
        let sink = AnnotationSink::default();
        sink.scope(async {
            annotate("a/k", "1");
            tokio::task::yield_now().await;
            annotate("a/k", "2");
            annotate("b/k", "x");
        })
        .await;
        let got = sink.annotations();
        assert_eq!(got.len(), 2);
        assert_eq!(got["a/k"], "2", "a key annotated again is replaced");
        assert_eq!(got["b/k"], "x");
    }

    #[tokio::test]
    async fn leveled_annotations_need_their_level() {
        for (level, kept) in [(Level::Metadata, false), (Level::Request, true)] {
            let sink = AnnotationSink::at(level);
            sink.scope(async {
                annotate_at(Level::Request, "patch/k", "body");
                annotate("plain/k", "v");
            })
            .await;
            let got = sink.annotations();
            assert_eq!(got.contains_key("patch/k"), kept, "{level:?}");
            assert!(got.contains_key("plain/k"));
        }
    }
}
