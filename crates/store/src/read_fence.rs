//! One read barrier per API request. A linearizable read on a server of a cluster costs a quorum
//! round (the leader confirms it still leads) before the local state may be read; a create reads
//! several things on its way (its namespace, quota, service account, …) and paid that round for
//! each. Within one request, once a barrier has completed the local state already holds every
//! write acknowledged before the request began, so later reads of the same request may use it
//! as it is: they stay linearizable with respect to the request (writes acknowledged while it
//! runs are concurrent with it). Work a request spawns onto other tasks takes its own barrier.

use std::cell::Cell;
use std::future::Future;

tokio::task_local! {
    static FENCED: Cell<bool>;
}

/// Runs `request` as one API request: its first linearizable read takes a read barrier, the
/// following ones read the local state.
pub async fn one_request<F: Future>(request: F) -> F::Output {
    FENCED.scope(Cell::new(false), request).await
}

/// Whether the current request has already passed a read barrier.
pub(crate) fn passed() -> bool {
    FENCED.try_with(Cell::get).unwrap_or(false)
}

/// Records that the current request (if any) passed a read barrier.
pub(crate) fn pass() {
    let _ = FENCED.try_with(|f| f.set(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_passes_once_and_others_do_not_share_it() {
        assert!(!passed(), "outside a request nothing is fenced");
        one_request(async {
            assert!(!passed());
            pass();
            assert!(passed());
            // Another request, even nested, starts unfenced.
            one_request(async { assert!(!passed()) }).await;
            assert!(passed());
        })
        .await;
        pass();
        assert!(!passed(), "outside a request a pass is not kept");
    }
}
