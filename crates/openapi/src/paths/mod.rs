//! REST paths and operations for each served kind, shaped like kube-apiserver's installer
//! documents them, rendered in either OpenAPI version.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::kind::ApiKind;
use crate::params::{self, Param};
use crate::schema::{Gvk, GVK_EXTENSION, V2_REF_PREFIX, V3_REF_PREFIX};

mod subresources;

/// Definition name of meta/v1 Status, answered by deletes.
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// Definition name of meta/v1 DeleteOptions, the optional body of deletes.
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// Definition name of meta/v1 WatchEvent, the frame of watch streams.
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
/// Definition name of meta/v1 Patch, the body of patches.
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// Definition name of autoscaling/v1 Scale, the body of the scale subresource.
pub(crate) const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
/// Definition name of meta/v1 APIResourceList, answered by group-version discovery.
pub(crate) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
];
const PRODUCES_STREAM: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/cbor-seq",
];
const CONSUMES_PATCH: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
];

/// One documented response of an operation.
#[derive(Clone, Debug)]
struct Response {
    code: &'static str,
    description: &'static str,
    schema: Option<Answer>,
}

/// What a response carries.
#[derive(Clone, Debug)]
enum Answer {
    /// An object of the named definition.
    Object(String),
    /// Text or bytes that are not an API object (logs, connections, proxied answers).
    Text,
}

impl Answer {
    fn schema(&self, v3: bool) -> Value {
        match self {
            Answer::Object(name) => reference(name, v3),
            Answer::Text => serde_json::json!({ "type": "string" }),
        }
    }
}

/// One HTTP operation on a path.
#[derive(Clone, Debug)]
pub(crate) struct Operation {
    /// Lower-case HTTP method: get, put, post, delete, patch.
    pub method: &'static str,
    /// Upstream-style operationId, e.g. `createCoreV1NamespacedPod`.
    pub id: String,
    description: String,
    /// `x-kubernetes-action` value.
    pub action: Option<&'static str>,
    /// `x-kubernetes-group-version-kind` of the object the operation handles.
    pub gvk: Option<Gvk>,
    /// Operation-level query parameters.
    pub params: Vec<Param>,
    body: Option<(String, bool)>,
    consumes: &'static [&'static str],
    produces: &'static [&'static str],
    responses: Vec<Response>,
    tag: String,
}

/// One path with its shared parameters and operations.
#[derive(Clone, Debug)]
pub(crate) struct PathItem {
    /// The URL path template, e.g. `/api/v1/namespaces/{namespace}/pods`.
    pub path: String,
    params: Vec<Param>,
    /// Operations, in the order they were added.
    pub operations: Vec<Operation>,
}

/// `rbac.authorization.k8s.io` → `RbacAuthorization`, `""` → `Core`: the group as operation ids spell it.
fn group_word(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    let trimmed = group.strip_suffix(".k8s.io").unwrap_or(group);
    trimmed
        .split(['.', '-'])
        .map(capitalize)
        .collect::<Vec<_>>()
        .join("")
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The tag upstream files a group-version's operations under, e.g. `core_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let word = group_word(group);
    let mut chars = word.chars();
    let lowered: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{lowered}_{version}")
}

/// URL prefix of a group-version: `/api/v1` or `/apis/<group>/<version>`.
fn prefix(group: &str, version: &str) -> String {
    format!("/{}", crate::kind::group_version_path(group, version))
}

fn ok(schema: &str) -> Response {
    Response {
        code: "200",
        description: "OK",
        schema: Some(Answer::Object(schema.to_string())),
    }
}

fn created(schema: &str) -> Response {
    Response {
        code: "201",
        description: "Created",
        schema: Some(Answer::Object(schema.to_string())),
    }
}

fn accepted(schema: &str) -> Response {
    Response {
        code: "202",
        description: "Accepted",
        schema: Some(Answer::Object(schema.to_string())),
    }
}

/// 200 with a text answer.
fn ok_text() -> Response {
    Response {
        code: "200",
        description: "OK",
        schema: Some(Answer::Text),
    }
}

fn unauthorized() -> Response {
    Response {
        code: "401",
        description: "Unauthorized",
        schema: None,
    }
}

/// What every operation on one kind shares: its URL base, the words of its operation ids, its
/// tag, and whether it is namespaced.
pub(crate) struct KindScope<'a> {
    kind: &'a ApiKind,
    /// `/api/v1` or `/apis/<group>/<version>`.
    base: String,
    /// `CoreV1`, `AppsV1`: the group-version as operation ids spell it.
    gv_id: String,
    /// `Namespaced` or nothing, as operation ids spell the scope.
    scope: &'static str,
    /// `/namespaces/{namespace}` or nothing.
    ns_segment: &'static str,
    gvk: Gvk,
    tag: String,
}

impl<'a> KindScope<'a> {
    fn new(kind: &'a ApiKind) -> Self {
        KindScope {
            kind,
            base: prefix(&kind.group, &kind.version),
            gv_id: format!("{}{}", group_word(&kind.group), capitalize(&kind.version)),
            scope: if kind.namespaced { "Namespaced" } else { "" },
            ns_segment: if kind.namespaced {
                "/namespaces/{namespace}"
            } else {
                ""
            },
            gvk: Gvk::new(&kind.group, &kind.version, &kind.kind),
            tag: tag(&kind.group, &kind.version),
        }
    }

    /// An operation on the kind: `id` is `<verb>` + the group-version, scope and kind words +
    /// `suffix` (`readCoreV1NamespacedPodStatus`); parameters, body and responses are the
    /// caller's to add.
    fn op(&self, method: &'static str, verb: &str, suffix: &str, description: String) -> Operation {
        let (gv_id, scope, name) = (&self.gv_id, self.scope, &self.kind.kind);
        Operation {
            method,
            id: format!("{verb}{gv_id}{scope}{name}{suffix}"),
            description,
            action: None,
            gvk: Some(self.gvk.clone()),
            params: Vec::new(),
            body: None,
            consumes: &["*/*"],
            produces: PRODUCES,
            responses: Vec::new(),
            tag: self.tag.clone(),
        }
    }

    /// The path of one object, e.g. `/api/v1/namespaces/{namespace}/pods/{name}`.
    fn object_path(&self) -> String {
        format!(
            "{}{}/{}/{{name}}",
            self.base, self.ns_segment, self.kind.plural
        )
    }

    /// Path-level parameters: `extra`, the namespace when namespaced, then `pretty`.
    fn scope_params(&self, extra: Vec<Param>) -> Vec<Param> {
        let mut out = self.scope_params_plain(extra);
        out.push(params::pretty());
        out
    }

    /// Path-level parameters without `pretty` (connections answer no object to indent).
    fn scope_params_plain(&self, extra: Vec<Param>) -> Vec<Param> {
        let mut out = extra;
        if self.kind.namespaced {
            out.push(params::namespace());
        }
        out
    }
}

impl Operation {
    fn action(mut self, action: &'static str) -> Self {
        self.action = Some(action);
        self
    }

    fn params(mut self, params: Vec<Param>) -> Self {
        self.params = params;
        self
    }

    fn body(mut self, schema: &str, required: bool) -> Self {
        self.body = Some((schema.to_string(), required));
        self
    }

    fn responses(mut self, responses: Vec<Response>) -> Self {
        self.responses = responses;
        self
    }
}

/// Builds the paths for one kind; `schema`/`list_schema` are its definition names and `bodies`
/// the definition names of its create subresources' bodies, by subresource.
pub(crate) fn kind_paths(
    kind: &ApiKind,
    schema: &str,
    list_schema: &str,
    bodies: &BTreeMap<String, String>,
) -> Vec<PathItem> {
    let ks = KindScope::new(kind);
    let name = &kind.kind;
    let mut items = Vec::new();

    // The collection: list, create, deletecollection.
    let mut collection = Vec::new();
    if kind.supports("list") {
        let mut list = ks
            .op(
                "get",
                "list",
                "",
                format!("list or watch objects of kind {name}"),
            )
            .action("list")
            .params(params::list())
            .responses(vec![ok(list_schema), unauthorized()]);
        list.produces = PRODUCES_STREAM;
        collection.push(list);
    }
    if kind.supports("create") {
        collection.push(
            ks.op("post", "create", "", format!("create a {name}"))
                .action("post")
                .params(params::write(false))
                .body(schema, true)
                .responses(vec![
                    ok(schema),
                    created(schema),
                    accepted(schema),
                    unauthorized(),
                ]),
        );
    }
    if kind.supports("deletecollection") {
        let mut delete = ks
            .op(
                "delete",
                "delete",
                "",
                format!("delete collection of {name}"),
            )
            .action("deletecollection")
            .params(params::delete_collection())
            .body(DELETE_OPTIONS, false)
            .responses(vec![ok(STATUS), unauthorized()]);
        // Upstream spells it `deleteCoreV1CollectionNamespacedPod`.
        delete.id = format!("delete{}Collection{}{name}", ks.gv_id, ks.scope);
        collection.push(delete);
    }
    if !collection.is_empty() {
        items.push(PathItem {
            path: format!("{}{}/{}", ks.base, ks.ns_segment, kind.plural),
            params: ks.scope_params(Vec::new()),
            operations: collection,
        });
    }

    // The single object: read, replace, patch, delete.
    let mut object = object_operations(&ks, "", "the specified", schema);
    if kind.supports("delete") {
        object.push(
            ks.op("delete", "delete", "", format!("delete a {name}"))
                .action("delete")
                .params(params::delete())
                .body(DELETE_OPTIONS, false)
                .responses(vec![ok(STATUS), accepted(STATUS), unauthorized()]),
        );
    }
    if !object.is_empty() {
        items.push(PathItem {
            path: ks.object_path(),
            params: ks.scope_params(vec![params::name(name)]),
            operations: object,
        });
    }

    for sub in &kind.subresources {
        items.extend(subresources::paths(&ks, sub, schema, bodies));
    }

    items.extend(cross_namespace_and_watch_paths(&ks, list_schema));
    for item in &mut items {
        item.params.sort_by(|a, b| a.name.cmp(b.name));
    }
    items
}

/// Reads, replaces and patches of one object or of a subresource carrying `body`, as the verbs
/// allow; `suffix` ends the operation ids (`Status`) and `what` the descriptions.
fn object_operations(ks: &KindScope, suffix: &str, what: &str, body: &str) -> Vec<Operation> {
    let name = &ks.kind.kind;
    let mut ops = Vec::new();
    if ks.kind.supports("get") {
        ops.push(
            ks.op("get", "read", suffix, format!("read {what} {name}"))
                .action("get")
                .responses(vec![ok(body), unauthorized()]),
        );
    }
    if ks.kind.supports("update") {
        ops.push(
            ks.op("put", "replace", suffix, format!("replace {what} {name}"))
                .action("put")
                .params(params::write(false))
                .body(body, true)
                .responses(vec![ok(body), created(body), unauthorized()]),
        );
    }
    if ks.kind.supports("patch") {
        let mut patch = ks
            .op(
                "patch",
                "patch",
                suffix,
                format!("partially update {what} {name}"),
            )
            .action("patch")
            .params(params::patch())
            .body(PATCH, true)
            .responses(vec![ok(body), created(body), unauthorized()]);
        patch.consumes = CONSUMES_PATCH;
        ops.push(patch);
    }
    ops
}

/// The list across namespaces and the deprecated watch paths, which upstream still documents
/// with every list parameter shared.
fn cross_namespace_and_watch_paths(ks: &KindScope, list_schema: &str) -> Vec<PathItem> {
    let (kind, base, gv_id, scope) = (ks.kind, &ks.base, &ks.gv_id, ks.scope);
    let (name, plural, ns_segment) = (&kind.kind, &kind.plural, ks.ns_segment);
    let shared = |extra: Vec<Param>, namespaced: bool| {
        let mut shared = params::list();
        shared.extend(extra);
        if namespaced {
            shared.push(params::namespace());
        }
        shared.push(params::pretty());
        shared
    };
    let streaming = |id: String, description: String, action, schema: &str| {
        let mut op = ks
            .op("get", "", "", description)
            .action(action)
            .responses(vec![ok(schema), unauthorized()]);
        op.id = id;
        op.produces = PRODUCES_STREAM;
        op
    };
    let mut items = Vec::new();
    if kind.supports("list") && kind.namespaced {
        items.push(PathItem {
            path: format!("{base}/{plural}"),
            params: shared(Vec::new(), false),
            operations: vec![streaming(
                format!("list{gv_id}{name}ForAllNamespaces"),
                format!("list or watch objects of kind {name}"),
                "list",
                list_schema,
            )],
        });
    }
    if !kind.supports("watch") {
        return items;
    }
    let list_text = format!("watch individual changes to a list of {name}. deprecated: use the 'watch' parameter with a list operation instead.");
    items.push(PathItem {
        path: format!("{base}/watch{ns_segment}/{plural}"),
        params: shared(Vec::new(), kind.namespaced),
        operations: vec![streaming(
            format!("watch{gv_id}{scope}{name}List"),
            list_text.clone(),
            "watchlist",
            WATCH_EVENT,
        )],
    });
    items.push(PathItem {
        path: format!("{base}/watch{ns_segment}/{plural}/{{name}}"),
        params: shared(vec![params::name(name)], kind.namespaced),
        operations: vec![streaming(format!("watch{gv_id}{scope}{name}"), format!("watch changes to an object of kind {name}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."), "watch", WATCH_EVENT)],
    });
    if kind.namespaced {
        items.push(PathItem {
            path: format!("{base}/watch/{plural}"),
            params: shared(Vec::new(), false),
            operations: vec![streaming(
                format!("watch{gv_id}{name}ListForAllNamespaces"),
                list_text,
                "watchlist",
                WATCH_EVENT,
            )],
        });
    }
    items
}

/// The group-version discovery path (`/api/v1/`), answered with an APIResourceList.
pub(crate) fn discovery_path(group: &str, version: &str) -> PathItem {
    let operation = Operation {
        method: "get",
        id: format!(
            "get{}{}APIResources",
            group_word(group),
            capitalize(version)
        ),
        description: "get available resources".to_string(),
        action: None,
        gvk: None,
        params: Vec::new(),
        body: None,
        consumes: &[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
            "application/cbor",
        ],
        produces: PRODUCES,
        responses: vec![ok(API_RESOURCE_LIST), unauthorized()],
        tag: tag(group, version),
    };
    PathItem {
        path: format!("{}/", prefix(group, version)),
        params: Vec::new(),
        operations: vec![operation],
    }
}

fn reference(name: &str, v3: bool) -> Value {
    let prefix = if v3 { V3_REF_PREFIX } else { V2_REF_PREFIX };
    let mut map = Map::new();
    map.insert("$ref".into(), format!("{prefix}{name}").into());
    Value::Object(map)
}

fn strings(values: &[&str]) -> Value {
    Value::Array(values.iter().map(|v| Value::from(*v)).collect())
}

impl Operation {
    /// Renders the operation in OpenAPI v2 (`v3 == false`) or v3 form.
    fn render(&self, v3: bool) -> Value {
        let mut map = Map::new();
        map.insert("description".into(), self.description.clone().into());
        map.insert("operationId".into(), self.id.clone().into());
        let mut parameters = params::render(&self.params, v3);
        if let Some((body, required)) = &self.body {
            if v3 {
                let mut content = Map::new();
                for media in self.consumes {
                    let mut entry = Map::new();
                    entry.insert("schema".into(), reference(body, true));
                    content.insert((*media).to_string(), Value::Object(entry));
                }
                let mut request = Map::new();
                request.insert("content".into(), Value::Object(content));
                if *required {
                    request.insert("required".into(), true.into());
                }
                map.insert("requestBody".into(), Value::Object(request));
            } else if let Value::Array(list) = &mut parameters {
                let mut param = Map::new();
                param.insert("in".into(), "body".into());
                param.insert("name".into(), "body".into());
                if *required {
                    param.insert("required".into(), true.into());
                }
                param.insert("schema".into(), reference(body, false));
                list.insert(0, Value::Object(param));
            }
        }
        if parameters.as_array().is_some_and(|list| !list.is_empty()) {
            map.insert("parameters".into(), parameters);
        }
        let mut responses = Map::new();
        for response in &self.responses {
            let mut entry = Map::new();
            entry.insert("description".into(), response.description.into());
            if let Some(schema) = &response.schema {
                if v3 {
                    let mut content = Map::new();
                    for media in self.produces {
                        let mut typed = Map::new();
                        typed.insert("schema".into(), schema.schema(true));
                        content.insert((*media).to_string(), Value::Object(typed));
                    }
                    entry.insert("content".into(), Value::Object(content));
                } else {
                    entry.insert("schema".into(), schema.schema(false));
                }
            }
            responses.insert(response.code.to_string(), Value::Object(entry));
        }
        map.insert("responses".into(), Value::Object(responses));
        if !v3 {
            map.insert("consumes".into(), strings(self.consumes));
            map.insert("produces".into(), strings(self.produces));
            map.insert("schemes".into(), strings(&["https"]));
        }
        map.insert("tags".into(), strings(&[self.tag.as_str()]));
        if let Some(action) = self.action {
            map.insert("x-kubernetes-action".into(), action.into());
        }
        if let Some(gvk) = &self.gvk {
            map.insert(GVK_EXTENSION.into(), gvk.to_value());
        }
        Value::Object(map)
    }
}

impl PathItem {
    /// Renders the path item in OpenAPI v2 (`v3 == false`) or v3 form.
    pub fn render(&self, v3: bool) -> Value {
        let mut map = Map::new();
        for operation in &self.operations {
            map.insert(operation.method.to_string(), operation.render(v3));
        }
        if !self.params.is_empty() {
            map.insert("parameters".into(), params::render(&self.params, v3));
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace, core::v1::Pod};

    const ALL: &[&str] = &[
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];

    fn ids(items: &[PathItem]) -> Vec<(String, String)> {
        items
            .iter()
            .flat_map(|i| i.operations.iter().map(|o| (i.path.clone(), o.id.clone())))
            .collect()
    }

    #[test]
    fn group_words_match_upstream_operation_ids() {
        assert_eq!(group_word(""), "Core");
        assert_eq!(group_word("apps"), "Apps");
        assert_eq!(group_word("rbac.authorization.k8s.io"), "RbacAuthorization");
        assert_eq!(
            group_word("flowcontrol.apiserver.k8s.io"),
            "FlowcontrolApiserver"
        );
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("", "v1"), "core_v1");
    }

    #[test]
    fn namespaced_kind_paths_and_ids() {
        let pod = ApiKind::of::<Pod>(ALL, &["status"]);
        let items = kind_paths(
            &pod,
            "io.k8s.api.core.v1.Pod",
            "io.k8s.api.core.v1.PodList",
            &BTreeMap::new(),
        );
        let ids = ids(&items);
        let has = |path: &str, id: &str| ids.iter().any(|(p, i)| p == path && i == id);
        assert!(has(
            "/api/v1/namespaces/{namespace}/pods",
            "listCoreV1NamespacedPod"
        ));
        assert!(has(
            "/api/v1/namespaces/{namespace}/pods",
            "createCoreV1NamespacedPod"
        ));
        assert!(has(
            "/api/v1/namespaces/{namespace}/pods",
            "deleteCoreV1CollectionNamespacedPod"
        ));
        assert!(has(
            "/api/v1/namespaces/{namespace}/pods/{name}",
            "patchCoreV1NamespacedPod"
        ));
        assert!(has(
            "/api/v1/namespaces/{namespace}/pods/{name}/status",
            "readCoreV1NamespacedPodStatus"
        ));
        assert!(has("/api/v1/pods", "listCoreV1PodForAllNamespaces"));
        assert!(has(
            "/api/v1/watch/namespaces/{namespace}/pods/{name}",
            "watchCoreV1NamespacedPod"
        ));
        assert!(has(
            "/api/v1/watch/pods",
            "watchCoreV1PodListForAllNamespaces"
        ));
    }

    #[test]
    fn cluster_kind_has_no_namespace_parameter() {
        let ns = ApiKind::of::<Namespace>(&["get", "list", "create"], &[]);
        let items = kind_paths(
            &ns,
            "io.k8s.api.core.v1.Namespace",
            "io.k8s.api.core.v1.NamespaceList",
            &BTreeMap::new(),
        );
        let ids = ids(&items);
        assert!(ids.contains(&("/api/v1/namespaces".into(), "listCoreV1Namespace".into())));
        assert!(ids.contains(&(
            "/api/v1/namespaces/{name}".into(),
            "readCoreV1Namespace".into()
        )));
        let rendered = items[0].render(false).to_string();
        assert!(!rendered.contains("\"name\":\"namespace\""));
        // Verbs not served are not documented.
        assert!(!ids
            .iter()
            .any(|(_, id)| id.starts_with("delete") || id.starts_with("watch")));
    }

    #[test]
    fn patch_renders_with_field_validation_and_gvk_in_both_versions() {
        let deploy = ApiKind::of::<Deployment>(ALL, &["scale"]);
        let items = kind_paths(
            &deploy,
            "io.k8s.api.apps.v1.Deployment",
            "io.k8s.api.apps.v1.DeploymentList",
            &BTreeMap::new(),
        );
        let object = items
            .iter()
            .find(|i| i.path == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
            .map(|i| (i.render(false), i.render(true)));
        let Some((v2, v3)) = object else {
            panic!("object path missing");
        };
        for (doc, body_ref) in [(&v2, "#/definitions/"), (&v3, "#/components/schemas/")] {
            let patch = &doc["patch"];
            assert_eq!(patch["x-kubernetes-action"], "patch");
            assert_eq!(patch[GVK_EXTENSION]["kind"], "Deployment");
            assert_eq!(patch[GVK_EXTENSION]["group"], "apps");
            let names: Vec<&str> = patch["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert!(names.contains(&"fieldValidation") && names.contains(&"force"));
            assert!(doc.to_string().contains(body_ref));
        }
        assert_eq!(v2["patch"]["parameters"][0]["in"], "body");
        assert!(v3["patch"]["requestBody"]["content"]["application/apply-patch+yaml"].is_object());
        assert!(
            v3["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                .is_string()
        );
        let scale = items
            .iter()
            .find(|i| i.path.ends_with("/scale"))
            .map(|i| i.render(true));
        assert_eq!(
            scale.map(|s| s["put"][GVK_EXTENSION]["kind"].clone()),
            Some("Scale".into())
        );
    }
}
