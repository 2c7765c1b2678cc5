//! Packets to the cluster DNS server, over UDP and TCP framing, against an empty zone.
#![no_main]

use std::sync::OnceLock;

use ferrokube_dns::handler::{handle, Transport};
use ferrokube_dns::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fn zone() -> &'static Snapshot {
    static ZONE: OnceLock<Snapshot> = OnceLock::new();
    ZONE.get_or_init(|| Snapshot::empty("cluster.local").expect("empty zone"))
}

fuzz_target!(|data: &[u8]| {
    for transport in [Transport::Udp, Transport::Tcp] {
        let _ = handle(Some(zone()), false, data, transport);
    }
    let _ = handle(None, true, data, Transport::Udp);
});
