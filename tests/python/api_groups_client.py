"""The official `kubernetes` Python client on the API groups a discovery walk meets:
apiregistration.k8s.io (the local APIServices), resource.k8s.io/v1 (dynamic resource
allocation: device classes, claims with their status, slices selected by driver) and
networking.k8s.io's ServiceCIDR/IPAddress. Prints `ok`; exits non-zero on the first mismatch."""
from kubernetes import client, config
from kubernetes.client.rest import ApiException

config.load_kube_config()

# apiregistration.k8s.io/v1: one Local, Available APIService per served group-version.
reg = client.ApiregistrationV1Api()
apps = reg.read_api_service("v1.apps")
assert apps.spec.group == "apps" and apps.spec.group_priority_minimum == 17800, apps.spec
assert apps.spec.service is None, apps.spec
available = [c for c in apps.status.conditions if c.type == "Available"]
assert available and available[0].status == "True" and available[0].reason == "Local", apps.status
names = {s.metadata.name for s in reg.list_api_service().items}
assert {"v1.", "v1.resource.k8s.io", "v1.apiregistration.k8s.io"} <= names, names

# resource.k8s.io/v1
dra = client.ResourceV1Api()
dra.create_device_class({
    "metadata": {"name": "gpu.example.com"},
    "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.example.com'"}}]},
})
claim = dra.create_namespaced_resource_claim("default", {
    "metadata": {"name": "c1"},
    "spec": {"devices": {"requests": [
        {"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}]}},
})
assert claim.metadata.generation == 1, claim.metadata
try:
    dra.patch_namespaced_resource_claim("c1", "default", {"spec": {"devices": {"requests": [
        {"name": "other", "exactly": {"deviceClassName": "gpu.example.com"}}]}}})
    raise SystemExit("a claim's spec changed")
except ApiException as e:
    assert e.status == 422 and "field is immutable" in e.body, e.body
status = dra.patch_namespaced_resource_claim_status("c1", "default", {"status": {"allocation": {}}})
assert status.status.allocation is not None, status.status
for node, driver in [("n1", "gpu.example.com"), ("n2", "nic.example.com")]:
    dra.create_resource_slice({
        "metadata": {"name": f"{node}-{driver}"},
        "spec": {"driver": driver, "nodeName": node,
                 "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}},
    })
selected = dra.list_resource_slice(field_selector="spec.driver=nic.example.com")
assert [s.metadata.name for s in selected.items] == ["n2-nic.example.com"], selected.items

# networking.k8s.io/v1: the default ServiceCIDR (Ready) and IPAddress objects.
net = client.NetworkingV1Api()
cidr = net.read_service_cidr("kubernetes")
assert cidr.spec.cidrs == ["10.96.0.0/12"], cidr.spec
ready = [c for c in cidr.status.conditions if c.type == "Ready"]
assert ready and ready[0].status == "True", cidr.status
ref = {"group": "mygroup", "resource": "myresources", "namespace": "foo", "name": "bar"}
net.create_ip_address({"metadata": {"name": "fe80::42:1dff:fe84:f9e2"}, "spec": {"parentRef": ref}})
try:
    net.create_ip_address({"metadata": {"name": "FE80::1"}, "spec": {"parentRef": ref}})
    raise SystemExit("a non-canonical IPAddress name was accepted")
except ApiException as e:
    assert e.status == 422 and 'must be in canonical form' in e.body and 'fe80::1' in e.body, e.body
print("ok")
