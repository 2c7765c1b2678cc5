//! Request bodies in `application/vnd.kubernetes.protobuf`: decode, and encode back what decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = ferrokube_protobuf::decode(data) {
        let _ = ferrokube_protobuf::encode(&object);
    }
});
