"""The official client's dynamic discovery finds an aggregated group and reads through it.

Usage: aggregated_client.py NAMESPACE (KUBECONFIG set). Prints `ok` when every check held.
"""
import sys

from kubernetes import config, dynamic
from kubernetes.client import api_client


def main(namespace):
    client = dynamic.DynamicClient(api_client.ApiClient(configuration=config.load_kube_config()))
    flunders = client.resources.get(api_version="wardle.example.com/v1alpha1", kind="Flunder")
    assert flunders.namespaced and flunders.name == "flunders", flunders
    listed = flunders.get(namespace=namespace)
    items = listed.items
    assert len(items) == 1 and items[0].metadata.name == "one", listed
    by = items[0].metadata.annotations["wardle.example.com/requested-by"]
    assert by == "admin", by
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
