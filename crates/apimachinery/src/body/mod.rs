//! Request bodies as the API server decodes them: JSON and YAML into a `serde_json::Value`
//! with upstream's error texts, and the repeated keys a strict decode reports ([`duplicates`]).
//! The server wraps the texts in a 400 `Status`; protobuf bodies are `ferrokube-protobuf`'s.

pub mod duplicates;

use serde_json::Value;

/// Decodes a JSON body (`couldn't get version/kind; json parse error: …` on failure, as
/// upstream's decoder words a body it cannot read).
pub fn decode_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("couldn't get version/kind; json parse error: {e}"))
}

/// Decodes a YAML body (one document) into its JSON value, as upstream's YAML→JSON step.
pub fn decode_yaml(body: &[u8]) -> Result<Value, String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "the YAML body is not valid UTF-8".to_string())?;
    serde_yaml_ng::from_str::<Value>(text)
        .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_json_and_yaml_alike() {
        let json = decode_json(br#"{"kind":"Pod","spec":{"replicas":2}}"#).unwrap();
        let yaml = decode_yaml(b"kind: Pod\nspec:\n  replicas: 2\n").unwrap();
        assert_eq!(json, yaml);
    }

    #[test]
    fn words_errors_as_upstream() {
        let err = decode_json(b"{").unwrap_err();
        assert!(
            err.starts_with("couldn't get version/kind; json parse error: "),
            "{err}"
        );
        let err = decode_yaml(b"a: [").unwrap_err();
        assert!(
            err.starts_with("error converting YAML to JSON: yaml: "),
            "{err}"
        );
        assert_eq!(
            decode_yaml(b"\xff").unwrap_err(),
            "the YAML body is not valid UTF-8"
        );
    }
}
