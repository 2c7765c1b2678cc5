//! Riding out a full disk. A write that fails with "no space left on device" (or a quota) is
//! retried until space comes back instead of being reported to openraft: openraft stops its core
//! on any storage error, which used to leave the server answering reads but refusing every write
//! until it was restarted. While a write waits, [`DiskFull`] says so, so new writes are refused at
//! once with a clear message and `/readyz` reports the store as not ready.
//!
//! Only writes that can be repeated safely go through [`retry_while_full`]: the WAL writer cuts a
//! failed append back to the last good length before trying again, and vote and snapshot files
//! are written to a temporary file and renamed. A failed fsync is still fatal: after one, the
//! kernel may have dropped the dirty pages, and a second fsync could report success for data
//! that never reached the disk.

use std::io;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::StoreError;

/// First pause before retrying a write that found the disk full.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between retries.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Whether a durable write of this store is waiting for disk space, and which.
#[derive(Default)]
pub struct DiskFull {
    waiting: Mutex<Option<Waiting>>,
}

struct Waiting {
    what: String,
    error: String,
    since: Instant,
}

impl DiskFull {
    /// A message for clients while a write waits for space, or None when none does.
    pub fn current(&self) -> Option<String> {
        self.waiting.lock().as_ref().map(|w| {
            format!(
                "{} failed {}s ago: {}; writes resume once disk space is freed",
                w.what,
                w.since.elapsed().as_secs(),
                w.error
            )
        })
    }

    fn enter(&self, what: &str, error: &io::Error) {
        let mut waiting = self.waiting.lock();
        if waiting.is_none() {
            tracing::error!(%what, %error, "disk full: durable writes are paused until space is freed");
            *waiting = Some(Waiting {
                what: what.to_string(),
                error: error.to_string(),
                since: Instant::now(),
            });
        }
    }

    fn leave(&self) {
        if let Some(w) = self.waiting.lock().take() {
            tracing::warn!(what = %w.what, paused_for = ?w.since.elapsed(), "disk space is back: durable writes resumed");
        }
    }
}

/// Whether `e` means the disk (or the user's quota) has no room left.
pub(crate) fn is_out_of_space(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Runs `op` until it succeeds or fails for a reason other than a full disk, pausing with
/// backoff in between while `gate` reports the wait. `op` must be safe to repeat. Blocks the
/// calling thread: call it from the WAL thread or inside `spawn_blocking`.
pub(crate) fn retry_while_full<T>(
    gate: &DiskFull,
    what: &str,
    mut op: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut pause = FIRST_PAUSE;
    loop {
        match op() {
            Err(StoreError::Io(e)) if is_out_of_space(&e) => {
                gate.enter(what, &e);
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            other => {
                gate.leave();
                return other;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enospc() -> StoreError {
        StoreError::Io(io::Error::from_raw_os_error(28))
    }

    #[test]
    fn enospc_and_edquot_are_out_of_space_other_errors_are_not() {
        assert!(is_out_of_space(&io::Error::from_raw_os_error(28)));
        assert!(is_out_of_space(&io::Error::from_raw_os_error(122)));
        assert!(!is_out_of_space(&io::Error::from_raw_os_error(5)));
        assert!(!is_out_of_space(&io::Error::other("x")));
    }

    #[test]
    fn retries_until_space_returns_and_reports_the_wait_meanwhile() {
        let gate = DiskFull::default();
        let mut tries = 0;
        let mut seen_while_waiting = None;
        let got = retry_while_full(&gate, "append to the raft log", || {
            tries += 1;
            if tries == 1 {
                return Err(enospc());
            }
            seen_while_waiting = gate.current();
            Ok(tries)
        });
        assert_eq!(got.ok(), Some(2));
        let msg = seen_while_waiting.expect("the wait is reported while it lasts");
        assert!(msg.contains("append to the raft log"), "{msg}");
        assert!(msg.contains("No space left on device"), "{msg}");
        assert!(
            gate.current().is_none(),
            "cleared once the write went through"
        );
    }

    #[test]
    fn other_errors_are_returned_at_once() {
        let gate = DiskFull::default();
        let mut tries = 0;
        let got: Result<(), _> = retry_while_full(&gate, "write", || {
            tries += 1;
            Err(StoreError::Io(io::Error::from_raw_os_error(5)))
        });
        assert!(matches!(got, Err(StoreError::Io(_))));
        assert_eq!(tries, 1);
        assert!(gate.current().is_none());
    }
}
