//! The generator's input: one served kind, as the API server's registry describes it.

use std::sync::Arc;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

/// Registers a schema in the generator and returns a `$ref` to it. A closure, so kinds known
/// only at run time (custom resources) can carry their schema along.
pub type SchemaFn = Arc<dyn Fn(&mut SchemaGenerator) -> Schema + Send + Sync>;

/// What the generator needs to know of one served kind (the API server's registry builds these).
#[derive(Clone)]
pub struct ApiKind {
    /// API group, `""` for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Resource name in URLs, e.g. `pods`.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Supported verbs: get list watch create update patch delete deletecollection.
    pub verbs: Vec<String>,
    /// Served subresources, each with the shape its operations take.
    pub subresources: Vec<Subresource>,
    /// Registers the kind's schema in the generator and returns a `$ref` to it.
    pub schema: SchemaFn,
    /// Registers the kind's list schema in the generator and returns a `$ref` to it.
    pub list_schema: SchemaFn,
}

impl std::fmt::Debug for ApiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKind")
            .field("group", &self.group)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("plural", &self.plural)
            .field("namespaced", &self.namespaced)
            .field("verbs", &self.verbs)
            .field(
                "subresources",
                &self
                    .subresources
                    .iter()
                    .map(|s| &s.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ApiKind {
    /// Describes the k8s-openapi type `K`, served with the given verbs and subresources.
    pub fn of<K>(verbs: &[&str], subresources: &[&str]) -> Self
    where
        K: k8s_openapi::Resource + k8s_openapi::ListableResource + JsonSchema + 'static,
        K::Scope: 'static,
    {
        ApiKind {
            group: K::GROUP.to_string(),
            version: K::VERSION.to_string(),
            kind: K::KIND.to_string(),
            plural: K::URL_PATH_SEGMENT.to_string(),
            namespaced: is_namespaced_scope::<K::Scope>(),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            subresources: subresources
                .iter()
                .map(|name| Subresource::object(name))
                .collect(),
            schema: Arc::new(|generator| generator.subschema_for::<K>()),
            list_schema: Arc::new(list_schema_of::<K>),
        }
    }

    /// `group/version`, or just `version` for the core group (the form of `apiVersion`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key of this kind's v3 document: `api/v1` or `apis/<group>/<version>`.
    pub fn group_version_path(&self) -> String {
        group_version_path(&self.group, &self.version)
    }

    /// Whether `verb` is among the supported verbs.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// Whether `subresource` is among the supported subresources.
    pub fn has_subresource(&self, subresource: &str) -> bool {
        self.subresources.iter().any(|s| s.name == subresource)
    }
}

/// One subresource of a served kind, as its operations are documented.
#[derive(Clone)]
pub struct Subresource {
    /// The path segment after the object's name (`status`, `exec`, `proxy`).
    pub name: String,
    /// Discovery verbs (`get`, `create`, `update`, `patch`): which operations are documented.
    pub verbs: Vec<String>,
    /// What a request carries and answers.
    pub shape: SubresourceShape,
}

/// What a subresource's operations carry, as kube-apiserver's installer tells its storage
/// interfaces apart (updater, creater, getter with options, connecter).
#[derive(Clone)]
pub enum SubresourceShape {
    /// Reads and writes the parent kind (`status`, `ephemeralcontainers`, `finalize`).
    Parent,
    /// Reads and writes an `autoscaling/v1` Scale.
    Scale,
    /// Creates an object of another kind in the parent's name (`binding`, `eviction`, `token`):
    /// its group, version, kind and schema.
    Create {
        /// `(group, version, kind)` of the body and the answer.
        gvk: (String, String, String),
        /// Registers the body's schema and returns a `$ref` to it.
        schema: SchemaFn,
    },
    /// A read whose query parameters are the fields of `options` and whose answer is text
    /// (`pods/log` with `PodLogOptions`).
    Text {
        /// The options kind (core/v1).
        options: String,
    },
    /// A connection configured by the fields of `options` (`exec`, `attach`, `portforward`).
    Connect {
        /// The options kind (core/v1).
        options: String,
    },
    /// A proxy to what the object names, with or without a subpath (`pods/proxy`).
    Proxy {
        /// The options kind (core/v1).
        options: String,
    },
}

impl Subresource {
    /// `status` (the parent kind) or `scale` (a Scale) with get, update and patch.
    pub fn object(name: &str) -> Self {
        Subresource {
            name: name.to_string(),
            verbs: ["get", "patch", "update"].map(String::from).to_vec(),
            shape: if name == "scale" {
                SubresourceShape::Scale
            } else {
                SubresourceShape::Parent
            },
        }
    }
}

/// The key of a group-version's v3 document: `api/v1` for core, `apis/<group>/<version>` otherwise.
pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Whether a k8s-openapi scope marker is the namespaced one (the marker types carry no method to ask).
fn is_namespaced_scope<S: 'static>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>()
}

/// Registers `<Kind>List` next to `K`'s definition and returns a `$ref` to it.
///
/// k8s-openapi has no schema for its generic `List<T>`, so the list shape is written here the way
/// upstream's generated `FooList` definitions look.
pub fn list_schema_of<K>(generator: &mut SchemaGenerator) -> Schema
where
    K: k8s_openapi::ListableResource + JsonSchema,
{
    let item_ref = generator.subschema_for::<K>();
    let list_meta =
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta>();
    let item_name = K::schema_name();
    let list_name = match item_name.rsplit_once('.') {
        Some((package, _)) => format!("{package}.{}", K::LIST_KIND),
        None => K::LIST_KIND.to_string(),
    };
    let mut meta = list_meta.to_value();
    if let Some(object) = meta.as_object_mut() {
        object.insert(
            "description".into(),
            "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds".into(),
        );
    }
    let plural = K::URL_PATH_SEGMENT;
    let list = json_schema!({
        "description": format!("{} is a list of {}.", K::LIST_KIND, K::KIND),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            },
            "items": {
                "description": format!("List of {plural}."),
                "type": "array",
                "items": item_ref.to_value(),
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            },
            "metadata": meta,
        },
        "required": ["items"],
    });
    generator
        .definitions_mut()
        .insert(list_name.clone(), list.to_value());
    let definitions_path = generator.settings().definitions_path.to_string();
    json_schema!({ "$ref": format!("#{definitions_path}/{list_name}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace, core::v1::Pod};

    #[test]
    fn of_reads_resource_constants() {
        let pod = ApiKind::of::<Pod>(&["get", "list"], &["status"]);
        assert_eq!(
            (pod.group.as_str(), pod.version.as_str(), pod.kind.as_str()),
            ("", "v1", "Pod")
        );
        assert_eq!(pod.plural, "pods");
        assert!(pod.namespaced);
        assert!(pod.supports("list") && !pod.supports("create"));
        assert!(pod.has_subresource("status"));
        assert_eq!(pod.group_version_path(), "api/v1");
        assert_eq!(pod.api_version(), "v1");

        let ns = ApiKind::of::<Namespace>(&[], &[]);
        assert!(!ns.namespaced);

        let deploy = ApiKind::of::<Deployment>(&[], &["scale"]);
        assert_eq!(deploy.group_version_path(), "apis/apps/v1");
        assert_eq!(deploy.api_version(), "apps/v1");
    }

    #[test]
    fn list_schema_registers_list_definition() {
        let mut generator = crate::schema::new_generator();
        let reference = list_schema_of::<Pod>(&mut generator);
        assert_eq!(
            reference.get("$ref").and_then(|v| v.as_str()),
            Some("#/definitions/io.k8s.api.core.v1.PodList")
        );
        let list = &generator.definitions()["io.k8s.api.core.v1.PodList"];
        assert_eq!(
            list["properties"]["items"]["items"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Pod"
        );
        assert!(generator
            .definitions()
            .contains_key("io.k8s.api.core.v1.Pod"));
    }
}
