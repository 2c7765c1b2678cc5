//! Upstream `ValidateCustomResourceDefinition(Update)` over a v1 CRD's JSON.
//!
//! Upstream validates the *internal* form: converting from v1 moves per-version schema,
//! subresources and printer columns to the top level (`spec.validation`, `spec.subresources`,
//! `spec.additionalPrinterColumns`) when all versions carry identical ones, and sets
//! `spec.version` to the first version's name. Causes are spelled accordingly.

mod conversion;
mod defaults_check;
mod schema_rules;

use ferrokube_apimachinery::validation::{is_dns1035_label, is_dns1123_subdomain, FieldError};
use serde_json::Value;

use crate::field::{self, Path};
use crate::{jsonpath, structural};

/// Fields allowed at the schema root when the status subresource is on (Go field names
/// mapped to their JSON keys).
const ALLOWED_AT_ROOT_WITH_STATUS: [&str; 22] = [
    "description",
    "type",
    "format",
    "title",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "required",
    "items",
    "properties",
    "externalDocs",
    "example",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
];
const ALLOWED_AT_ROOT_GO: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";
const PRINTER_COLUMN_TYPES: &str = "boolean,date,integer,number,string";
const PRINTER_COLUMN_FORMATS: [&str; 8] = [
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn nonempty(v: Option<&Value>) -> Option<&Value> {
    v.filter(|x| match x {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        _ => true,
    })
}

/// A per-version field hoisted to the top level when identical across all versions.
fn hoisted<'a>(versions: &'a [Value], key: &str) -> Option<Option<&'a Value>> {
    let first = nonempty(versions.first()?.get(key));
    versions
        .iter()
        .all(|v| nonempty(v.get(key)) == first)
        .then_some(first)
}

/// v1 defaulting the registry applies before validation (upstream SetDefaults): singular,
/// listKind and the conversion strategy.
pub(crate) fn apply_defaults(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let empty = |k: &str, n: &serde_json::Map<String, Value>| {
            n.get(k).and_then(Value::as_str).unwrap_or("").is_empty()
        };
        if empty("singular", names) {
            names.insert("singular".into(), Value::String(kind.to_lowercase()));
        }
        if empty("listKind", names) && !kind.is_empty() {
            names.insert("listKind".into(), Value::String(format!("{kind}List")));
        }
    }
    let conversion = spec
        .entry("conversion")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(c) = conversion.as_object_mut() {
        c.entry("strategy")
            .or_insert_with(|| Value::String("None".into()));
    }
}

fn established(crd: &Value) -> bool {
    arr(crd, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "Established" && s(c, "/status") == "True")
}

pub(crate) fn validate(new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut crd = new.clone();
    apply_defaults(&mut crd);
    let mut errs = Vec::new();

    let name = s(&crd, "/metadata/name");
    let required_name = format!(
        "{}.{}",
        s(&crd, "/spec/names/plural"),
        s(&crd, "/spec/group")
    );
    if name != required_name {
        errs.push(field::invalid_str(
            &Path::new("metadata.name"),
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }

    spec(&crd, &Path::new("spec"), &mut errs);

    if let Some(old) = old {
        let path = Path::new("spec");
        let mut immutable = |ptr: &str, at: Path| {
            if s(&crd, ptr) != s(old, ptr) {
                errs.push(field::invalid_str(&at, s(&crd, ptr), "field is immutable"));
            }
        };
        if established(old) {
            immutable("/spec/scope", path.child("scope"));
            immutable("/spec/names/kind", path.child("names").child("kind"));
        }
        immutable("/spec/group", path.child("group"));
        immutable("/spec/names/plural", path.child("names").child("plural"));
    }

    stored_versions(&crd, old, &mut errs);
    api_approval(&crd, old, &mut errs);
    let preserve = |c: &Value| {
        c.pointer("/spec/preserveUnknownFields")
            .and_then(Value::as_bool)
            == Some(true)
    };
    if preserve(&crd) && !old.is_some_and(preserve) {
        errs.push(field::invalid_raw(
            &Path::new("spec.preserveUnknownFields"),
            "true",
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs
}

fn spec(crd: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let group = s(crd, "/spec/group");
    if group.is_empty() {
        errs.push(field::required(&path.child("group"), ""));
    } else {
        let msgs = is_dns1123_subdomain(group);
        if !msgs.is_empty() {
            errs.push(field::invalid_str(
                &path.child("group"),
                group,
                &msgs.join(","),
            ));
        } else if !group.contains('.') {
            errs.push(field::invalid_str(
                &path.child("group"),
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match s(crd, "/spec/scope") {
        "" => errs.push(field::required(&path.child("scope"), "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(field::not_supported(
            &path.child("scope"),
            &Value::String(other.into()),
            &["Cluster".into(), "Namespaced".into()],
        )),
    }

    let versions = arr(crd, "/spec/versions");
    let top_schema = hoisted(versions, "schema").flatten();
    let top_subresources = hoisted(versions, "subresources").flatten();
    let top_columns = hoisted(versions, "additionalPrinterColumns").flatten();
    let preserve_unknown = crd
        .pointer("/spec/preserveUnknownFields")
        .and_then(Value::as_bool)
        == Some(true);

    if top_schema.and_then(|v| v.get("openAPIV3Schema")).is_none() {
        for (i, v) in versions.iter().enumerate() {
            if v.pointer("/schema/openAPIV3Schema")
                .is_none_or(Value::is_null)
            {
                errs.push(field::required(
                    &path
                        .child("versions")
                        .index(i)
                        .child("schema")
                        .child("openAPIV3Schema"),
                    "schemas are required",
                ));
            }
        }
    }
    let has_defaults = versions
        .iter()
        .filter_map(|v| v.pointer("/schema/openAPIV3Schema"))
        .any(schema_has_default);
    if has_defaults && preserve_unknown {
        errs.push(field::invalid_raw(
            &path.child("preserveUnknownFields"),
            "true",
            "must be false in order to use defaults in the schema",
        ));
    }

    let mut storage = 0;
    let mut names: Vec<&str> = Vec::new();
    let mut unique = true;
    for (i, v) in versions.iter().enumerate() {
        let vpath = path.child("versions").index(i);
        let vname = s(v, "/name");
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage += 1;
        }
        if names.contains(&vname) {
            unique = false;
        } else {
            names.push(vname);
        }
        let msgs = is_dns1035_label(vname);
        if !msgs.is_empty() {
            errs.push(field::invalid_str(
                &vpath.child("name"),
                vname,
                &msgs.join(","),
            ));
        }
        deprecation_warning(v, &vpath, errs);
        let status_enabled = match top_subresources {
            Some(sr) => sr.get("status").is_some_and(|x| !x.is_null()),
            None if hoisted(versions, "subresources").is_some() => false,
            None => v
                .pointer("/subresources/status")
                .is_some_and(|x| !x.is_null()),
        };
        if top_schema.is_none() {
            schema_validation(
                v.get("schema"),
                status_enabled,
                &vpath.child("schema"),
                errs,
            );
        }
        if top_subresources.is_none() {
            subresources(v.get("subresources"), &vpath.child("subresources"), errs);
        }
        if top_columns.is_none() {
            for (j, c) in arr(v, "/additionalPrinterColumns").iter().enumerate() {
                column(c, &vpath.child("additionalPrinterColumns").index(j), errs);
            }
        }
        for (j, f) in arr(v, "/selectableFields").iter().enumerate() {
            if s(f, "/jsonPath").is_empty() {
                errs.push(field::required(
                    &vpath.child("selectableFields").index(j).child("jsonPath"),
                    "",
                ));
            }
        }
    }
    let versions_value = || Value::Array(versions.to_vec()).to_string();
    if !unique {
        errs.push(field::invalid_raw(
            &path.child("versions"),
            &versions_value(),
            "must contain unique version names",
        ));
    }
    if storage != 1 {
        errs.push(field::invalid_raw(
            &path.child("versions"),
            &versions_value(),
            "must have exactly one version marked as storage version",
        ));
    }
    if let Some(first) = versions.first() {
        let version = s(first, "/name");
        let msgs = is_dns1035_label(version);
        if !version.is_empty() && !msgs.is_empty() {
            errs.push(field::invalid_str(
                &path.child("version"),
                version,
                &msgs.join(","),
            ));
        }
    }

    let names_path = path.child("names");
    for key in ["plural", "singular", "kind", "listKind"] {
        if s(crd, &format!("/spec/names/{key}")).is_empty() {
            errs.push(field::required(&names_path.child(key), ""));
        }
    }
    crd_names(
        crd.pointer("/spec/names").unwrap_or(&Value::Null),
        &names_path,
        errs,
    );

    if top_schema.is_some() {
        let any_status = versions.iter().any(|v| {
            v.pointer("/subresources/status")
                .is_some_and(|x| !x.is_null())
        });
        schema_validation(top_schema, any_status, &path.child("validation"), errs);
    }
    subresources(top_subresources, &path.child("subresources"), errs);
    for (j, c) in top_columns
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        column(c, &path.child("additionalPrinterColumns").index(j), errs);
    }
    if let Some(conv) = crd.pointer("/spec/conversion") {
        conversion::validate(conv, preserve_unknown, &path.child("conversion"), errs);
    }
}

fn schema_has_default(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            m.get("default").is_some_and(|d| !d.is_null()) || m.values().any(schema_has_default)
        }
        Value::Array(a) => a.iter().any(schema_has_default),
        _ => false,
    }
}

fn deprecation_warning(v: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(w) = v.get("deprecationWarning").and_then(Value::as_str) else {
        return;
    };
    let at = path.child("deprecationWarning");
    if v.get("deprecated").and_then(Value::as_bool) != Some(true) {
        errs.push(field::invalid_str(
            &at,
            w,
            "can only be set for deprecated versions",
        ));
        return;
    }
    if w.len() > 256 {
        errs.push(field::invalid_str(&at, w, "must be <= 256 characters long"));
    }
    if w.is_empty() {
        errs.push(field::invalid_str(&at, w, "must not be an empty string"));
    }
    if let Some((i, _)) = w.char_indices().find(|(_, c)| c.is_control()) {
        errs.push(field::invalid_str(
            &at,
            w,
            &format!("must only contain printable UTF-8 characters; non-printable character found at index {i}"),
        ));
    }
}

/// ValidateCustomResourceDefinitionNames.
fn crd_names(names: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    for key in ["plural", "singular"] {
        let v = s(names, &format!("/{key}"));
        let msgs = is_dns1035_label(v);
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(field::invalid_str(&path.child(key), v, &msgs.join(",")));
        }
    }
    for key in ["kind", "listKind"] {
        let v = s(names, &format!("/{key}"));
        let msgs = is_dns1035_label(&v.to_lowercase());
        if !v.is_empty() && !msgs.is_empty() {
            let detail = format!(
                "may have mixed case, but should otherwise match: {}",
                msgs.join(",")
            );
            errs.push(field::invalid_str(&path.child(key), v, &detail));
        }
    }
    for (i, short) in arr(names, "/shortNames").iter().enumerate() {
        let v = short.as_str().unwrap_or("");
        let msgs = is_dns1035_label(v);
        if !msgs.is_empty() {
            errs.push(field::invalid_str(
                &path.child("shortNames").index(i),
                v,
                &msgs.join(","),
            ));
        }
    }
    let kind = s(names, "/kind");
    if !kind.is_empty() && kind == s(names, "/listKind") {
        errs.push(field::invalid_str(
            &path.child("listKind"),
            kind,
            "kind and listKind may not be the same",
        ));
    }
    for (i, cat) in arr(names, "/categories").iter().enumerate() {
        let v = cat.as_str().unwrap_or("");
        let msgs = is_dns1035_label(v);
        if !msgs.is_empty() {
            errs.push(field::invalid_str(
                &path.child("categories").index(i),
                v,
                &msgs.join(","),
            ));
        }
    }
}

/// validateCustomResourceDefinitionValidation for one `schema` (`{openAPIV3Schema: ...}`).
fn schema_validation(
    validation: Option<&Value>,
    status_enabled: bool,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let Some(schema) = validation
        .and_then(|v| v.get("openAPIV3Schema"))
        .filter(|s| s.is_object())
    else {
        return;
    };
    let spath = path.child("openAPIV3Schema");
    if status_enabled {
        root_with_status(schema, path, errs);
    }
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        errs.push(field::forbidden(
            &path.child("openAPIV3Schema.nullable"),
            "nullable cannot be true at the root",
        ));
    }
    let structural_errs = structural::validate(&spath, schema);
    if structural_errs.is_empty() {
        defaults_check::validate(&spath, schema, errs);
    } else {
        errs.extend(structural_errs);
    }
    schema_rules::validate(schema, &spath, &schema_rules::Ctx::default(), true, errs);
}

fn root_with_status(schema: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(m) = schema.as_object() else { return };
    for (k, v) in m {
        let zero = matches!(v, Value::Null | Value::Bool(false))
            || v.as_str() == Some("")
            || v.as_array().is_some_and(Vec::is_empty)
            || v.as_object().is_some_and(|o| o.is_empty());
        if zero {
            continue;
        }
        if k == "type" {
            if v.as_str() != Some("object") {
                errs.push(field::invalid(
                    &path.child("openAPIV3Schema.type"),
                    v,
                    "only \"object\" is allowed as the type at the root of the schema if the status subresource is enabled",
                ));
                return;
            }
            continue;
        }
        if !ALLOWED_AT_ROOT_WITH_STATUS.contains(&k.as_str()) {
            errs.push(field::invalid_raw(
                &path.child("openAPIV3Schema"),
                &schema.to_string(),
                &format!("only {ALLOWED_AT_ROOT_GO} fields are allowed at the root of the schema if the status subresource is enabled"),
            ));
            return;
        }
    }
}

fn simple_json_path(p: &str, path: &Path, errs: &mut Vec<FieldError>) -> bool {
    let before = errs.len();
    if p.is_empty() {
        errs.push(field::invalid_str(path, p, "must not be empty"));
    } else if !p.starts_with('.') {
        errs.push(field::invalid_str(
            path,
            p,
            "must be a simple json path starting with .",
        ));
    }
    errs.len() == before
}

fn subresources(sr: Option<&Value>, path: &Path, errs: &mut Vec<FieldError>) {
    let Some(scale) = sr.and_then(|s| s.get("scale")).filter(|s| s.is_object()) else {
        return;
    };
    let spec_path = s(scale, "/specReplicasPath");
    let at = path.child("scale.specReplicasPath");
    if spec_path.is_empty() {
        errs.push(field::required(&at, ""));
    } else if simple_json_path(spec_path, &at, errs) && !spec_path.starts_with(".spec.") {
        errs.push(field::invalid_str(
            &at,
            spec_path,
            "should be a json path under .spec",
        ));
    }
    let status_path = s(scale, "/statusReplicasPath");
    let at = path.child("scale.statusReplicasPath");
    if status_path.is_empty() {
        errs.push(field::required(&at, ""));
    } else if simple_json_path(status_path, &at, errs) && !status_path.starts_with(".status.") {
        errs.push(field::invalid_str(
            &at,
            status_path,
            "should be a json path under .status",
        ));
    }
    let selector = s(scale, "/labelSelectorPath");
    let at = path.child("scale.labelSelectorPath");
    if !selector.is_empty()
        && simple_json_path(selector, &at, errs)
        && !selector.starts_with(".spec.")
        && !selector.starts_with(".status.")
    {
        errs.push(field::invalid_str(
            &at,
            selector,
            "should be a json path under either .spec or .status",
        ));
    }
}

fn column(c: &Value, path: &Path, errs: &mut Vec<FieldError>) {
    if s(c, "/name").is_empty() {
        errs.push(field::required(&path.child("name"), ""));
    }
    let ty = s(c, "/type");
    let msg = format!("must be one of {PRINTER_COLUMN_TYPES}");
    if ty.is_empty() {
        errs.push(field::required(&path.child("type"), &msg));
    } else if !PRINTER_COLUMN_TYPES.split(',').any(|t| t == ty) {
        errs.push(field::invalid_str(&path.child("type"), ty, &msg));
    }
    let format = s(c, "/format");
    if !format.is_empty() && !PRINTER_COLUMN_FORMATS.contains(&format) {
        errs.push(field::invalid_str(
            &path.child("format"),
            format,
            &format!("must be one of {}", PRINTER_COLUMN_FORMATS.join(",")),
        ));
    }
    let jp = s(c, "/jsonPath");
    let at = path.child("JSONPath");
    if jp.is_empty() {
        errs.push(field::required(&at, ""));
    } else if simple_json_path(jp, &at, errs) && !jsonpath::is_valid(jp) {
        errs.push(field::invalid_str(
            &at,
            jp,
            "must be a valid JSONPath expression",
        ));
    }
}

/// status.storedVersions as the strategy leaves them (PrepareForCreate/Update) must list the
/// storage version and only versions still in spec.versions.
fn stored_versions(crd: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    let path = Path::new("status.storedVersions");
    let source = old.unwrap_or(crd);
    let mut stored: Vec<String> = arr(source, "/status/storedVersions")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let versions = arr(crd, "/spec/versions");
    if let Some(storage) = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
    {
        let name = s(storage, "/name").to_owned();
        if !stored.contains(&name) {
            stored.push(name);
        }
    }
    if stored.is_empty() {
        errs.push(field::invalid_raw(
            &path,
            "[]string{}",
            "must have at least one stored version",
        ));
        return;
    }
    for (i, v) in stored.iter().enumerate() {
        if !versions.iter().any(|x| s(x, "/name") == v) {
            errs.push(field::invalid_str(
                &path.index(i),
                v,
                &format!("missing from spec.versions; {v} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in {v} and removes {v} from status.storedVersions"),
            ));
        }
    }
}

const APPROVAL_ANNOTATION: &str = "api-approved.kubernetes.io";

fn is_protected_group(group: &str) -> bool {
    group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io")
}

/// (state, reason) as upstream's GetAPIApprovalState: 0 missing, 1 invalid, 2 approved/bypassed.
fn approval_state(crd: &Value) -> (u8, String) {
    let Some(v) = crd
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
    else {
        return (
            0,
            format!("protected groups must have approval annotation {:?}, see https://github.com/kubernetes/enhancements/pull/1111", APPROVAL_ANNOTATION),
        );
    };
    if v.starts_with("unapproved") {
        return (2, String::new());
    }
    let valid_url = v
        .split_once("://")
        .is_some_and(|(scheme, rest)| (scheme == "http" || scheme == "https") && !rest.is_empty());
    if valid_url {
        (2, String::new())
    } else {
        (
            1,
            format!("protected groups must have approval annotation {:?} with either a URL or a reason starting with \"unapproved\", see https://github.com/kubernetes/enhancements/pull/1111", APPROVAL_ANNOTATION),
        )
    }
}

fn api_approval(crd: &Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if !is_protected_group(s(crd, "/spec/group")) {
        return;
    }
    let (state, reason) = approval_state(crd);
    if old.is_some_and(|o| approval_state(o).0 == state) {
        return;
    }
    let at = Path::new("metadata.annotations").key(APPROVAL_ANNOTATION);
    let value = crd
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(APPROVAL_ANNOTATION))
        .and_then(Value::as_str)
        .unwrap_or("");
    match state {
        0 => errs.push(field::required(&at, &reason)),
        1 => errs.push(field::invalid_str(&at, value, &reason)),
        _ => {}
    }
}
