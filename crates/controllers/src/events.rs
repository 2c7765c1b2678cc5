//! The event recorder, shared with the kubelet (see the `ferrokube-events` crate).

pub use ferrokube_events::Recorder;
