"""Helm actions on charts/ferrokube through helm-python-sdk (the Helm v4 Go library), one per
invocation, for tests/helm_chart.rs. Prints one JSON document on stdout.

    helm_chart.py lint CHART VALUES_JSON
    helm_chart.py template CHART VALUES_JSON RELEASE NAMESPACE     -> [objects]
    helm_chart.py install CHART VALUES_JSON RELEASE NAMESPACE      -> release summary
    helm_chart.py upgrade CHART VALUES_JSON RELEASE NAMESPACE      -> release summary
    helm_chart.py rollback RELEASE NAMESPACE REVISION              -> release summary
    helm_chart.py uninstall RELEASE NAMESPACE                      -> uninstall answer
    helm_chart.py history RELEASE NAMESPACE                        -> [revisions]

The cluster comes from $KUBECONFIG. The release summary keeps what the test checks (name,
namespace, revision/version, status) and drops the manifest body.
"""

import json
import sys

import helm_python as helm
import yaml


def summary(release):
    """The stable parts of a release summary, whatever the SDK's exact field names."""
    keep = {}
    for key in ("name", "namespace", "version", "revision", "status", "info", "config"):
        if key in release:
            keep[key] = release[key]
    return keep


def objects(rendered):
    """The rendered manifests as objects, skipping NOTES.txt and empty documents."""
    out = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                out.append(doc)
    return out


def main(argv):
    action = argv[0]
    if action == "lint":
        return helm.lint(argv[1], json.loads(argv[2]), strict=True)
    if action == "template":
        chart = helm.Chart.load(argv[1])
        rendered = chart.render(
            json.loads(argv[2]), name=argv[3], namespace=argv[4], is_install=True
        )
        return objects(rendered)
    if action in ("install", "upgrade"):
        chart, values, name, namespace = argv[1], json.loads(argv[2]), argv[3], argv[4]
        with helm.Config(namespace=namespace) as cfg:
            if action == "install":
                release = cfg.install(chart, name, values, namespace=namespace, timeout=120)
            else:
                release = cfg.upgrade(chart, name, values, namespace=namespace, timeout=120)
            return summary(release)
    if action == "rollback":
        name, namespace, revision = argv[1], argv[2], int(argv[3])
        with helm.Config(namespace=namespace) as cfg:
            cfg.rollback(name, version=revision, timeout=120)
            return summary(cfg.status(name))
    if action == "uninstall":
        with helm.Config(namespace=argv[2]) as cfg:
            answer = cfg.uninstall(argv[1], timeout=120)
            return {"info": answer.get("info"), "release": summary(answer.get("release", {}))}
    if action == "history":
        with helm.Config(namespace=argv[2]) as cfg:
            return [summary(r) for r in cfg.history(argv[1])]
    raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), default=str))
