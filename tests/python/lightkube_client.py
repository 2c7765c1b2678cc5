"""lightkube against ferrokube: typed CRUD, server-side apply, selectors and a watch."""
import sys

from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

NS = sys.argv[1]

c = Client()
c.create(Namespace(metadata=ObjectMeta(name=NS)))
c.create(ConfigMap(metadata=ObjectMeta(name="lk", labels={"app": "lk"}), data={"a": "1"}), namespace=NS)
got = c.get(ConfigMap, "lk", namespace=NS)
assert got.data == {"a": "1"}, got.data
names = [o.metadata.name for o in c.list(ConfigMap, namespace=NS, labels={"app": "lk"})]
assert names == ["lk"], names
applied = c.apply(
    ConfigMap(metadata=ObjectMeta(name="lk2", namespace=NS), data={"x": "y"}),
    field_manager="lightkube-test",
)
assert applied.data == {"x": "y"}
managers = [m.manager for m in applied.metadata.managedFields]
assert "lightkube-test" in managers, managers
for op, obj in c.watch(ConfigMap, namespace=NS, labels={"app": "lk"}):
    assert op == "ADDED" and obj.metadata.name == "lk", (op, obj.metadata.name)
    break
c.delete(ConfigMap, "lk", namespace=NS)
try:
    c.get(ConfigMap, "lk", namespace=NS)
    raise AssertionError("expected 404")
except ApiError as e:
    assert e.status.code == 404, e.status
c.delete(Namespace, NS)
print("ok")
