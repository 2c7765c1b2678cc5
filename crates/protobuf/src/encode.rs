//! JSON → protobuf: the schema-driven walker in the other direction.

use crate::decode::{MAGIC, MAX_DEPTH};
use crate::error::ProtoError;
use crate::gotime::{parse_duration, parse_time};
use crate::schema::{kind_message, message, Card, Field, Message, Special, Ty};
use crate::wire::{put_key, put_len, put_varint, FIXED64, VARINT};
use base64::Engine as _;
use serde_json::Value;

fn invalid(path: &str, reason: impl Into<String>) -> ProtoError {
    ProtoError::InvalidJson {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Encodes a JSON object with `apiVersion`/`kind` into a `k8s\0` envelope.
pub(crate) fn encode_body(obj: &Value) -> Result<Vec<u8>, ProtoError> {
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(k, "a string is required"))
    };
    let (api_version, kind) = (text("apiVersion")?, text("kind")?);
    let index = kind_message(api_version, kind).ok_or_else(|| ProtoError::UnknownKind {
        api_version: api_version.into(),
        kind: kind.into(),
    })?;
    let raw = message_bytes(obj, message(index), "", 0)?;
    let mut type_meta = Vec::new();
    put_len(&mut type_meta, 1, api_version.as_bytes());
    put_len(&mut type_meta, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    put_len(&mut out, 1, &type_meta);
    put_len(&mut out, 2, &raw);
    // contentEncoding and contentType are written empty, as upstream's serializer does.
    put_len(&mut out, 3, b"");
    put_len(&mut out, 4, b"");
    Ok(out)
}

/// Encodes one JSON value as the message `msg` (honouring its special JSON form).
fn message_bytes(
    v: &Value,
    msg: &Message,
    path: &str,
    depth: usize,
) -> Result<Vec<u8>, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    let mut out = Vec::new();
    match msg.special {
        Special::None => {
            let obj = v
                .as_object()
                .ok_or_else(|| invalid(path, "an object is required"))?;
            for f in msg.fields {
                if let (Card::Inline, Ty::Msg(i)) = (f.card, f.ty) {
                    // The embedded struct reads its own keys from this same object.
                    let embedded = message_bytes(v, message(i), path, depth + 1)?;
                    if !embedded.is_empty() {
                        put_len(&mut out, f.tag, &embedded);
                    }
                } else if let Some(fv) = obj.get(f.json) {
                    field(&mut out, f, fv, &format!("{path}.{}", f.json), depth)?;
                }
            }
        }
        Special::Time | Special::MicroTime => {
            if let Some(s) = v.as_str() {
                let (seconds, nanos) =
                    parse_time(s).ok_or_else(|| invalid(path, "an RFC3339 time is required"))?;
                put_key(&mut out, 1, VARINT);
                put_varint(&mut out, seconds as u64);
                put_key(&mut out, 2, VARINT);
                put_varint(&mut out, i64::from(nanos) as u64);
            } else if !v.is_null() {
                return Err(invalid(path, "an RFC3339 time is required"));
            }
        }
        Special::Duration => {
            let s = v
                .as_str()
                .ok_or_else(|| invalid(path, "a duration string is required"))?;
            let nanos =
                parse_duration(s).ok_or_else(|| invalid(path, "a Go duration is required"))?;
            put_key(&mut out, 1, VARINT);
            put_varint(&mut out, nanos as u64);
        }
        Special::Quantity => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid(path, "a quantity string is required")),
            };
            put_len(&mut out, 1, s.as_bytes());
        }
        Special::IntOrString => {
            let (kind, int, string) = match v {
                Value::String(s) => (1u64, 0i64, s.as_str()),
                Value::Number(n) => {
                    let i = n
                        .as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| invalid(path, "an int32 is required"))?;
                    (0, i64::from(i), "")
                }
                _ => return Err(invalid(path, "an integer or a string is required")),
            };
            put_key(&mut out, 1, VARINT);
            put_varint(&mut out, kind);
            put_key(&mut out, 2, VARINT);
            put_varint(&mut out, int as u64);
            put_len(&mut out, 3, string.as_bytes());
        }
        Special::RawJson => {
            if !v.is_null() {
                let raw = serde_json::to_vec(v).map_err(|e| invalid(path, e.to_string()))?;
                put_len(&mut out, 1, &raw);
            }
        }
        Special::StringList => {
            let f = tag_field(msg, 1, path)?;
            field(&mut out, f, v, path, depth)?;
        }
        Special::SchemaOrArray => match v {
            Value::Array(_) => field(&mut out, tag_field(msg, 2, path)?, v, path, depth)?,
            Value::Null => {}
            _ => field(&mut out, tag_field(msg, 1, path)?, v, path, depth)?,
        },
        Special::SchemaOrBool => match v {
            Value::Bool(_) => field(&mut out, tag_field(msg, 1, path)?, v, path, depth)?,
            _ => {
                // Upstream's UnmarshalJSON sets Allows when a schema is given.
                field(
                    &mut out,
                    tag_field(msg, 1, path)?,
                    &Value::Bool(true),
                    path,
                    depth,
                )?;
                field(&mut out, tag_field(msg, 2, path)?, v, path, depth)?;
            }
        },
        Special::SchemaOrStringArray => match v {
            Value::Array(_) => field(&mut out, tag_field(msg, 2, path)?, v, path, depth)?,
            Value::Null => {}
            _ => field(&mut out, tag_field(msg, 1, path)?, v, path, depth)?,
        },
    }
    Ok(out)
}

fn tag_field(msg: &Message, tag: u32, path: &str) -> Result<&'static Field, ProtoError> {
    msg.field_by_tag(tag)
        .ok_or_else(|| invalid(path, format!("{} has no field {tag}", msg.name)))
}

/// Appends one field (all its values for repeated and map fields).
fn field(
    out: &mut Vec<u8>,
    f: &Field,
    v: &Value,
    path: &str,
    depth: usize,
) -> Result<(), ProtoError> {
    if v.is_null() {
        if let (Card::Single, Ty::Msg(i)) = (f.card, f.ty) {
            if matches!(message(i).special, Special::Time | Special::MicroTime) {
                // Go's zero Time (JSON null) is marshalled as an empty message.
                put_len(out, f.tag, b"");
            }
        }
        return Ok(());
    }
    match f.card {
        Card::Single | Card::Inline => value(out, f.tag, f.ty, v, path, depth),
        Card::Repeated => {
            let items = v
                .as_array()
                .ok_or_else(|| invalid(path, "an array is required"))?;
            for (i, item) in items.iter().enumerate() {
                value(out, f.tag, f.ty, item, &format!("{path}[{i}]"), depth)?;
            }
            Ok(())
        }
        Card::Map => {
            let entries = v
                .as_object()
                .ok_or_else(|| invalid(path, "an object is required"))?;
            for (k, item) in entries {
                let mut entry = Vec::new();
                put_len(&mut entry, 1, k.as_bytes());
                value(&mut entry, 2, f.ty, item, &format!("{path}.{k}"), depth)?;
                put_len(out, f.tag, &entry);
            }
            Ok(())
        }
    }
}

/// Appends one value of type `ty` under field number `tag`.
fn value(
    out: &mut Vec<u8>,
    tag: u32,
    ty: Ty,
    v: &Value,
    path: &str,
    depth: usize,
) -> Result<(), ProtoError> {
    match ty {
        Ty::Str => put_len(
            out,
            tag,
            v.as_str()
                .ok_or_else(|| invalid(path, "a string is required"))?
                .as_bytes(),
        ),
        Ty::Bytes => {
            let s = v
                .as_str()
                .ok_or_else(|| invalid(path, "a base64 string is required"))?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| invalid(path, e.to_string()))?;
            put_len(out, tag, &b);
        }
        Ty::Bool => {
            let b = v
                .as_bool()
                .ok_or_else(|| invalid(path, "a boolean is required"))?;
            put_key(out, tag, VARINT);
            put_varint(out, u64::from(b));
        }
        Ty::I32 => {
            let i = v
                .as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| invalid(path, "an int32 is required"))?;
            put_key(out, tag, VARINT);
            put_varint(out, i64::from(i) as u64);
        }
        Ty::I64 => {
            let i = v
                .as_i64()
                .ok_or_else(|| invalid(path, "an int64 is required"))?;
            put_key(out, tag, VARINT);
            put_varint(out, i as u64);
        }
        Ty::F64 => {
            let x = v
                .as_f64()
                .ok_or_else(|| invalid(path, "a number is required"))?;
            put_key(out, tag, FIXED64);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Ty::Msg(i) => {
            let bytes = message_bytes(v, message(i), path, depth + 1)?;
            put_len(out, tag, &bytes);
        }
    }
    Ok(())
}
