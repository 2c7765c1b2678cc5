//! openraft's own storage test suite against our log store and state machine.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

use super::{LogStore, Shared, StateMachine, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().map_err(super::log_err)?;
        // Small segments so the suite's purges also exercise rotation and segment deletion.
        let log =
            LogStore::open_with(dir.path(), 256, Default::default()).map_err(super::log_err)?;
        let sm = StateMachine::open(dir.path(), Shared::new(1000), 1000).map_err(super::sm_err)?;
        Ok((dir, log, sm))
    }
}

#[test]
#[allow(clippy::result_large_err)] // the suite's own error type
fn openraft_storage_suite() -> Result<(), StorageError<u64>> {
    Suite::test_all(Builder)
}
