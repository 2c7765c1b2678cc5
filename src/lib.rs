//! ferrokube: a Kubernetes-compatible control plane and node agent.
