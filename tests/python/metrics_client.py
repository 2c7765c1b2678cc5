"""The official `kubernetes` Python client reads metrics.k8s.io/v1beta1 PodMetrics and
NodeMetrics through CustomObjectsApi (as HPA dashboards and scripts do). Prints the busy pod's
CPU in nanocores, then `ok`. Exits non-zero on the first mismatch."""
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

NS, NODE = sys.argv[1], sys.argv[2]

config.load_kube_config()
api = client.CustomObjectsApi()
pods = api.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods")
assert pods["kind"] == "PodMetricsList", pods
by_name = {p["metadata"]["name"]: p for p in pods["items"]}
assert {"burn", "idle"} <= set(by_name), by_name.keys()
burn = by_name["burn"]
assert burn["metadata"]["labels"]["app"] == "burn", burn
assert burn["window"].endswith("s") and burn["timestamp"].endswith("Z"), burn
cpu = {p: sum(parse_quantity(c["usage"]["cpu"]) for c in by_name[p]["containers"]) for p in by_name}
assert cpu["burn"] > cpu["idle"], cpu

selected = api.list_namespaced_custom_object(
    "metrics.k8s.io", "v1beta1", NS, "pods", label_selector="app=idle")
assert [p["metadata"]["name"] for p in selected["items"]] == ["idle"], selected

one = api.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods", "burn")
assert one["containers"][0]["name"] == "spin", one

node = api.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", NODE)
assert parse_quantity(node["usage"]["memory"]) > 0, node

try:
    api.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", NS, "pods", "nope")
    raise AssertionError("an unknown pod has metrics")
except ApiException as e:
    assert e.status == 404, e

print(int(cpu["burn"] * 10**9))
print("ok")
