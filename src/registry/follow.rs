//! Keeping an in-memory view of some kinds current from the store: `reload` rebuilds the view
//! after every batch of changes under a key prefix, and again after the watch broke (too slow
//! a reader, compaction). For small, rarely written configuration (flow control, admission
//! policies), where rebuilding from scratch is simpler than applying events.

use std::future::Future;
use std::time::Duration;

use ferrokube_store::{Revision, Store};
use futures::{FutureExt, StreamExt};

/// Pause before following again after the watch broke.
const RELIST_DELAY: Duration = Duration::from_millis(200);

/// Follows `prefix` from revision `from` forever.
pub async fn follow<F, Fut>(store: Store, prefix: &'static str, mut from: Revision, reload: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Revision>>,
{
    loop {
        match store.watch(prefix, from) {
            Ok(mut events) => {
                while let Some(Ok(first)) = events.next().await {
                    from = from.max(first.revision);
                    while let Some(Some(Ok(more))) = events.next().now_or_never() {
                        from = from.max(more.revision);
                    }
                    match reload().await {
                        Ok(revision) => from = from.max(revision),
                        Err(e) => tracing::warn!(%prefix, error = %e, "reloading"),
                    }
                }
            }
            Err(e) => tracing::debug!(%prefix, error = %e, "watch ended"),
        }
        tokio::time::sleep(RELIST_DELAY).await;
        match reload().await {
            Ok(revision) => from = revision,
            Err(e) => tracing::warn!(%prefix, error = %e, "reloading"),
        }
    }
}

/// An in-memory view rebuilt from every object under a key prefix.
pub trait Rebuild: Send + Sync + 'static {
    /// Replaces the view with one built from `items` (every key under the prefix).
    fn rebuild(&self, items: &[ferrokube_store::KeyValue]);
}

/// Builds `view` from the store now and keeps it current in the background.
pub async fn start<T: Rebuild>(
    store: &Store,
    prefix: &'static str,
    view: std::sync::Arc<T>,
) -> anyhow::Result<()> {
    let reload = {
        let store = store.clone();
        move || {
            let (store, view) = (store.clone(), view.clone());
            async move {
                let page = store
                    .range(ferrokube_store::RangeRequest {
                        prefix: prefix.into(),
                        start: String::new(),
                        limit: 0,
                        revision: 0,
                    })
                    .await?;
                view.rebuild(&page.items);
                anyhow::Ok(page.revision)
            }
        }
    };
    let revision = reload().await?;
    tokio::spawn(follow(store.clone(), prefix, revision, reload));
    Ok(())
}
