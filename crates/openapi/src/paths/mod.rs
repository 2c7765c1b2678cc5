//! REST paths and operations for each served kind, shaped like kube-apiserver's installer
//! documents them, rendered in either OpenAPI version.

use serde_json::{Map, Value};

use crate::kind::ApiKind;
use crate::params::{self, Param};
use crate::schema::{Gvk, GVK_EXTENSION, V2_REF_PREFIX, V3_REF_PREFIX};

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
    schema: Option<String>,
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
        schema: Some(schema.to_string()),
    }
}

fn created(schema: &str) -> Response {
    Response {
        code: "201",
        description: "Created",
        schema: Some(schema.to_string()),
    }
}

fn accepted(schema: &str) -> Response {
    Response {
        code: "202",
        description: "Accepted",
        schema: Some(schema.to_string()),
    }
}

fn unauthorized() -> Response {
    Response {
        code: "401",
        description: "Unauthorized",
        schema: None,
    }
}

/// Builds the paths for one kind; `schema`/`list_schema` are its definition names.
pub(crate) fn kind_paths(kind: &ApiKind, schema: &str, list_schema: &str) -> Vec<PathItem> {
    let base = prefix(&kind.group, &kind.version);
    let group = group_word(&kind.group);
    let version = capitalize(&kind.version);
    let scope = if kind.namespaced { "Namespaced" } else { "" };
    let gv_id = format!("{group}{version}");
    let name = &kind.kind;
    let gvk = Gvk::new(&kind.group, &kind.version, &kind.kind);
    let tag = tag(&kind.group, &kind.version);
    let ns_segment = if kind.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let scope_params = |extra: Vec<Param>| -> Vec<Param> {
        let mut out = extra;
        if kind.namespaced {
            out.push(params::namespace());
        }
        out.push(params::pretty());
        out
    };
    let op = |method, id: String, description: String, action, params, body, responses| Operation {
        method,
        id,
        description,
        action: Some(action),
        gvk: Some(gvk.clone()),
        params,
        body,
        consumes: &["*/*"],
        produces: PRODUCES,
        responses,
        tag: tag.clone(),
    };

    let mut items = Vec::new();

    // The collection: list, create, deletecollection.
    let mut collection = Vec::new();
    if kind.supports("list") {
        let mut list = op(
            "get",
            format!("list{gv_id}{scope}{name}"),
            format!("list or watch objects of kind {name}"),
            "list",
            params::list(),
            None,
            vec![ok(list_schema), unauthorized()],
        );
        list.produces = PRODUCES_STREAM;
        collection.push(list);
    }
    if kind.supports("create") {
        collection.push(op(
            "post",
            format!("create{gv_id}{scope}{name}"),
            format!("create a {name}"),
            "post",
            params::write(false),
            Some((schema.to_string(), true)),
            vec![
                ok(schema),
                created(schema),
                accepted(schema),
                unauthorized(),
            ],
        ));
    }
    if kind.supports("deletecollection") {
        collection.push(op(
            "delete",
            format!("delete{gv_id}Collection{scope}{name}"),
            format!("delete collection of {name}"),
            "deletecollection",
            params::delete_collection(),
            Some((DELETE_OPTIONS.to_string(), false)),
            vec![ok(STATUS), unauthorized()],
        ));
    }
    if !collection.is_empty() {
        items.push(PathItem {
            path: format!("{base}{ns_segment}/{}", kind.plural),
            params: scope_params(Vec::new()),
            operations: collection,
        });
    }

    // The single object: read, replace, patch, delete.
    let mut object = Vec::new();
    if kind.supports("get") {
        object.push(op(
            "get",
            format!("read{gv_id}{scope}{name}"),
            format!("read the specified {name}"),
            "get",
            Vec::new(),
            None,
            vec![ok(schema), unauthorized()],
        ));
    }
    if kind.supports("update") {
        object.push(op(
            "put",
            format!("replace{gv_id}{scope}{name}"),
            format!("replace the specified {name}"),
            "put",
            params::write(false),
            Some((schema.to_string(), true)),
            vec![ok(schema), created(schema), unauthorized()],
        ));
    }
    if kind.supports("delete") {
        object.push(op(
            "delete",
            format!("delete{gv_id}{scope}{name}"),
            format!("delete a {name}"),
            "delete",
            params::delete(),
            Some((DELETE_OPTIONS.to_string(), false)),
            vec![ok(STATUS), accepted(STATUS), unauthorized()],
        ));
    }
    if kind.supports("patch") {
        let mut patch = op(
            "patch",
            format!("patch{gv_id}{scope}{name}"),
            format!("partially update the specified {name}"),
            "patch",
            params::patch(),
            Some((PATCH.to_string(), true)),
            vec![ok(schema), created(schema), unauthorized()],
        );
        patch.consumes = CONSUMES_PATCH;
        object.push(patch);
    }
    if !object.is_empty() {
        items.push(PathItem {
            path: format!("{base}{ns_segment}/{}/{{name}}", kind.plural),
            params: scope_params(vec![params::name(name)]),
            operations: object,
        });
    }

    // Subresources: status carries the kind itself, scale carries autoscaling/v1 Scale.
    for sub in ["status", "scale"] {
        if !kind.has_subresource(sub) {
            continue;
        }
        let (body, sub_gvk, word) = match sub {
            "scale" => (SCALE, Gvk::new("autoscaling", "v1", "Scale"), "Scale"),
            _ => (schema, gvk.clone(), "Status"),
        };
        let mut ops = Vec::new();
        if kind.supports("get") {
            ops.push(op(
                "get",
                format!("read{gv_id}{scope}{name}{word}"),
                format!("read {sub} of the specified {name}"),
                "get",
                Vec::new(),
                None,
                vec![ok(body), unauthorized()],
            ));
        }
        if kind.supports("update") {
            ops.push(op(
                "put",
                format!("replace{gv_id}{scope}{name}{word}"),
                format!("replace {sub} of the specified {name}"),
                "put",
                params::write(false),
                Some((body.to_string(), true)),
                vec![ok(body), created(body), unauthorized()],
            ));
        }
        if kind.supports("patch") {
            let mut patch = op(
                "patch",
                format!("patch{gv_id}{scope}{name}{word}"),
                format!("partially update {sub} of the specified {name}"),
                "patch",
                params::patch(),
                Some((PATCH.to_string(), true)),
                vec![ok(body), created(body), unauthorized()],
            );
            patch.consumes = CONSUMES_PATCH;
            ops.push(patch);
        }
        for operation in &mut ops {
            operation.gvk = Some(sub_gvk.clone());
        }
        if !ops.is_empty() {
            items.push(PathItem {
                path: format!("{base}{ns_segment}/{}/{{name}}/{sub}", kind.plural),
                params: scope_params(vec![params::name(name)]),
                operations: ops,
            });
        }
    }

    if kind.supports("list") && kind.namespaced {
        let mut all = op(
            "get",
            format!("list{gv_id}{name}ForAllNamespaces"),
            format!("list or watch objects of kind {name}"),
            "list",
            Vec::new(),
            None,
            vec![ok(list_schema), unauthorized()],
        );
        all.produces = PRODUCES_STREAM;
        let mut shared = params::list();
        shared.push(params::pretty());
        items.push(PathItem {
            path: format!("{base}/{}", kind.plural),
            params: shared,
            operations: vec![all],
        });
    }

    // Deprecated watch paths: upstream still documents them, with every list parameter shared.
    if kind.supports("watch") {
        let watch_op = |id: String, description: String, action| {
            let mut watch = op(
                "get",
                id,
                description,
                action,
                Vec::new(),
                None,
                vec![ok(WATCH_EVENT), unauthorized()],
            );
            watch.produces = PRODUCES_STREAM;
            watch
        };
        let watch_params = |extra: Vec<Param>| {
            let mut shared = params::list();
            shared.extend(extra);
            if kind.namespaced {
                shared.push(params::namespace());
            }
            shared.push(params::pretty());
            shared
        };
        items.push(PathItem {
            path: format!("{base}/watch{ns_segment}/{}", kind.plural),
            params: watch_params(Vec::new()),
            operations: vec![watch_op(format!("watch{gv_id}{scope}{name}List"), format!("watch individual changes to a list of {name}. deprecated: use the 'watch' parameter with a list operation instead."), "watchlist")],
        });
        items.push(PathItem {
            path: format!("{base}/watch{ns_segment}/{}/{{name}}", kind.plural),
            params: watch_params(vec![params::name(name)]),
            operations: vec![watch_op(format!("watch{gv_id}{scope}{name}"), format!("watch changes to an object of kind {name}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."), "watch")],
        });
        if kind.namespaced {
            items.push(PathItem {
                path: format!("{base}/watch/{}", kind.plural),
                params: {
                    let mut shared = params::list();
                    shared.push(params::pretty());
                    shared
                },
                operations: vec![watch_op(format!("watch{gv_id}{name}ListForAllNamespaces"), format!("watch individual changes to a list of {name}. deprecated: use the 'watch' parameter with a list operation instead."), "watchlist")],
            });
        }
    }
    for item in &mut items {
        item.params.sort_by(|a, b| a.name.cmp(b.name));
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
                        typed.insert("schema".into(), reference(schema, true));
                        content.insert((*media).to_string(), Value::Object(typed));
                    }
                    entry.insert("content".into(), Value::Object(content));
                } else {
                    entry.insert("schema".into(), reference(schema, false));
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
        let items = kind_paths(&pod, "io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.PodList");
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
