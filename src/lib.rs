//! ferrokube: a Kubernetes-compatible control plane and node agent.
//!
//! Layers, top to bottom: [`cli`] → [`server`] → [`http`] (routing, negotiation, watch streaming)
//! → [`registry`] (one generic REST implementation driven by a per-kind table) → the
//! revisioned store (`ferrokube-store`, replicated by openraft).

pub mod aggregator;
pub mod apiservices;
pub mod audit;
pub mod bench;
pub mod certificates;
pub mod cli;
pub mod cluster_dns;
pub mod components;
pub mod crd;
pub mod flowcontrol;
pub mod ha;
pub mod http;
pub mod leader_loop;
pub mod master_service;
pub mod node_identity;
pub mod openapi;
pub mod policy_typecheck;
pub mod rbac;
pub mod registry;
pub mod server;
pub mod status;
