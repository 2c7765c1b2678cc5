"""The official `kubernetes` Python client on events: events.k8s.io/v1 and core/v1 are one
resource, as upstream keeps them. An event recorded through events.k8s.io is listed by core/v1
with its core field names (field selector `source` falls back to the reporting controller), and
a core event reads back through events.k8s.io/v1; patch, update, delete and delete-collection
work from either side (upstream's "Events API" conformance lifecycle). Prints `ok`."""
import datetime
import sys

from kubernetes import client, config

config.load_kube_config()
ns = sys.argv[1]
events = client.EventsV1Api()
core = client.CoreV1Api()
when = datetime.datetime(2017, 9, 19, 13, 49, 16, tzinfo=datetime.timezone.utc)


def new_event(name, label):
    return client.EventsV1Event(
        metadata=client.V1ObjectMeta(name=name, labels={label: "true"}),
        regarding=client.V1ObjectReference(namespace=ns, kind="Pod", name="p"),
        event_time=when, note="This is " + name, action="Do", reason="Test",
        type="Normal", reporting_controller="test-controller", reporting_instance="test-node")


created = events.create_namespaced_event(ns, new_event("event-test", "testevent-constant"))
assert created.metadata.resource_version, created.metadata
assert created.note == "This is event-test" and created.regarding.name == "p", created

# core/v1 sees the same object under its own field names.
as_core = core.read_namespaced_event("event-test", ns)
assert as_core.message == "This is event-test", as_core
assert as_core.involved_object.kind == "Pod" and as_core.reporting_component == "test-controller"
by_source = core.list_namespaced_event(ns, field_selector="source=test-controller").items
assert [e.metadata.name for e in by_source] == ["event-test"], by_source
by_controller = events.list_namespaced_event(
    ns, field_selector="reportingController=test-controller").items
assert [e.metadata.name for e in by_controller] == ["event-test"], by_controller
by_regarding = events.list_event_for_all_namespaces(field_selector="regarding.name=p").items
assert "event-test" in [e.metadata.name for e in by_regarding], by_regarding
assert not events.list_namespaced_event(ns, field_selector="regarding.name=q").items

# Patch (a series), then update, through events.k8s.io.
patched = events.patch_namespaced_event(
    "event-test", ns, {"series": {"count": 2, "lastObservedTime": "2017-09-19T13:49:11.000000Z"}})
assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
assert patched.series.count == 2 and patched.note == "This is event-test", patched
patched.series = client.EventsV1EventSeries(count=100, last_observed_time=when)
updated = events.replace_namespaced_event("event-test", ns, patched)
assert updated.series.count == 100, updated
assert core.read_namespaced_event("event-test", ns).series.count == 100

# A core event reads back through events.k8s.io/v1 (with an eventTime: this client's
# events.k8s.io model requires one, and upstream serves a core event without it as null too).
core.create_namespaced_event(ns, client.CoreV1Event(
    metadata=client.V1ObjectMeta(name="core-event"), event_time=when,
    involved_object=client.V1ObjectReference(namespace=ns, kind="Pod", name="p"),
    message="from core", reason="Core", type="Warning", count=3,
    source=client.V1EventSource(component="kubelet")))
seen = events.read_namespaced_event("core-event", ns)
assert seen.note == "from core" and seen.deprecated_count == 3, seen
assert seen.deprecated_source.component == "kubelet" and seen.regarding.name == "p", seen

# Delete one; delete a collection by label.
events.delete_namespaced_event("event-test", ns)
assert "event-test" not in [e.metadata.name for e in core.list_namespaced_event(ns).items]
for i in range(3):
    events.create_namespaced_event(ns, new_event(f"test-event-{i}", "testevent-set"))
assert len(events.list_namespaced_event(ns, label_selector="testevent-set=true").items) == 3
events.delete_collection_namespaced_event(ns, label_selector="testevent-set=true")
assert not events.list_namespaced_event(ns, label_selector="testevent-set=true").items
assert not core.list_namespaced_event(ns, label_selector="testevent-set=true").items
print("ok")
