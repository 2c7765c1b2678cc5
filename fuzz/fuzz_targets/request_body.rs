//! JSON and YAML request bodies as the server reads them: decode, and scan for the repeated keys
//! that `fieldValidation=Strict` refuses, never panicking. A decoded value re-encoded as JSON has
//! no repeated keys, so the scan must find none in it. The first byte picks the media type.
#![no_main]

use ferrokube_apimachinery::body::{self, duplicates};
use libfuzzer_sys::fuzz_target;

const MEDIA: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let media = MEDIA[usize::from(pick) % MEDIA.len()];
    let decoded = if media.ends_with("yaml") {
        let _ = duplicates::yaml_duplicate_error(body);
        body::decode_yaml(body)
    } else {
        body::decode_json(body)
    };
    let _ = duplicates::duplicate_fields(media, body);
    if let Ok(value) = decoded {
        let reencoded = serde_json::to_vec(&value).expect("a decoded value encodes");
        assert_eq!(
            duplicates::duplicate_fields("application/json", &reencoded),
            Vec::<String>::new()
        );
        assert!(
            body::decode_json(&reencoded).is_ok(),
            "a re-encoded body decodes"
        );
    }
});
