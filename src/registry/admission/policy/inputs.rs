//! One admission request as policies see it: its attributes for matching, and the CEL inputs
//! (`object`, `oldObject`, `request`, `namespaceObject`, `params`).

use std::collections::BTreeMap;

use ferrokube_apiextensions::expression::Bindings;
use k8s_openapi::api::admissionregistration::v1::{MatchResources, ParamKind, ParamRef};
use serde_json::{json, Value};

use super::compiled::{Evaluation, Failure};
use super::matching::{self, Attributes};
use crate::registry::hooks::HookContext;
use crate::status::ApiResult;

/// What a policy and one of its bindings say about matching and parameters: the same for
/// validating and mutating policies.
pub struct PolicyScope<'a> {
    /// The policy's `matchConstraints`.
    pub constraints: Option<&'a MatchResources>,
    /// The binding's `matchResources`.
    pub narrowing: Option<&'a MatchResources>,
    pub param_kind: Option<&'a ParamKind>,
    pub param_ref: Option<&'a ParamRef>,
}

pub struct Request {
    operation: String,
    new: Option<Value>,
    old: Option<Value>,
    name: String,
    namespace: String,
    namespace_object: Option<Value>,
    request: Value,
}

fn labels(obj: Option<&Value>) -> Option<BTreeMap<String, String>> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .or(obj.map(|_| BTreeMap::new()))
}

impl Request {
    pub async fn gather(
        ctx: &HookContext<'_>,
        operation: &str,
        new: Option<&Value>,
        old: Option<&Value>,
    ) -> ApiResult<Request> {
        let obj = new.or(old).cloned().unwrap_or_default();
        let text = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (name, namespace) = (text("/metadata/name"), text("/metadata/namespace"));
        let namespace_object = match namespace.as_str() {
            "" => None,
            ns => ctx.registry.get_value("", "Namespace", None, ns).await?,
        };
        let d = ctx.descriptor;
        let user = ctx.user.cloned().unwrap_or_default();
        // A connect request's object is its options (`PodExecOptions`...), named by its
        // metadata here only: upstream sends the options as they are.
        let connect = operation == "CONNECT";
        let kind = match connect {
            true => text("/kind"),
            false => d.kind.to_string(),
        };
        let new = new.cloned().map(|mut o| {
            if let (true, Some(map)) = (connect, o.as_object_mut()) {
                map.remove("metadata");
            }
            o
        });
        let request = json!({
            "kind": {"group": d.group, "version": d.version, "kind": kind},
            "resource": {"group": d.group, "version": d.version, "resource": d.plural},
            "subResource": ctx.subresource,
            "name": name, "namespace": namespace, "operation": operation,
            "userInfo": {"username": user.name, "uid": user.uid, "groups": user.groups},
            "dryRun": ctx.dry_run,
        });
        Ok(Request {
            operation: operation.to_owned(),
            new,
            old: old.cloned(),
            name,
            namespace,
            namespace_object,
            request,
        })
    }

    /// Whether `m` covers this request.
    pub fn matches(&self, m: &MatchResources) -> bool {
        let d = &self.request;
        let field = |p: &str| d.pointer(p).and_then(Value::as_str).unwrap_or("");
        let is_namespace =
            field("/resource/group").is_empty() && field("/resource/resource") == "namespaces";
        let ns_labels = match (is_namespace, &self.namespace_object) {
            (true, _) => labels(self.new.as_ref().or(self.old.as_ref())),
            (false, Some(ns)) => labels(Some(ns)),
            (false, None) => None,
        };
        let (new_labels, old_labels) = (labels(self.new.as_ref()), labels(self.old.as_ref()));
        let attrs = Attributes {
            group: field("/resource/group"),
            version: field("/resource/version"),
            resource: field("/resource/resource"),
            subresource: field("/subResource"),
            operation: &self.operation,
            name: &self.name,
            namespaced: !self.namespace.is_empty(),
            namespace_labels: ns_labels.as_ref(),
            object_labels: [new_labels.as_ref(), old_labels.as_ref()],
        };
        matching::matches(m, &attrs)
    }

    /// The object being written (None for a delete or connect without one).
    pub fn object(&self) -> Option<&Value> {
        self.new.as_ref()
    }

    /// The object as an earlier mutation left it, for the next one's `object`.
    pub fn set_object(&mut self, obj: Value) {
        self.new = Some(obj);
    }

    /// Whether the policy's constraints and the binding's narrowing both cover this request.
    pub fn matched_by(&self, scope: &PolicyScope) -> bool {
        let constraints = scope.constraints;
        constraints.is_some_and(|c| self.matches(c))
            && scope.narrowing.is_none_or(|m| {
                // A binding without rules narrows by selectors only.
                let mut m = m.clone();
                if m.resource_rules.as_ref().is_none_or(|r| r.is_empty()) {
                    m.resource_rules = constraints.and_then(|c| c.resource_rules.clone());
                }
                self.matches(&m)
            })
    }

    /// The `request` of an AdmissionReview for this write.
    pub fn review_request(&self, uid: &str) -> Value {
        let mut r = self.request.clone();
        r["uid"] = json!(uid);
        r["requestKind"] = r["kind"].clone();
        r["requestResource"] = r["resource"].clone();
        r["object"] = self.new.clone().unwrap_or(Value::Null);
        r["oldObject"] = self.old.clone().unwrap_or(Value::Null);
        let options = match self.operation.as_str() {
            "CREATE" => "CreateOptions",
            "UPDATE" => "UpdateOptions",
            _ => "DeleteOptions",
        };
        r["options"] = json!({"apiVersion": "meta.k8s.io/v1", "kind": options});
        r
    }

    /// Evaluates the policy once per parameter object the binding selects (once, with `params`
    /// null, for a policy without `paramKind`).
    pub async fn evaluate(
        &self,
        ctx: &HookContext<'_>,
        policy: &super::compiled::CompiledPolicy,
        scope: &PolicyScope<'_>,
    ) -> Result<Evaluation, Failure> {
        let params = self.params(ctx, scope).await?;
        let mut all = Evaluation::default();
        for param in params {
            let inputs = self.bindings(&param).map_err(Failure::Error)?;
            all.extend(policy.evaluate(&inputs)?);
        }
        Ok(all)
    }

    pub fn bindings(&self, params: &Value) -> Result<Bindings, String> {
        let mut b = Bindings::default();
        b.bind_json("object", self.new.as_ref().unwrap_or(&Value::Null))?;
        b.bind_json("oldObject", self.old.as_ref().unwrap_or(&Value::Null))?;
        b.bind_json("request", &self.request)?;
        b.bind_json(
            "namespaceObject",
            self.namespace_object.as_ref().unwrap_or(&Value::Null),
        )?;
        b.bind_json("params", params)?;
        Ok(b)
    }

    /// The parameter objects: by name, or by label selector, in the binding's namespace (or
    /// the request's) for namespaced parameter kinds.
    pub async fn params(
        &self,
        ctx: &HookContext<'_>,
        scope: &PolicyScope<'_>,
    ) -> Result<Vec<Value>, Failure> {
        let Some(kind) = scope.param_kind.cloned() else {
            return Ok(vec![Value::Null]);
        };
        let api_version = kind.api_version.unwrap_or_default();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind_name = kind.kind.unwrap_or_default();
        let Some(d) = ctx.registry.lookup_kind(group, &kind_name) else {
            return Err(Failure::Error(format!(
                "paramKind {api_version}, Kind={kind_name} is not served"
            )));
        };
        let Some(r) = scope.param_ref else {
            return Err(Failure::Error(
                "the policy has a paramKind but the binding no paramRef".into(),
            ));
        };
        let ns = match (d.namespaced, r.namespace.as_deref()) {
            (false, _) => None,
            (true, Some(ns)) if !ns.is_empty() => Some(ns.to_owned()),
            (true, _) => Some(self.namespace.clone()),
        };
        let found = find_params(ctx, &d, ns.as_deref(), r)
            .await
            .map_err(|e| Failure::Error(e.message))?;
        if found.is_empty() {
            if r.parameter_not_found_action.as_deref() == Some("Allow") {
                return Ok(Vec::new());
            }
            return Err(Failure::Denied {
                message: "no params found for policy binding with `Deny` parameterNotFoundAction"
                    .into(),
                reason: "Invalid".into(),
            });
        }
        Ok(found)
    }
}

async fn find_params(
    ctx: &HookContext<'_>,
    d: &crate::registry::ResourceDescriptor,
    ns: Option<&str>,
    r: &ParamRef,
) -> ApiResult<Vec<Value>> {
    if let Some(name) = r.name.as_deref().filter(|n| !n.is_empty()) {
        return Ok(ctx
            .registry
            .get_value(&d.group, &d.kind, ns, name)
            .await?
            .into_iter()
            .collect());
    }
    let selector = r.selector.clone().unwrap_or_default();
    let page = ctx
        .registry
        .store
        .range(ferrokube_store::RangeRequest {
            prefix: d.namespace_prefix(ns),
            start: String::new(),
            limit: 0,
            revision: 0,
        })
        .await?;
    let mut out = Vec::new();
    for kv in &page.items {
        let obj = crate::registry::rest::parse(kv)?;
        let l = labels(Some(&obj)).unwrap_or_default();
        if ferrokube_auth::rbac::selector::selector_matches(&selector, &l) {
            out.push(obj);
        }
    }
    Ok(out)
}
