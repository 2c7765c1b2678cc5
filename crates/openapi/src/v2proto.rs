//! The v2 document in gnostic's `openapi.v2.Document` protobuf encoding
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`).
//!
//! client-go's `OpenAPISchema()` asks for `/openapi/v2` in this encoding only and decodes the
//! answer with `proto.Unmarshal`, so kubectl's v2 fallbacks (client-side validation, explain on
//! old servers, apply's patch metadata) need it. Only the parts of the message tree our documents
//! use are encoded; field numbers are those of gnostic's `OpenAPIv2.proto`. Vendor extensions and
//! other free-form values travel as `Any.yaml` text, which gnostic's compiler also produces and
//! kube-openapi reads back with a YAML parser (JSON text is valid YAML).

use serde_json::{Map, Value};

/// A protobuf message being written: fields appended in the order given.
#[derive(Default)]
struct Message {
    buf: Vec<u8>,
}

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, data: &[u8]) {
        self.key(field, 2);
        self.varint(data.len() as u64);
        self.buf.extend_from_slice(data);
    }

    /// A string field; proto3 leaves empty strings out.
    fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    /// A bool field; proto3 leaves `false` out.
    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }

    /// An int64 field; proto3 leaves zero out.
    fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, 0);
            // Two's complement, as protobuf encodes negative int64 values.
            self.varint(value as u64);
        }
    }

    /// A double field; proto3 leaves zero out.
    fn double(&mut self, field: u32, value: f64) {
        if value != 0.0 {
            self.key(field, 1);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// A sub-message field; always written, because message presence is meaningful.
    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.buf);
    }
}

fn str_of<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

fn bool_of(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings<'a>(map: &'a Map<String, Value>, key: &str) -> impl Iterator<Item = &'a str> {
    map.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// `Any { yaml = 2 }` holding `value` as (JSON-flavoured) YAML text.
fn any(value: &Value) -> Message {
    let mut message = Message::default();
    message.string(2, &value.to_string());
    message
}

/// `repeated NamedAny vendor_extension = field` for every `x-` key of `map`.
fn vendor_extensions(message: &mut Message, field: u32, map: &Map<String, Value>) {
    for (key, value) in map {
        if key.starts_with("x-") {
            let mut named = Message::default();
            named.string(1, key);
            named.message(2, any(value));
            message.message(field, named);
        }
    }
}

/// `openapi.v2.Schema`.
fn schema(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    m.string(1, str_of(map, "$ref"));
    m.string(2, str_of(map, "format"));
    m.string(3, str_of(map, "title"));
    m.string(4, str_of(map, "description"));
    if let Some(default) = map.get("default") {
        m.message(5, any(default));
    }
    let number = |key| map.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let integer = |key| map.get(key).and_then(Value::as_i64).unwrap_or(0);
    m.double(6, number("multipleOf"));
    m.double(7, number("maximum"));
    m.boolean(8, bool_of(map, "exclusiveMaximum"));
    m.double(9, number("minimum"));
    m.boolean(10, bool_of(map, "exclusiveMinimum"));
    m.int64(11, integer("maxLength"));
    m.int64(12, integer("minLength"));
    m.string(13, str_of(map, "pattern"));
    m.int64(14, integer("maxItems"));
    m.int64(15, integer("minItems"));
    m.boolean(16, bool_of(map, "uniqueItems"));
    m.int64(17, integer("maxProperties"));
    m.int64(18, integer("minProperties"));
    for required in strings(map, "required") {
        m.string(19, required);
    }
    for item in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(item));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            // A oneof bool must be written even when false, or the choice is lost.
            item.key(2, 0);
            item.varint(u64::from(*allowed));
            m.message(21, item);
        }
        Some(additional @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(additional));
            m.message(21, item);
        }
        _ => {}
    }
    match map.get("type") {
        Some(Value::String(ty)) => {
            let mut item = Message::default();
            item.string(1, ty);
            m.message(22, item);
        }
        Some(Value::Array(types)) => {
            let mut item = Message::default();
            types
                .iter()
                .filter_map(Value::as_str)
                .for_each(|t| item.string(1, t));
            m.message(22, item);
        }
        _ => {}
    }
    match map.get("items") {
        Some(Value::Array(items)) => {
            let mut item = Message::default();
            items.iter().for_each(|i| item.message(1, schema(i)));
            m.message(23, item);
        }
        Some(items @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(items));
            m.message(23, item);
        }
        _ => {}
    }
    for part in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(part));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut props = Message::default();
        for (name, property) in properties {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(property));
            props.message(1, named);
        }
        m.message(25, props);
    }
    m.string(26, str_of(map, "discriminator"));
    m.boolean(27, bool_of(map, "readOnly"));
    if let Some(example) = map.get("example") {
        m.message(30, any(example));
    }
    vendor_extensions(&mut m, 31, map);
    m
}

/// `openapi.v2.ParametersItem` wrapping a body, query or path parameter.
fn parameter(value: &Value) -> Message {
    let mut item = Message::default();
    let Some(map) = value.as_object() else {
        return item;
    };
    let location = str_of(map, "in");
    let mut parameter = Message::default();
    if location == "body" {
        let mut body = Message::default();
        body.string(1, str_of(map, "description"));
        body.string(2, str_of(map, "name"));
        body.string(3, location);
        body.boolean(4, bool_of(map, "required"));
        if let Some(s) = map.get("schema") {
            body.message(5, schema(s));
        }
        vendor_extensions(&mut body, 6, map);
        parameter.message(1, body);
    } else {
        // Query and path sub-schemas differ in field numbers after `name`.
        let (choice, ty, unique, ext) = match location {
            "path" => (4, 5, 19, 22),
            "header" => (1, 5, 19, 22),
            _ => (3, 6, 20, 23),
        };
        let mut sub = Message::default();
        sub.boolean(1, bool_of(map, "required"));
        sub.string(2, location);
        sub.string(3, str_of(map, "description"));
        sub.string(4, str_of(map, "name"));
        sub.string(ty, str_of(map, "type"));
        sub.boolean(unique, bool_of(map, "uniqueItems"));
        vendor_extensions(&mut sub, ext, map);
        let mut non_body = Message::default();
        non_body.message(choice, sub);
        parameter.message(2, non_body);
    }
    item.message(1, parameter);
    item
}

/// `openapi.v2.Operation`.
fn operation(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    strings(map, "tags").for_each(|t| m.string(1, t));
    m.string(2, str_of(map, "summary"));
    m.string(3, str_of(map, "description"));
    m.string(5, str_of(map, "operationId"));
    strings(map, "produces").for_each(|p| m.string(6, p));
    strings(map, "consumes").for_each(|c| m.string(7, c));
    for p in map
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameter(p));
    }
    if let Some(responses) = map.get("responses").and_then(Value::as_object) {
        let mut list = Message::default();
        for (code, response) in responses {
            let mut body = Message::default();
            if let Some(r) = response.as_object() {
                body.string(1, str_of(r, "description"));
                if let Some(s) = r.get("schema") {
                    let mut item = Message::default();
                    item.message(1, schema(s));
                    body.message(2, item);
                }
            }
            let mut value = Message::default();
            value.message(1, body);
            let mut named = Message::default();
            named.string(1, code);
            named.message(2, value);
            list.message(1, named);
        }
        m.message(9, list);
    }
    strings(map, "schemes").for_each(|s| m.string(10, s));
    m.boolean(11, bool_of(map, "deprecated"));
    vendor_extensions(&mut m, 13, map);
    m
}

/// `openapi.v2.PathItem`.
fn path_item(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(op) = map.get(method) {
            m.message(field, operation(op));
        }
    }
    for p in map
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(9, parameter(p));
    }
    vendor_extensions(&mut m, 10, map);
    m
}

/// Encodes a swagger 2.0 JSON document as gnostic's `openapi.v2.Document`.
pub fn encode_v2(document: &Value) -> Vec<u8> {
    let mut m = Message::default();
    let Some(map) = document.as_object() else {
        return m.buf;
    };
    m.string(1, str_of(map, "swagger"));
    if let Some(info) = map.get("info").and_then(Value::as_object) {
        let mut i = Message::default();
        i.string(1, str_of(info, "title"));
        i.string(2, str_of(info, "version"));
        i.string(3, str_of(info, "description"));
        m.message(2, i);
    }
    if let Some(paths) = map.get("paths").and_then(Value::as_object) {
        let mut p = Message::default();
        for (path, item) in paths {
            let mut named = Message::default();
            named.string(1, path);
            named.message(2, path_item(item));
            p.message(2, named);
        }
        m.message(8, p);
    }
    if let Some(definitions) = map.get("definitions").and_then(Value::as_object) {
        let mut d = Message::default();
        for (name, definition) in definitions {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(definition));
            d.message(1, named);
        }
        m.message(9, d);
    }
    for requirement in map
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut r = Message::default();
        for (name, scopes) in requirement.as_object().into_iter().flatten() {
            let mut array = Message::default();
            for scope in scopes
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                array.string(1, scope);
            }
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, array);
            r.message(1, named);
        }
        m.message(12, r);
    }
    if let Some(definitions) = map.get("securityDefinitions").and_then(Value::as_object) {
        let mut d = Message::default();
        for (name, definition) in definitions {
            let Some(def) = definition.as_object() else {
                continue;
            };
            let mut item = Message::default();
            if str_of(def, "type") == "apiKey" {
                let mut key = Message::default();
                key.string(1, "apiKey");
                key.string(2, str_of(def, "name"));
                key.string(3, str_of(def, "in"));
                key.string(4, str_of(def, "description"));
                item.message(2, key);
            } else {
                let mut basic = Message::default();
                basic.string(1, str_of(def, "type"));
                basic.string(2, str_of(def, "description"));
                item.message(1, basic);
            }
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, item);
            d.message(1, named);
        }
        m.message(13, d);
    }
    vendor_extensions(&mut m, 16, map);
    m.buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_keys() {
        let mut m = Message::default();
        m.string(1, "v");
        m.int64(2, 300);
        m.boolean(3, true);
        assert_eq!(m.buf, vec![0x0a, 0x01, b'v', 0x10, 0xac, 0x02, 0x18, 0x01]);
    }

    #[test]
    fn defaults_are_omitted() {
        let mut m = Message::default();
        m.string(1, "");
        m.boolean(2, false);
        m.int64(3, 0);
        m.double(4, 0.0);
        assert!(m.buf.is_empty());
    }

    #[test]
    fn document_header() {
        let bytes =
            encode_v2(&json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1"}}));
        // swagger = "2.0", then info { title, version }.
        assert_eq!(&bytes[..5], &[0x0a, 0x03, b'2', b'.', b'0']);
        assert_eq!(bytes[5], 0x12);
        assert!(bytes.windows(10).any(|w| w == b"Kubernetes"));
    }

    #[test]
    fn schema_type_and_ref_fields() {
        let s = schema(&json!({"type": "string", "$ref": "#/definitions/X"}));
        // _ref = 1 first, then type = 22 (key 0xb2 0x01) holding TypeItem { value = "string" }.
        assert_eq!(s.buf[0], 0x0a);
        let type_at = s.buf.len() - 11;
        assert_eq!(&s.buf[type_at..type_at + 3], &[0xb2, 0x01, 0x08]);
        assert_eq!(&s.buf[type_at + 3..type_at + 5], &[0x0a, 0x06]);
    }

    #[test]
    fn vendor_extension_carries_json_as_yaml() {
        let s = schema(
            &json!({"x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}]}),
        );
        let text = String::from_utf8_lossy(&s.buf);
        assert!(text.contains("x-kubernetes-group-version-kind"));
        assert!(text.contains(r#"[{"group":"","kind":"Pod","version":"v1"}]"#));
    }
}
