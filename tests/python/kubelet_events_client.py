"""The official `kubernetes` Python client reads the kubelet's events about a pod's container:
core/v1 events selected by involvedObject name and fieldPath, from source `kubelet` on the
pod's node, with upstream's reasons.

Usage: kubelet_events_client.py NAMESPACE POD NODE REASON... (KUBECONFIG set). Prints `ok`."""
import sys

from kubernetes import client, config


def main(namespace, pod, node, reasons):
    config.load_kube_config()
    core = client.CoreV1Api()
    selector = f"involvedObject.name={pod},involvedObject.fieldPath=spec.containers{{main}}"
    items = core.list_namespaced_event(namespace, field_selector=selector).items
    seen = {e.reason for e in items}
    assert set(reasons) <= seen, (reasons, [(e.reason, e.message) for e in items])
    for e in items:
        assert e.source.component == "kubelet" and e.source.host == node, e.source
        assert e.reporting_component == "kubelet" and e.reporting_instance == node, e
        assert e.involved_object.kind == "Pod" and e.involved_object.uid, e.involved_object
        assert e.count >= 1 and e.first_timestamp and e.last_timestamp, e
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
