//! Operations on a kind's subresources, documented as kube-apiserver's installer documents each
//! kind of subresource storage: updaters (`status`, `scale`, `ephemeralcontainers`), creaters
//! (`binding`, `eviction`, `token`), getters with options (`log`) and connecters (`exec`,
//! `attach`, `portforward`, `proxy`).

use std::collections::BTreeMap;

use super::{
    accepted, capitalize, created, object_operations, ok, ok_text, params, unauthorized, KindScope,
    Operation, PathItem, SCALE,
};
use crate::kind::{Subresource, SubresourceShape};
use crate::schema::Gvk;

/// What connections and proxies produce and consume: anything.
const ANY: &[&str] = &["*/*"];
/// What `pods/log` answers with.
const PRODUCES_TEXT: &[&str] = &[
    "text/plain",
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
/// The methods a proxy carries, as upstream documents them.
const PROXY_METHODS: &[&str] = &["delete", "get", "head", "options", "patch", "post", "put"];

/// The path items of one subresource; `schema` is the parent kind's definition and `bodies`
/// the definitions of create subresources' bodies.
pub(super) fn paths(
    ks: &KindScope,
    sub: &Subresource,
    schema: &str,
    bodies: &BTreeMap<String, String>,
) -> Vec<PathItem> {
    let allows = |verb: &str| sub.verbs.iter().any(|v| v == verb);
    let operations = match &sub.shape {
        SubresourceShape::Parent => object(ks, sub, schema, &allows),
        SubresourceShape::Scale => {
            let mut ops = object(ks, sub, SCALE, &allows);
            for op in &mut ops {
                op.gvk = Some(Gvk::new("autoscaling", "v1", "Scale"));
            }
            ops
        }
        SubresourceShape::Create { gvk, .. } => match bodies.get(&sub.name) {
            Some(body) if allows("create") => vec![create(ks, sub, gvk, body)],
            _ => Vec::new(),
        },
        SubresourceShape::Text { .. } if allows("get") => vec![text(ks, sub)],
        SubresourceShape::Text { .. } => Vec::new(),
        SubresourceShape::Connect { options } => connect(ks, sub, options, &allows),
        SubresourceShape::Proxy { options } => return proxy(ks, sub, options),
    };
    if operations.is_empty() {
        return Vec::new();
    }
    let name = params::name(named_kind(sub, &ks.kind.kind));
    let path_params = match &sub.shape {
        SubresourceShape::Connect { options } => {
            let mut extra = params::options(options);
            extra.push(name);
            ks.scope_params_plain(extra)
        }
        SubresourceShape::Text { options } => {
            let mut extra = params::options(options);
            extra.push(name);
            ks.scope_params(extra)
        }
        _ => ks.scope_params(vec![name]),
    };
    vec![PathItem {
        path: format!("{}/{}", ks.object_path(), sub.name),
        params: path_params,
        operations,
    }]
}

/// The kind the `{name}` path parameter is described as naming, as upstream words it: the
/// body's kind for creaters (`name of the Eviction`), the options' for connecters (`name of the
/// PodExecOptions`), `Scale` for scale, else the parent's.
fn named_kind<'a>(sub: &'a Subresource, parent: &'a str) -> &'a str {
    match &sub.shape {
        SubresourceShape::Scale => "Scale",
        SubresourceShape::Create { gvk, .. } => &gvk.2,
        SubresourceShape::Connect { options } | SubresourceShape::Proxy { options } => options,
        SubresourceShape::Parent | SubresourceShape::Text { .. } => parent,
    }
}

/// `status`-like subresources: the parent's verbs, limited to the subresource's.
fn object(
    ks: &KindScope,
    sub: &Subresource,
    body: &str,
    allows: &dyn Fn(&str) -> bool,
) -> Vec<Operation> {
    let what = format!("{} of the specified", sub.name);
    let mut ops = object_operations(ks, &capitalize(&sub.name), &what, body);
    ops.retain(|op| match op.method {
        "get" => allows("get"),
        "put" => allows("update"),
        _ => allows("patch"),
    });
    ops
}

/// A creater: POST of another kind's object in the parent's name (`createCoreV1NamespacedPodBinding`).
fn create(
    ks: &KindScope,
    sub: &Subresource,
    gvk: &(String, String, String),
    body: &str,
) -> Operation {
    let (group, version, kind) = gvk;
    let mut op = ks
        .op(
            "post",
            "create",
            &capitalize(&sub.name),
            format!("create {} of a {}", sub.name, ks.kind.kind),
        )
        .action("post")
        .params(params::write(false))
        .body(body, true)
        .responses(vec![
            ok(body),
            created(body),
            accepted(body),
            unauthorized(),
        ]);
    op.gvk = Some(Gvk::new(group, version, kind));
    op
}

/// A getter with options answering text (`readCoreV1NamespacedPodLog`).
fn text(ks: &KindScope, sub: &Subresource) -> Operation {
    let mut op = ks
        .op(
            "get",
            "read",
            &capitalize(&sub.name),
            format!("read {} of the specified {}", sub.name, ks.kind.kind),
        )
        .action("get")
        .responses(vec![ok_text(), unauthorized()]);
    op.produces = PRODUCES_TEXT;
    op
}

/// A connecter: one operation per method the verbs allow (`connectCoreV1GetNamespacedPodExec`,
/// `connectCoreV1PostNamespacedPodExec`).
fn connect(
    ks: &KindScope,
    sub: &Subresource,
    options: &str,
    allows: &dyn Fn(&str) -> bool,
) -> Vec<Operation> {
    [("get", "get"), ("post", "create")]
        .into_iter()
        .filter(|(_, verb)| allows(verb))
        .map(|(method, _)| connection(ks, method, &sub.name, options, ""))
        .collect()
}

/// A proxy: every method, on the object itself and with a subpath.
fn proxy(ks: &KindScope, sub: &Subresource, options: &str) -> Vec<PathItem> {
    let name = || params::name(options);
    let plain: Vec<Operation> = PROXY_METHODS
        .iter()
        .map(|method| connection(ks, method, &sub.name, options, ""))
        .collect();
    let with_path: Vec<Operation> = PROXY_METHODS
        .iter()
        .map(|method| connection(ks, method, &sub.name, options, "WithPath"))
        .collect();
    let mut path_params = params::options(options);
    path_params.push(name());
    let mut subpath_params = path_params.clone();
    subpath_params.push(params::proxy_path());
    let base = format!("{}/{}", ks.object_path(), sub.name);
    vec![
        PathItem {
            path: base.clone(),
            params: ks.scope_params_plain(path_params),
            operations: plain,
        },
        PathItem {
            path: format!("{base}/{{path}}"),
            params: ks.scope_params_plain(subpath_params),
            operations: with_path,
        },
    ]
}

/// One connect operation: `connect<GV><Method><Scope><Kind><Sub><suffix>`, any content in and
/// out, tagged with the options kind.
fn connection(ks: &KindScope, method: &str, sub: &str, options: &str, suffix: &str) -> Operation {
    let (gv_id, scope, kind) = (&ks.gv_id, ks.scope, &ks.kind.kind);
    let mut op = ks
        .op(
            static_method(method),
            "connect",
            "",
            format!(
                "connect {} requests to {sub} of {kind}",
                method.to_uppercase()
            ),
        )
        .action("connect")
        .responses(vec![ok_text(), unauthorized()]);
    op.id = format!(
        "connect{gv_id}{}{scope}{kind}{}{suffix}",
        capitalize(method),
        capitalize(sub)
    );
    op.consumes = ANY;
    op.produces = ANY;
    op.gvk = Some(Gvk::new("", "v1", options));
    op
}

/// The method as the `'static` name operations keep.
fn static_method(method: &str) -> &'static str {
    PROXY_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("get")
}
