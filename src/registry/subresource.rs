//! A kind's subresources as data: what discovery lists for each (name, verbs, response kind)
//! and what serves it. The HTTP layer dispatches on [`Handler`] alone and never on a kind's
//! name, as upstream keeps each kind's subresource storage beside its strategy.

use bytes::Bytes;
use ferrokube_auth::ServiceAccountTokens;
use futures::future::BoxFuture;
use serde_json::Value;

use super::rest::WriteOptions;
use super::{Registry, ResourceDescriptor};
use crate::status::ApiResult;

/// One subresource of a kind.
#[derive(Clone, Copy, Debug)]
pub struct Subresource {
    /// The path segment after the object's name (`status`, `binding`, `log`).
    pub name: &'static str,
    /// Discovery verbs (`get`, `create`, `update`, `patch`); requests with a method whose verb
    /// is not listed are refused with 405.
    pub verbs: &'static [&'static str],
    /// Group of the kind a request to it answers with (discovery's `responseKind`); None: the
    /// parent's group and version.
    pub response: Option<(&'static str, &'static str)>,
    /// Kind of the object a request answers with (None: the parent's kind).
    pub kind: Option<&'static str>,
    /// What serves it.
    pub handler: Handler,
    /// The kind whose fields are the request's query parameters (connections' and getters'
    /// options: `PodExecOptions`, `PodLogOptions`), as the OpenAPI documents list them.
    pub options: Option<&'static str>,
    /// Registers the schema of an action's body (policy/v1 Eviction) in the OpenAPI documents.
    pub body_schema: Option<SchemaRegistrar>,
}

/// Registers a type's schema in an OpenAPI generator and answers a `$ref` to it.
pub type SchemaRegistrar = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<K: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<K>()
}

/// How a subresource is served.
#[derive(Clone, Copy)]
pub enum Handler {
    /// `status`: reads the object; writes keep only status changes.
    Status,
    /// `scale`: an `autoscaling/v1` Scale over the descriptor's [`super::descriptor::ScaleSpec`].
    Scale,
    /// `finalize` (namespaces): writes keep only `spec.finalizers` changes.
    Finalize,
    /// A create-only operation over the registry (`pods/binding`, `pods/eviction`,
    /// `serviceaccounts/token`): the function gets the decoded body and answers.
    Action(ActionFn),
    /// A connection to the node agent running the object (`pods/log`, `exec`, `attach`,
    /// `portforward`): the HTTP layer's node-agent proxy streams or splices it.
    Connect,
    /// An HTTP proxy to what the object names (`pods/proxy`, `services/proxy`, `nodes/proxy`):
    /// the function resolves the object to a backend (upstream's `ResourceLocation`), the
    /// HTTP layer's reverse proxy carries any method, headers, body and upgrade there.
    Proxy(LocateFn),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Status => "Status",
            Handler::Scale => "Scale",
            Handler::Finalize => "Finalize",
            Handler::Action(_) => "Action",
            Handler::Connect => "Connect",
            Handler::Proxy(_) => "Proxy",
        })
    }
}

impl Subresource {
    /// `status` with upstream's verbs.
    pub const STATUS: Subresource = Subresource {
        name: "status",
        verbs: &["get", "patch", "update"],
        response: None,
        kind: None,
        handler: Handler::Status,
        options: None,
        body_schema: None,
    };

    /// `scale` with upstream's verbs and response kind.
    pub const SCALE: Subresource = Subresource {
        name: "scale",
        verbs: &["get", "patch", "update"],
        response: Some(("autoscaling", "v1")),
        kind: Some("Scale"),
        handler: Handler::Scale,
        options: None,
        body_schema: None,
    };

    /// A connect subresource (streamed to the node agent) answering `kind` with `verbs`.
    pub const fn connect(
        name: &'static str,
        kind: &'static str,
        verbs: &'static [&'static str],
    ) -> Subresource {
        Subresource {
            name,
            verbs,
            response: Some(("", "v1")),
            kind: Some(kind),
            handler: Handler::Connect,
            options: Some(kind),
            body_schema: None,
        }
    }

    /// A connect subresource serving only `get` of the parent kind, configured by `options`
    /// (`pods/log` with `PodLogOptions`): upstream's getter with options.
    pub const fn getter(
        name: &'static str,
        kind: &'static str,
        options: &'static str,
    ) -> Subresource {
        Subresource {
            name,
            verbs: &["get"],
            response: Some(("", "v1")),
            kind: Some(kind),
            handler: Handler::Connect,
            options: Some(options),
            body_schema: None,
        }
    }

    /// A proxy subresource (`<kind>/proxy`, with any subpath) answering `kind` (the options
    /// kind discovery names), resolved by `locate`. Discovery lists upstream's verbs; the
    /// proxy itself also carries HEAD and OPTIONS.
    pub const fn proxy(kind: &'static str, locate: LocateFn) -> Subresource {
        Subresource {
            name: "proxy",
            verbs: &["create", "delete", "get", "patch", "update"],
            response: Some(("", "v1")),
            kind: Some(kind),
            handler: Handler::Proxy(locate),
            options: Some(kind),
            body_schema: None,
        }
    }

    /// A create-only action whose body and answer are a `K` (`pods/eviction`: policy/v1
    /// Eviction).
    pub const fn action<K>(name: &'static str, handler: ActionFn) -> Subresource
    where
        K: k8s_openapi::Resource + schemars::JsonSchema,
    {
        Subresource {
            name,
            verbs: &["create"],
            response: Some((K::GROUP, K::VERSION)),
            kind: Some(K::KIND),
            handler: Handler::Action(handler),
            options: None,
            body_schema: Some(schema_of::<K>),
        }
    }

    /// Whether a request with `verb` (get, create, update, patch, ...) may use it.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Discovery's `responseKind` (group, version, kind) for a subresource of `d`.
    pub fn response_kind(&self, d: &ResourceDescriptor) -> (String, String, String) {
        let (group, version) = match self.response {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (d.group.clone(), d.version.clone()),
        };
        let kind = self
            .kind
            .map(str::to_string)
            .unwrap_or_else(|| d.kind.clone());
        (group, version, kind)
    }
}

/// What an action subresource is called with.
pub struct Action<'a> {
    /// The registry (and through it the store).
    pub registry: &'a Registry,
    /// The parent kind.
    pub descriptor: &'a ResourceDescriptor,
    /// The parent's namespace.
    pub namespace: Option<&'a str>,
    /// The parent's name.
    pub name: &'a str,
    /// The decoded request body.
    pub body: Value,
    /// `dryRun`, `fieldManager`, ...
    pub options: &'a WriteOptions,
    /// The service-account token issuer, when the server has one.
    pub tokens: Option<&'a ServiceAccountTokens>,
    /// Who the request acts as (after impersonation), when it was authenticated.
    pub user: Option<&'a ferrokube_auth::UserInfo>,
    /// The request authenticator (TokenReview).
    pub authenticator: Option<&'a ferrokube_auth::Authenticator>,
    /// The authorizer (the access reviews).
    pub authorizer: Option<&'a crate::rbac::Authorizer>,
}

/// What an action answered.
#[derive(Debug)]
pub enum ActionOutcome {
    /// A `Status` of success with this HTTP code (binding, eviction: 201).
    Success(u16),
    /// An object (JSON bytes) with this HTTP code (TokenRequest: 201).
    Object(u16, Bytes),
}

/// An action subresource's implementation.
pub type ActionFn = for<'a> fn(Action<'a>) -> BoxFuture<'a, ApiResult<ActionOutcome>>;

/// What a proxy subresource's locator is called with.
pub struct Locate<'a> {
    /// The registry (and through it the store).
    pub registry: &'a Registry,
    /// The parent's namespace (None: cluster-scoped).
    pub namespace: Option<&'a str>,
    /// The object id from the path: `name`, `name:port` or `scheme:name:port`.
    pub id: &'a str,
}

/// How the proxy reaches a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Dialed directly (pod and endpoint addresses on our bridge network); `https` without
    /// verifying the backend's certificate, as upstream's proxy transport.
    Direct,
    /// The node's kubelet: TLS verified against the cluster CA, with the API server's
    /// kubelet-client certificate.
    Kubelet,
}

/// Where a proxy request goes (upstream's location URL and transport).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host`, `host:port` or `[v6]:port`.
    pub authority: String,
    /// How it is dialed.
    pub transport: Transport,
}

/// A proxy subresource's locator (upstream's `ResourceLocation`).
pub type LocateFn = for<'a> fn(Locate<'a>) -> BoxFuture<'a, ApiResult<ProxyTarget>>;
