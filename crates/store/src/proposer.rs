//! Batches concurrent transactions into one raft entry each, so a burst of writers costs one
//! log append, one fsync and one trip through raft instead of one per transaction. On a
//! follower the batch is forwarded to the leader as a whole (see [`Cluster::write`]).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::cluster::Cluster;
use crate::error::StoreError;
use crate::types::{Txn, TxnOutcome};

/// Most transactions carried by one raft entry.
const MAX_BATCH: usize = 512;
/// Batches proposed but not yet applied; while all are in flight, new requests queue up and
/// form the next (larger) batch.
const MAX_IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<TxnOutcome, StoreError>>;

/// Handle to the batching task.
pub(crate) struct Proposer {
    tx: mpsc::UnboundedSender<(Txn, Reply)>,
}

impl Proposer {
    /// Starts the batching task on the current runtime; it ends when the proposer is dropped.
    pub fn start(cluster: Arc<Cluster>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(cluster, rx));
        Proposer { tx }
    }

    /// Proposes `txn` (batched with concurrent ones) and waits for its outcome.
    pub async fn submit(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((txn, reply))
            .map_err(|_| StoreError::Unavailable("store is shut down".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("store is shut down".into()))?
    }
}

async fn run(cluster: Arc<Cluster>, mut rx: mpsc::UnboundedReceiver<(Txn, Reply)>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let (txns, replies): (Vec<Txn>, Vec<Reply>) = batch.into_iter().unzip();
            let result = cluster.write(Arc::new(txns)).await;
            drop(permit);
            match result {
                Ok(outcomes) if outcomes.len() == replies.len() => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        // The caller may have stopped waiting; its txn is applied regardless.
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Ok(outcomes) => {
                    let msg = format!(
                        "raft returned {} outcomes for {} txns",
                        outcomes.len(),
                        replies.len()
                    );
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Unavailable(msg.clone())));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone_shallow()));
                    }
                }
            }
        });
    }
}
