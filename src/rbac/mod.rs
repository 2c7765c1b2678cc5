//! RBAC in the API server: the authorizer's in-memory index of Roles, ClusterRoles and their
//! bindings (kept current from the store's watch, never a store read per request), the bootstrap
//! policy reconciled at start, and ClusterRole aggregation written back into the objects.
//!
//! The decisions themselves are pure logic in `ferrokube_auth::rbac`.

pub mod aggregation;
pub mod bootstrap;
pub mod cache;
pub mod escalation;
pub mod node_graph;

pub use cache::Authorizer;
