//! Admission plugins beyond the per-kind strategies, as upstream's admission chain has them:
//! each is a storage hook (see [`super::hooks`]) or, for eviction, a guard added to the
//! eviction's delete transaction, so what they charge commits atomically with the write.
//!
//! - [`eviction`]: `pods/eviction` honours PodDisruptionBudgets (429 when a budget would be
//!   broken; `disruptionsAllowed` decremented in the pod's delete transaction).

pub mod eviction;
