//! One priority level's seats: at most `seats` requests run at once; others wait in one FIFO
//! (tokio's semaphore is fair) up to the level's queue capacity and the queue wait limit, or,
//! for a `Reject` level, are refused at once. A simplification of upstream's fair queuing:
//! flows are not shuffle-sharded into separate queues and levels do not lend seats.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The level rejects when busy, or its queue was full.
    QueueFull,
    /// It waited longer than the queue wait limit.
    TimedOut,
}

/// A level's seats and queue.
pub struct Gate {
    seats: Arc<Semaphore>,
    /// How many may wait; 0 rejects at once.
    queue_capacity: usize,
    waiting: AtomicUsize,
    wait_limit: Duration,
    /// Seats in total, for diagnostics.
    pub limit: usize,
}

/// Holding one seat; dropping it frees the seat.
pub struct Seat(#[allow(dead_code)] OwnedSemaphorePermit);

impl Gate {
    pub fn new(limit: usize, queue_capacity: usize, wait_limit: Duration) -> Gate {
        Gate {
            seats: Arc::new(Semaphore::new(limit.max(1))),
            queue_capacity,
            waiting: AtomicUsize::new(0),
            wait_limit,
            limit: limit.max(1),
        }
    }

    /// How many may wait.
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// Takes a seat, waiting in the queue if there is room.
    pub async fn enter(&self) -> Result<Seat, Rejection> {
        if let Ok(permit) = self.seats.clone().try_acquire_owned() {
            return Ok(Seat(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_capacity {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Rejection::QueueFull);
        }
        let waited =
            tokio::time::timeout(self.wait_limit, self.seats.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(Seat(permit)),
            _ => Err(Rejection::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seats_then_queue_then_rejection() {
        let gate = Arc::new(Gate::new(1, 1, Duration::from_millis(50)));
        let first = gate.enter().await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(gate.enter().await.err(), Some(Rejection::QueueFull));
        drop(first);
        assert!(
            waiter.await.unwrap(),
            "the queued request gets the freed seat"
        );
        let _held = gate.enter().await.unwrap();
        assert_eq!(gate.enter().await.err(), Some(Rejection::TimedOut));
        let reject = Gate::new(1, 0, Duration::from_secs(1));
        let _seat = reject.enter().await.unwrap();
        assert_eq!(reject.enter().await.err(), Some(Rejection::QueueFull));
    }
}
