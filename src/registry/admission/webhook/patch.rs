//! A mutating webhook's answered patch.

use base64::Engine;
use serde_json::Value;

/// The JSON patch a mutating webhook answered, decoded.
pub fn decode_patch(response: &Value) -> Result<Option<json_patch::Patch>, String> {
    let Some(patch) = response.get("patch").and_then(Value::as_str) else {
        return Ok(None);
    };
    if response.get("patchType").and_then(Value::as_str) != Some("JSONPatch") {
        return Err("the webhook returned a patch without patchType JSONPatch".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .map_err(|e| format!("the patch is not base64: {e}"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("the patch is not a JSON patch: {e}"))
}
