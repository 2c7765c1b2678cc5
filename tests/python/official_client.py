"""The official `kubernetes` Python client against ferrokube: discovery, CRUD, selectors,
watch, patch, metadata-only reads, and Status errors. Exits non-zero on the first mismatch."""
import json
import sys
import threading

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

NS = sys.argv[1]

config.load_kube_config()
version = client.VersionApi().get_code()
assert version.major == "1", version
core = client.CoreV1Api()
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

# Start a watch before creating, so the ADDED event is seen live.
seen = []
ready = threading.Event()


def watch_configmaps():
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_config_map, NS, timeout_seconds=20)
    ready.set()
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            w.stop()


t = threading.Thread(target=watch_configmaps)
t.start()
ready.wait(5)

cm = client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="py", labels={"app": "py"}), data={"k": "v"}
)
created = core.create_namespaced_config_map(NS, cm)
assert created.metadata.uid, created
got = core.read_namespaced_config_map("py", NS)
assert got.data == {"k": "v"}, got.data
listed = core.list_namespaced_config_map(NS, label_selector="app=py")
assert [i.metadata.name for i in listed.items] == ["py"], listed.items
assert core.list_namespaced_config_map(NS, label_selector="app=nope").items == []
patched = core.patch_namespaced_config_map("py", NS, {"data": {"k2": "v2"}})
assert patched.data == {"k": "v", "k2": "v2"}, patched.data

try:
    core.read_namespaced_config_map("missing", NS)
    raise AssertionError("expected 404")
except ApiException as e:
    assert e.status == 404, e.status
    status = json.loads(e.body)
    assert status["reason"] == "NotFound", status
    assert status["message"] == 'configmaps "missing" not found', status

try:
    core.create_namespaced_config_map(NS, cm)
    raise AssertionError("expected 409")
except ApiException as e:
    assert e.status == 409, e.status

core.delete_namespaced_config_map("py", NS)
t.join(25)
types = [s for s in seen if s[1] == "py"]
assert ("ADDED", "py") in types and ("DELETED", "py") in types, seen

# The dynamic client walks discovery of every group and version, as generic tools do.
dyn = dynamic.DynamicClient(client.ApiClient())
deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
assert deployments.namespaced and deployments.name == "deployments"
kinds = {r.kind for r in dyn.resources.search()}
assert {"Pod", "ConfigMap", "Deployment", "CustomResourceDefinition"} <= kinds, kinds
cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
dyn.create(cms, body={"metadata": {"name": "dyn"}, "data": {"a": "1"}}, namespace=NS)
assert dyn.get(cms, name="dyn", namespace=NS).data.a == "1"
core.delete_namespace(NS)
print("ok")
