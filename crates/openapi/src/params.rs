//! The request parameters kube-apiserver documents on its REST operations.

use serde_json::{Map, Value};

/// Where a parameter travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A `{placeholder}` in the URL path.
    Path,
    /// A `?name=value` query parameter.
    Query,
}

/// The primitive type of a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamType {
    /// A string.
    String,
    /// An integer (upstream documents these as plain `integer`).
    Integer,
    /// A boolean.
    Boolean,
}

/// One documented parameter.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    /// Parameter name as it appears on the wire.
    pub name: &'static str,
    /// Path or query.
    pub location: Location,
    /// What the parameter does.
    pub description: String,
    /// Value type.
    pub ty: ParamType,
    /// Whether the client must send it (path parameters always are).
    pub required: bool,
}

impl Param {
    /// A query parameter.
    fn query(name: &'static str, ty: ParamType, description: &str) -> Param {
        Param {
            name,
            location: Location::Query,
            description: description.to_string(),
            ty,
            required: false,
        }
    }

    /// A path parameter.
    fn path(name: &'static str, description: String) -> Param {
        Param {
            name,
            location: Location::Path,
            description,
            ty: ParamType::String,
            required: true,
        }
    }

    /// The fields shared by both document versions.
    fn common_fields(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("description".into(), self.description.clone().into());
        let location = match self.location {
            Location::Path => "path",
            Location::Query => "query",
        };
        map.insert("in".into(), location.into());
        map.insert("name".into(), self.name.into());
        if self.required {
            map.insert("required".into(), true.into());
        }
        map
    }

    /// The parameter's type keywords; upstream marks every non-boolean one `uniqueItems`.
    fn type_fields(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let ty = match self.ty {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Boolean => "boolean",
        };
        map.insert("type".into(), ty.into());
        if self.ty != ParamType::Boolean {
            map.insert("uniqueItems".into(), true.into());
        }
        map
    }

    /// OpenAPI v2 form: type keywords inline.
    pub fn to_v2(&self) -> Value {
        let mut map = self.common_fields();
        map.extend(self.type_fields());
        Value::Object(map)
    }

    /// OpenAPI v3 form: type keywords under `schema`.
    pub fn to_v3(&self) -> Value {
        let mut map = self.common_fields();
        map.insert("schema".into(), Value::Object(self.type_fields()));
        Value::Object(map)
    }
}

/// `{name}` of the addressed object.
pub(crate) fn name(kind: &str) -> Param {
    Param::path("name", format!("name of the {kind}"))
}

/// `{namespace}` of the addressed objects.
pub(crate) fn namespace() -> Param {
    Param::path(
        "namespace",
        "object name and auth scope, such as for teams and projects".to_string(),
    )
}

/// `pretty`: indent the output.
pub(crate) fn pretty() -> Param {
    Param::query("pretty", ParamType::String, "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).")
}

/// Parameters of list and watch requests, sorted by name as upstream lists them.
pub(crate) fn list() -> Vec<Param> {
    vec![
        Param::query("allowWatchBookmarks", ParamType::Boolean, "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored."),
        continue_token(),
        field_selector(),
        label_selector(),
        limit(),
        resource_version(),
        resource_version_match(),
        send_initial_events(),
        timeout_seconds(),
        Param::query("watch", ParamType::Boolean, "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
    ]
}

/// Parameters of create, replace and (with `force`) patch requests.
pub(crate) fn write(field_manager_required: bool) -> Vec<Param> {
    let mut manager = Param::query("fieldManager", ParamType::String, "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.");
    if field_manager_required {
        manager.description.push_str(" This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).");
    }
    vec![
        dry_run(),
        manager,
        Param::query("fieldValidation", ParamType::String, "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered."),
    ]
}

/// Parameters of patch requests: the write parameters plus `force`.
pub(crate) fn patch() -> Vec<Param> {
    let mut params = write(true);
    params.push(Param::query("force", ParamType::Boolean, "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."));
    params
}

/// Parameters of single-object delete requests.
pub(crate) fn delete() -> Vec<Param> {
    vec![
        dry_run(),
        grace_period_seconds(),
        ignore_store_read_error(),
        orphan_dependents(),
        propagation_policy(),
    ]
}

/// Parameters of deletecollection requests: delete options plus list options.
pub(crate) fn delete_collection() -> Vec<Param> {
    vec![
        continue_token(),
        dry_run(),
        field_selector(),
        grace_period_seconds(),
        ignore_store_read_error(),
        label_selector(),
        limit(),
        orphan_dependents(),
        propagation_policy(),
        resource_version(),
        resource_version_match(),
        send_initial_events(),
        timeout_seconds(),
    ]
}

/// The query parameters of a connect or getter options kind (core/v1 `PodExecOptions`,
/// `PodLogOptions`, `…ProxyOptions`): its fields, sorted by name. Unknown kinds have none.
pub(crate) fn options(kind: &str) -> Vec<Param> {
    use ParamType::{Boolean, Integer, String};
    let container = |verb: &str| {
        Param::query(
            "container",
            String,
            &format!("The container to {verb}. Defaults to the only container if the pod has one."),
        )
    };
    let streams = [
        Param::query(
            "stderr",
            Boolean,
            "Redirect the standard error stream of the container for this call.",
        ),
        Param::query(
            "stdin",
            Boolean,
            "Redirect the standard input stream of the container for this call. Defaults to false.",
        ),
        Param::query(
            "stdout",
            Boolean,
            "Redirect the standard output stream of the container for this call.",
        ),
        Param::query(
            "tty",
            Boolean,
            "Allocate a terminal for this call (stdin must be true too). Defaults to false.",
        ),
    ];
    let mut out = match kind {
        "PodAttachOptions" => {
            let mut out = vec![container("attach to")];
            out.extend(streams);
            out
        }
        "PodExecOptions" => {
            let mut out = vec![
                Param::query("command", String, "The command to run, one argv element per parameter; not run in a shell."),
                container("run the command in"),
            ];
            out.extend(streams);
            out
        }
        "PodPortForwardOptions" => vec![Param::query(
            "ports",
            Integer,
            "The ports of the pod to forward (required over WebSockets).",
        )],
        "PodLogOptions" => vec![
            container("stream the log of"),
            Param::query("follow", Boolean, "Keep streaming the log as it grows. Defaults to false."),
            Param::query("insecureSkipTLSVerifyBackend", Boolean, "Do not verify the serving certificate of the node agent the log is read from."),
            Param::query("limitBytes", Integer, "Stop after about this many bytes of log (the last line may be cut)."),
            Param::query("previous", Boolean, "Return the log of the container's previous, terminated instance. Defaults to false."),
            Param::query("sinceSeconds", Integer, "Only lines newer than this many seconds (or the container's start, whichever is later)."),
            Param::query("stream", String, "Which stream to return: All (the default), Stdout or Stderr."),
            Param::query("tailLines", Integer, "Only this many lines from the end of the log."),
            Param::query("timestamps", Boolean, "Begin every line with an RFC3339 or RFC3339Nano timestamp. Defaults to false."),
        ],
        "PodProxyOptions" | "ServiceProxyOptions" | "NodeProxyOptions" => {
            vec![Param::query("path", String, "The URL path of the proxied request, relative to what the object names.")]
        }
        _ => Vec::new(),
    };
    out.sort_by(|a, b| a.name.cmp(b.name));
    out
}

/// `{path}`: the rest of a proxied request's URL.
pub(crate) fn proxy_path() -> Param {
    Param::path("path", "path to the resource".to_string())
}

fn continue_token() -> Param {
    Param::query("continue", ParamType::String, "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize. If the specified continue value is no longer valid whether due to expiration (generally five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 ResourceExpired error together with a continue token. This field is not supported when watch is true.")
}

fn field_selector() -> Param {
    Param::query(
        "fieldSelector",
        ParamType::String,
        "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
    )
}

fn label_selector() -> Param {
    Param::query(
        "labelSelector",
        ParamType::String,
        "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
    )
}

fn limit() -> Param {
    Param::query("limit", ParamType::Integer, "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. The server may return fewer results than requested, together with a continue token, when it filters items out.")
}

fn resource_version() -> Param {
    Param::query("resourceVersion", ParamType::String, "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset")
}

fn resource_version_match() -> Param {
    Param::query("resourceVersionMatch", ParamType::String, "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset")
}

fn send_initial_events() -> Param {
    Param::query("sendInitialEvents", ParamType::Boolean, "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection. Once all such events have been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report the ResourceVersion (RV) corresponding to the set of objects, and be marked with `\"k8s.io/initial-events-end\": \"true\"` annotation. Afterwards, the watch stream will proceed as usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched.")
}

fn timeout_seconds() -> Param {
    Param::query("timeoutSeconds", ParamType::Integer, "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.")
}

fn dry_run() -> Param {
    Param::query("dryRun", ParamType::String, "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
}

fn grace_period_seconds() -> Param {
    Param::query("gracePeriodSeconds", ParamType::Integer, "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.")
}

fn ignore_store_read_error() -> Param {
    Param::query("ignoreStoreReadErrorWithClusterBreakingPotential", ParamType::Boolean, "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object.")
}

fn orphan_dependents() -> Param {
    Param::query("orphanDependents", ParamType::Boolean, "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.")
}

fn propagation_policy() -> Param {
    Param::query("propagationPolicy", ParamType::String, "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.")
}

/// The JSON of a parameter list in the requested document version.
pub(crate) fn render(params: &[Param], v3: bool) -> Value {
    Value::Array(
        params
            .iter()
            .map(|p| if v3 { p.to_v3() } else { p.to_v2() })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v2_and_v3_forms() {
        let limit = limit();
        let v2 = limit.to_v2();
        assert_eq!(v2["in"], "query");
        assert_eq!(v2["type"], "integer");
        assert_eq!(v2["uniqueItems"], true);
        let v3 = limit.to_v3();
        assert_eq!(
            v3["schema"],
            json!({"type": "integer", "uniqueItems": true})
        );
        assert!(v3.get("type").is_none());
        let ns = namespace().to_v2();
        assert_eq!(ns["in"], "path");
        assert_eq!(ns["required"], true);
    }

    #[test]
    fn verb_parameter_sets_match_upstream() {
        let names = |ps: Vec<Param>| ps.iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(
            names(write(false)),
            ["dryRun", "fieldManager", "fieldValidation"]
        );
        assert_eq!(
            names(patch()),
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        assert!(names(list()).contains(&"sendInitialEvents"));
        assert!(names(delete()).contains(&"propagationPolicy"));
        assert!(names(delete_collection()).contains(&"labelSelector"));
        assert!(!names(list()).contains(&"dryRun"));
    }
}
