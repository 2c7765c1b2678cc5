"""The official `kubernetes` Python client is generated from upstream's OpenAPI document: each
operation becomes a method named after its operationId (without the group-version tag) whose
arguments are the operation's parameters. So every operation ferrokube documents in /openapi/v2,
subresources included (pods/exec, pods/log, pods/eviction, services/proxy/{path}, ...), must name
a method the client has, with exactly that method's arguments. Then a few of those subresource
methods are called for real. Prints `ok`; exits non-zero listing every mismatch.

Two differences are the client's, not the document's: its generator drops the deprecated
`/watch/` paths, and this client (v37) is a release newer than the API we serve (v1.36), so its
list operations take 1.37's `shardSelector` as well. metrics.k8s.io is an aggregated group
(upstream's comes from metrics-server), so the client, generated from kube-apiserver's own
document, has no methods for it."""
import inspect
import json
import re
import sys

from kubernetes import client, config

config.load_kube_config()
api = client.ApiClient()
method, url, headers, body, post = api.param_serialize(
    "GET", "/openapi/v2", header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
response = api.call_api(method, url, headers, body, post)
response.read()
doc = json.loads(response.data)


def snake(name):
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def api_class(tag):
    """`rbacAuthorization_v1` -> RbacAuthorizationV1Api"""
    return "".join(part[0].upper() + part[1:] for part in tag.split("_")) + "Api"


def method_name(operation_id, cls):
    """`connectCoreV1GetNamespacedPodExec` -> connect_get_namespaced_pod_exec"""
    tag = cls[: -len("Api")]
    return snake(operation_id.replace(tag, "", 1))


NEWER_THAN_OURS = {"shard_selector"}
INTERNAL = {"self", "async_req", "_return_http_data_only", "_preload_content",
            "_request_timeout", "_request_auth", "_content_type", "_headers", "_host_index"}


def argument_names(path_params, op):
    names = []
    for p in path_params + op.get("parameters", []):
        n = snake(p["name"])
        if n == "continue":  # a Python keyword
            n = "_continue"
        # The generator renames a query parameter that repeats a path parameter (`path`).
        names.append(n + "2" if n in names else n)
    return set(names)


mismatches = []
seen = set()
for path, item in doc["paths"].items():
    if "/watch/" in path or path.startswith("/apis/metrics.k8s.io/"):
        continue
    shared = item.get("parameters", [])
    for method, op in item.items():
        if method == "parameters":
            continue
        cls = api_class(op["tags"][0])
        name = method_name(op["operationId"], cls)
        seen.add((cls, name))
        fn = getattr(getattr(client, cls, None), name, None)
        if fn is None:
            mismatches.append(f"{method.upper()} {path}: {op['operationId']} -> {cls}.{name} missing")
            continue
        expected = set(inspect.signature(fn).parameters) - INTERNAL - NEWER_THAN_OURS
        ours = argument_names(shared, op)
        if ours != expected:
            mismatches.append(f"{method.upper()} {path}: {cls}.{name} arguments: "
                              f"missing {sorted(expected - ours)}, extra {sorted(ours - expected)}")

# The subresources the client reaches through dedicated methods are all documented.
for cls, name in [
    ("CoreV1Api", "connect_get_namespaced_pod_exec"),
    ("CoreV1Api", "connect_post_namespaced_pod_attach"),
    ("CoreV1Api", "connect_post_namespaced_pod_portforward"),
    ("CoreV1Api", "connect_get_namespaced_pod_proxy_with_path"),
    ("CoreV1Api", "connect_delete_namespaced_service_proxy"),
    ("CoreV1Api", "connect_put_node_proxy_with_path"),
    ("CoreV1Api", "read_namespaced_pod_log"),
    ("CoreV1Api", "create_namespaced_pod_eviction"),
    ("CoreV1Api", "create_namespaced_pod_binding"),
    ("CoreV1Api", "create_namespaced_service_account_token"),
    ("CoreV1Api", "patch_namespaced_pod_ephemeralcontainers"),
    ("CoreV1Api", "replace_namespace_finalize"),
    ("CoreV1Api", "read_namespaced_replication_controller_scale"),
    ("AppsV1Api", "patch_namespaced_deployment_scale"),
    ("AppsV1Api", "replace_namespaced_stateful_set_scale"),
]:
    if (cls, name) not in seen:
        mismatches.append(f"{cls}.{name}: no operation documents it")

if mismatches:
    print("\n".join(mismatches))
    sys.exit(1)

# Calls through the generated methods reach the subresources they document.
core = client.CoreV1Api()
token = core.create_namespaced_service_account_token(
    "default", "default", {"spec": {"audiences": ["api"], "expirationSeconds": 3600}})
assert token.status.token.count(".") == 2, token.status
core.create_namespaced_pod("default", {
    "metadata": {"name": "doc-pod"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "nowhere"},
})
try:
    core.create_namespaced_pod_eviction("doc-pod", "default", {
        "metadata": {"name": "doc-pod"}})
except client.ApiException as e:
    raise SystemExit(f"eviction: {e.status} {e.body}")

# Namespaces have no deletecollection, in the document or on the wire (each namespace must be
# finalized on its own), as upstream.
method, url, headers, body, post = api.param_serialize(
    "DELETE", "/api/v1/namespaces", auth_settings=["BearerToken"])
response = api.call_api(method, url, headers, body, post)
response.read()
assert response.status == 405, (response.status, response.data)
assert json.loads(response.data)["reason"] == "MethodNotAllowed", response.data
assert core.read_namespace("default").metadata.name == "default"
print("ok")
