//! Batches concurrent transactions into one raft entry each, so a burst of writers costs one
//! log append, one fsync and one trip through raft instead of one per transaction.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::StoreError;
use crate::raft::{Proposal, StoreRaft};
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
    pub fn start(raft: StoreRaft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
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

async fn run(raft: StoreRaft, mut rx: mpsc::UnboundedReceiver<(Txn, Reply)>) {
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
        let raft = raft.clone();
        tokio::spawn(async move {
            let (txns, replies): (Vec<Txn>, Vec<Reply>) = batch.into_iter().unzip();
            let result = raft.client_write(Proposal(Arc::new(txns))).await;
            drop(permit);
            match result {
                Ok(resp) if resp.data.0.len() == replies.len() => {
                    for (reply, outcome) in replies.into_iter().zip(resp.data.0) {
                        // The caller may have stopped waiting; its txn is applied regardless.
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Ok(resp) => {
                    let msg = format!(
                        "raft returned {} outcomes for {} txns",
                        resp.data.0.len(),
                        replies.len()
                    );
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Unavailable(msg.clone())));
                    }
                }
                Err(e) => {
                    let msg = match e {
                        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                            format!("not the leader (leader: {:?})", f.leader_id)
                        }
                        other => other.to_string(),
                    };
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Unavailable(msg.clone())));
                    }
                }
            }
        });
    }
}
