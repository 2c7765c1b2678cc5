//! Protobuf → JSON: a generic walker over the wire format driven by the schema table.

use crate::error::ProtoError;
use crate::gotime::{format_duration, format_time};
use crate::schema::{kind_message, message, Card, Field, Message, Special, Ty};
use crate::wire::{Reader, WireValue};
use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Bool fields that are pointers (`*bool`) upstream: Go writes them only when set, so an
/// explicit `false` on the wire means `false` (`allowPrivilegeEscalation: false` is what the
/// restricted Pod Security level asks for), unlike a plain `bool` whose `false` is Go's
/// "unset". Neither the proto files nor the OpenAPI spec the schema is generated from tell the
/// two apart, hence this list (upstream v1.33 types).
const POINTER_BOOLS: &[&str] = &[
    "allowPrivilegeEscalation",
    "privileged",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "hostProcess",
    "automountServiceAccountToken",
    "shareProcessNamespace",
    "enableServiceLinks",
    "setHostnameAsFQDN",
    "hostUsers",
    "optional",
    "immutable",
    "suspend",
    "manualSelector",
    "allocateLoadBalancerNodePorts",
    "serving",
    "terminating",
    "started",
    "attachRequired",
    "podInfoOnMount",
    "storageCapacity",
    "requiresRepublish",
    "seLinuxMount",
    "allowVolumeExpansion",
    "orphanDependents",
    "x-kubernetes-preserve-unknown-fields",
];

/// Integer fields that are pointers (`*int32`, `*int64`) upstream and whose explicit zero means
/// something other than "unset" (`runAsUser: 0` is root, which the restricted Pod Security level
/// refuses; `tolerationSeconds: 0` evicts at once; `ttlSecondsAfterFinished: 0` deletes at
/// once; `completions: 0` needs no pod). Fields with a non-zero default already keep their zero (the generated `keep_zero`).
const POINTER_INTS: &[&str] = &[
    "leaseDurationSeconds",
    "leaseTransitions",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "startingDeadlineSeconds",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "tolerationSeconds",
    "deletionGracePeriodSeconds",
    "gracePeriodSeconds",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "mode",
    // A pod's resolved priority: 0 is what the Priority admission stored, and a client that
    // reads a pod over protobuf and sends it back must not appear to have changed it.
    "priority",
    "completions",
    "minDomains",
];

/// The 4 bytes that start every Kubernetes protobuf body.
pub(crate) const MAGIC: &[u8; 4] = b"k8s\0";
/// Nesting limit: deeper input is rejected instead of exhausting the stack.
pub(crate) const MAX_DEPTH: usize = 96;
/// The content type of a protobuf body inside the envelope.
pub(crate) const PROTOBUF_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The fields of the `runtime.Unknown` envelope.
#[derive(Debug, Default)]
pub(crate) struct Envelope<'a> {
    /// typeMeta.apiVersion.
    pub api_version: String,
    /// typeMeta.kind.
    pub kind: String,
    /// The typed message (or JSON, per `content_type`).
    pub raw: &'a [u8],
    /// Must be empty: upstream never compresses inside the envelope.
    pub content_encoding: String,
    /// Empty or the protobuf content type for a protobuf `raw`.
    pub content_type: String,
}

fn utf8(b: &[u8]) -> Result<String, ProtoError> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| ProtoError::InvalidUtf8)
}

fn len_of<'a>(v: WireValue<'a>, message: &'static str, field: u32) -> Result<&'a [u8], ProtoError> {
    match v {
        WireValue::Len(b) => Ok(b),
        other => Err(ProtoError::WireTypeMismatch {
            message,
            field,
            got: other.wire_type(),
        }),
    }
}

/// Splits a `k8s\0` body into its envelope fields.
pub(crate) fn envelope(body: &[u8]) -> Result<Envelope<'_>, ProtoError> {
    let rest = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtoError::MissingMagic)?;
    let name = "k8s.io.apimachinery.pkg.runtime.Unknown";
    let mut env = Envelope::default();
    let mut r = Reader::new(rest);
    while let Some((tag, v)) = r.field()? {
        match tag {
            1 => {
                let mut tm = Reader::new(len_of(v, name, 1)?);
                while let Some((t, tv)) = tm.field()? {
                    match t {
                        1 => {
                            env.api_version =
                                utf8(len_of(tv, "k8s.io.apimachinery.pkg.runtime.TypeMeta", 1)?)?
                        }
                        2 => {
                            env.kind =
                                utf8(len_of(tv, "k8s.io.apimachinery.pkg.runtime.TypeMeta", 2)?)?
                        }
                        _ => {}
                    }
                }
            }
            2 => env.raw = len_of(v, name, 2)?,
            3 => env.content_encoding = utf8(len_of(v, name, 3)?)?,
            4 => env.content_type = utf8(len_of(v, name, 4)?)?,
            _ => {}
        }
    }
    Ok(env)
}

/// Decodes a whole `k8s\0` body into the object's JSON with `kind`/`apiVersion` first.
pub(crate) fn decode_body(body: &[u8], depth: usize) -> Result<Value, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    let env = envelope(body)?;
    if !env.content_encoding.is_empty() {
        return Err(ProtoError::UnsupportedContent(env.content_encoding));
    }
    let mut obj = Map::new();
    obj.insert("kind".into(), Value::String(env.kind.clone()));
    obj.insert("apiVersion".into(), Value::String(env.api_version.clone()));
    match env.content_type.as_str() {
        "" | PROTOBUF_CONTENT_TYPE => {
            let index =
                kind_message(&env.api_version, &env.kind).ok_or(ProtoError::UnknownKind {
                    api_version: env.api_version.clone(),
                    kind: env.kind.clone(),
                })?;
            obj.extend(fields(env.raw, message(index), depth + 1)?);
        }
        "application/json" => match serde_json::from_slice(env.raw) {
            Ok(Value::Object(m)) => obj.extend(m),
            Ok(_) => return Err(ProtoError::InvalidEmbeddedJson("not an object".into())),
            Err(e) => return Err(ProtoError::InvalidEmbeddedJson(e.to_string())),
        },
        other => return Err(ProtoError::UnsupportedContent(other.to_string())),
    }
    Ok(Value::Object(obj))
}

/// Decodes a message's bytes into its JSON value (an object, or a special form).
pub(crate) fn message_value(buf: &[u8], index: u16, depth: usize) -> Result<Value, ProtoError> {
    let msg = message(index);
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    match msg.special {
        Special::None => Ok(Value::Object(fields(buf, msg, depth)?)),
        Special::Time | Special::MicroTime => {
            if buf.is_empty() {
                // Go's zero time: proto-marshalled as an empty message, JSON `null`.
                return Ok(Value::Null);
            }
            let (mut seconds, mut nanos) = (0i64, 0i32);
            let mut r = Reader::new(buf);
            while let Some((tag, v)) = r.field()? {
                match (tag, v) {
                    (1, WireValue::Varint(s)) => seconds = s as i64,
                    (2, WireValue::Varint(n)) => nanos = n as u32 as i32,
                    (1 | 2, other) => return Err(mismatch(msg, tag, other)),
                    _ => {}
                }
            }
            Ok(Value::String(format_time(
                seconds,
                nanos,
                msg.special == Special::MicroTime,
            )?))
        }
        Special::Duration => {
            let mut nanos = 0i64;
            let mut r = Reader::new(buf);
            while let Some((tag, v)) = r.field()? {
                match (tag, v) {
                    (1, WireValue::Varint(d)) => nanos = d as i64,
                    (1, other) => return Err(mismatch(msg, tag, other)),
                    _ => {}
                }
            }
            Ok(Value::String(format_duration(nanos)))
        }
        Special::Quantity => {
            let mut s = String::from("0");
            let mut r = Reader::new(buf);
            while let Some((tag, v)) = r.field()? {
                if tag == 1 {
                    s = utf8(len_of(v, msg.name, 1)?)?;
                }
            }
            Ok(Value::String(s))
        }
        Special::IntOrString => {
            let (mut kind, mut int, mut string) = (0u64, 0i32, String::new());
            let mut r = Reader::new(buf);
            while let Some((tag, v)) = r.field()? {
                match (tag, v) {
                    (1, WireValue::Varint(t)) => kind = t,
                    (2, WireValue::Varint(i)) => int = i as u32 as i32,
                    (3, WireValue::Len(b)) => string = utf8(b)?,
                    (1..=3, other) => return Err(mismatch(msg, tag, other)),
                    _ => {}
                }
            }
            Ok(if kind == 1 {
                Value::String(string)
            } else {
                Value::from(int)
            })
        }
        Special::RawJson => {
            let mut raw: &[u8] = &[];
            let mut r = Reader::new(buf);
            while let Some((tag, v)) = r.field()? {
                if tag == 1 {
                    raw = len_of(v, msg.name, 1)?;
                }
            }
            embedded_json(raw, depth)
        }
        Special::StringList => {
            let obj = fields(buf, msg, depth)?;
            Ok(by_tag(msg, &obj, 1)
                .cloned()
                .unwrap_or_else(|| Value::Array(Vec::new())))
        }
        Special::SchemaOrArray => {
            let obj = fields(buf, msg, depth)?;
            Ok(match (by_tag(msg, &obj, 1), by_tag(msg, &obj, 2)) {
                (Some(schema), _) => schema.clone(),
                (None, Some(list)) => list.clone(),
                (None, None) => Value::Null,
            })
        }
        Special::SchemaOrBool => {
            let obj = fields(buf, msg, depth)?;
            Ok(match by_tag(msg, &obj, 2) {
                Some(schema) => schema.clone(),
                None => by_tag(msg, &obj, 1).cloned().unwrap_or(Value::Bool(false)),
            })
        }
        Special::SchemaOrStringArray => {
            let obj = fields(buf, msg, depth)?;
            Ok(match (by_tag(msg, &obj, 2), by_tag(msg, &obj, 1)) {
                (Some(list), _) => list.clone(),
                (None, Some(schema)) => schema.clone(),
                (None, None) => Value::Null,
            })
        }
    }
}

fn by_tag<'m>(msg: &Message, obj: &'m Map<String, Value>, tag: u32) -> Option<&'m Value> {
    msg.field_by_tag(tag).and_then(|f| obj.get(f.json))
}

fn mismatch(msg: &Message, field: u32, v: WireValue<'_>) -> ProtoError {
    ProtoError::WireTypeMismatch {
        message: msg.name,
        field,
        got: v.wire_type(),
    }
}

/// Raw embedded bytes as JSON: empty is Go's nil (`null`), a nested `k8s\0` body is decoded.
fn embedded_json(raw: &[u8], depth: usize) -> Result<Value, ProtoError> {
    if raw.is_empty() {
        Ok(Value::Null)
    } else if raw.starts_with(MAGIC) {
        decode_body(raw, depth + 1)
    } else {
        serde_json::from_slice(raw).map_err(|e| ProtoError::InvalidEmbeddedJson(e.to_string()))
    }
}

/// Decodes the fields of an ordinary message into a JSON object.
pub(crate) fn fields(
    buf: &[u8],
    msg: &Message,
    depth: usize,
) -> Result<Map<String, Value>, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    let mut out = Map::new();
    let mut r = Reader::new(buf);
    while let Some((tag, v)) = r.field()? {
        // Unknown fields are skipped, as protobuf readers do.
        let Some(f) = msg.field_by_tag(tag) else {
            continue;
        };
        match f.card {
            Card::Single => {
                let value = scalar(msg, f, f.ty, v, depth)?;
                if f.keep_zero
                    || matches!(f.ty, Ty::Msg(_))
                    || (matches!(f.ty, Ty::Bool) && POINTER_BOOLS.contains(&f.json))
                    || (matches!(f.ty, Ty::I32 | Ty::I64) && POINTER_INTS.contains(&f.json))
                    || !is_zero(&value)
                {
                    out.insert(f.json.into(), value);
                } else {
                    // Go's `omitempty`: a zero value field is indistinguishable from unset.
                    out.remove(f.json);
                }
            }
            Card::Repeated => {
                let slot = out
                    .entry(f.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = slot else { continue };
                let packable = !matches!(f.ty, Ty::Str | Ty::Bytes | Ty::Msg(_));
                match v {
                    WireValue::Len(mut packed) if packable => {
                        let mut pr = Reader::new(packed);
                        while !pr.is_empty() {
                            let item = if f.ty == Ty::F64 {
                                let (head, rest) =
                                    packed.split_at_checked(8).ok_or(ProtoError::Truncated)?;
                                packed = rest;
                                pr = Reader::new(packed);
                                let bits = u64::from_le_bytes(
                                    head.try_into().map_err(|_| ProtoError::Truncated)?,
                                );
                                WireValue::Fixed64(bits)
                            } else {
                                WireValue::Varint(pr.varint()?)
                            };
                            items.push(scalar(msg, f, f.ty, item, depth)?);
                        }
                    }
                    other => items.push(scalar(msg, f, f.ty, other, depth)?),
                }
            }
            Card::Inline => {
                if let Value::Object(embedded) = scalar(msg, f, f.ty, v, depth)? {
                    out.extend(embedded);
                }
            }
            Card::Map => {
                let entry = len_of(v, msg.name, tag)?;
                let (key, value) = map_entry(msg, f, entry, depth)?;
                if let Value::Object(m) = out
                    .entry(f.json)
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    m.insert(key, value);
                }
            }
        }
    }
    Ok(out)
}

fn map_entry(
    msg: &Message,
    f: &Field,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), ProtoError> {
    let (mut key, mut value) = (String::new(), None);
    let mut r = Reader::new(entry);
    while let Some((tag, v)) = r.field()? {
        match tag {
            1 => key = utf8(len_of(v, msg.name, f.tag)?)?,
            2 => value = Some(scalar(msg, f, f.ty, v, depth)?),
            _ => {}
        }
    }
    let value = match value {
        Some(v) => v,
        // An absent map value is the type's zero value.
        None => match f.ty {
            Ty::Msg(i) => message_value(&[], i, depth + 1)?,
            Ty::Str | Ty::Bytes => Value::String(String::new()),
            Ty::Bool => Value::Bool(false),
            Ty::I32 | Ty::I64 | Ty::F64 => Value::from(0),
        },
    };
    Ok((key, value))
}

fn scalar(
    msg: &Message,
    f: &Field,
    ty: Ty,
    v: WireValue<'_>,
    depth: usize,
) -> Result<Value, ProtoError> {
    Ok(match (ty, v) {
        (Ty::Str, WireValue::Len(b)) => Value::String(utf8(b)?),
        (Ty::Bytes, WireValue::Len(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Ty::Bool, WireValue::Varint(x)) => Value::Bool(x != 0),
        (Ty::I32, WireValue::Varint(x)) => Value::from(x as u32 as i32),
        (Ty::I64, WireValue::Varint(x)) => Value::from(x as i64),
        (Ty::F64, WireValue::Fixed64(x)) => Number::from_f64(f64::from_bits(x))
            .map(Value::Number)
            .ok_or_else(|| ProtoError::InvalidJson {
                path: f.json.into(),
                reason: "a non-finite double has no JSON form".into(),
            })?,
        (Ty::Msg(i), WireValue::Len(b)) => message_value(b, i, depth + 1)?,
        (_, other) => return Err(mismatch(msg, f.tag, other)),
    })
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
    }
}
