"""kr8s against ferrokube: it connects (it asks for `/version/`, trailing slash), then CRUD,
label selectors and a watch through its object API."""
import sys

import kr8s
from kr8s.objects import ConfigMap, Namespace

NS = sys.argv[1]

api = kr8s.api()
version = api.version()
assert version["major"] == "1", version
Namespace({"metadata": {"name": NS}}).create()
cm = ConfigMap(
    {"metadata": {"name": "kr", "namespace": NS, "labels": {"app": "kr"}}, "data": {"a": "1"}}
)
cm.create()
found = list(kr8s.get("configmaps", namespace=NS, label_selector={"app": "kr"}))
assert [c.name for c in found] == ["kr"], found
cm.patch({"data": {"b": "2"}})
cm.refresh()
assert cm.raw["data"] == {"a": "1", "b": "2"}, cm.raw["data"]
assert cm.exists()
events = []
for event, obj in api.watch("configmaps", namespace=NS):
    events.append((event, obj.name))
    if obj.name == "kr":
        break
assert ("ADDED", "kr") in events, events
cm.delete()
try:
    ConfigMap.get("kr", namespace=NS)
    deleted = False
except kr8s.NotFoundError:
    deleted = True
assert deleted
Namespace.get(NS).delete()
print("ok")
