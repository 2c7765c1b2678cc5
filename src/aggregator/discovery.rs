//! Remote groups in this server's discovery. Legacy `/apis` and `/apis/<group>` list every
//! group-version an APIService claims (ordered by its priorities, as upstream's aggregator
//! builds them from APIServices); aggregated discovery also carries the remote resources,
//! taken from the extension server's `/apis/<group>/<version>` document that the
//! availability probe last fetched (upstream's discovery manager fetches and caches the same),
//! marked `Stale` when the latest probe failed.

use serde_json::{json, Value};

use super::{Entry, Probe};

/// Remote versions of each group, groups by descending `groupPriorityMinimum` then name,
/// versions by descending `versionPriority` then name.
fn remote_groups(entries: &[Entry]) -> Vec<(String, Vec<&Entry>)> {
    let mut groups: Vec<(String, Vec<&Entry>)> = Vec::new();
    for e in entries {
        match groups.iter_mut().find(|(g, _)| *g == e.remote.group) {
            Some((_, versions)) => versions.push(e),
            None => groups.push((e.remote.group.clone(), vec![e])),
        }
    }
    for (_, versions) in &mut groups {
        versions.sort_by(|a, b| {
            (b.remote.version_priority, &a.remote.version)
                .cmp(&(a.remote.version_priority, &b.remote.version))
        });
    }
    let priority = |vs: &[&Entry]| vs.iter().map(|e| e.remote.group_priority).max();
    groups.sort_by(|(ga, a), (gb, b)| (priority(b), ga).cmp(&(priority(a), gb)));
    groups
}

fn version_json(group: &str, version: &str) -> Value {
    json!({"groupVersion": format!("{group}/{version}"), "version": version})
}

/// Adds the remote group-versions to a legacy group entry (`APIGroup` or an item of
/// `APIGroupList`), or makes one.
fn merge_group(entry: Option<Value>, group: &str, remote: &[&Entry]) -> Value {
    let mut entry = entry.unwrap_or_else(|| json!({"name": group, "versions": []}));
    let versions = entry["versions"].as_array_mut();
    let Some(versions) = versions else {
        return entry;
    };
    for e in remote {
        let known = versions
            .iter()
            .any(|v| v["version"].as_str() == Some(e.remote.version.as_str()));
        if !known {
            versions.push(version_json(group, &e.remote.version));
        }
    }
    if entry.get("preferredVersion").is_none() {
        entry["preferredVersion"] = entry["versions"][0].clone();
    }
    entry
}

/// `/apis` (`APIGroupList`) with the remote groups.
pub fn merge_group_list(doc: &mut Value, entries: &[Entry]) {
    let Some(groups) = doc["groups"].as_array_mut() else {
        return;
    };
    for (group, remote) in remote_groups(entries) {
        match groups.iter_mut().find(|g| g["name"] == group.as_str()) {
            Some(existing) => *existing = merge_group(Some(existing.take()), &group, &remote),
            None => groups.push(merge_group(None, &group, &remote)),
        }
    }
}

/// `/apis/<group>` (`APIGroup`) from the local document (if any) and the remote versions.
pub fn group(local: Option<Value>, group: &str, entries: &[Entry]) -> Option<Value> {
    let remote = remote_groups(entries)
        .into_iter()
        .find(|(g, _)| g == group)
        .map(|(_, v)| v);
    let Some(remote) = remote else {
        return local;
    };
    let mut doc = merge_group(local, group, &remote);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// Aggregated discovery (`APIGroupDiscoveryList` for `/apis`) with the remote groups.
pub fn merge_aggregated(doc: &mut Value, entries: &[Entry]) {
    let Some(items) = doc["items"].as_array_mut() else {
        return;
    };
    for (group, remote) in remote_groups(entries) {
        let index = match items
            .iter()
            .position(|i| i["metadata"]["name"] == group.as_str())
        {
            Some(i) => i,
            None => {
                items.push(
                    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": []}),
                );
                items.len() - 1
            }
        };
        let Some(versions) = items[index]["versions"].as_array_mut() else {
            continue;
        };
        for e in remote {
            versions.retain(|v| v["version"].as_str() != Some(e.remote.version.as_str()));
            versions.push(aggregated_version(e));
        }
    }
}

/// One remote version in aggregated discovery.
fn aggregated_version(e: &Entry) -> Value {
    let fresh = matches!(e.probe, Some(Probe::Passed(_)));
    let resources = e
        .last_document
        .as_ref()
        .map(|doc| aggregated_resources(doc, &e.remote.group, &e.remote.version))
        .unwrap_or_default();
    json!({
        "version": e.remote.version,
        "resources": resources,
        "freshness": if fresh { "Current" } else { "Stale" },
    })
}

/// An `APIResourceList`'s resources in aggregated form (subresources under their parent).
pub fn aggregated_resources(list: &Value, group: &str, version: &str) -> Vec<Value> {
    let all = list["resources"].as_array().cloned().unwrap_or_default();
    let text = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_string();
    let response_kind = |r: &Value| {
        json!({
            "group": r["group"].as_str().unwrap_or(group),
            "version": r["version"].as_str().unwrap_or(version),
            "kind": text(r, "kind"),
        })
    };
    let mut out = Vec::new();
    for r in all.iter().filter(|r| !text(r, "name").contains('/')) {
        let name = text(r, "name");
        let subresources: Vec<Value> = all
            .iter()
            .filter_map(|s| {
                let full = text(s, "name");
                let sub = full.strip_prefix(&format!("{name}/"))?.to_string();
                Some(json!({"subresource": sub, "responseKind": response_kind(s), "verbs": s["verbs"]}))
            })
            .collect();
        let namespaced = r["namespaced"].as_bool().unwrap_or(false);
        let mut entry = json!({
            "resource": name,
            "responseKind": response_kind(r),
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": text(r, "singularName"),
            "verbs": r["verbs"],
        });
        for key in ["shortNames", "categories"] {
            if r[key].as_array().is_some_and(|a| !a.is_empty()) {
                entry[key] = r[key].clone();
            }
        }
        if !subresources.is_empty() {
            entry["subresources"] = json!(subresources);
        }
        out.push(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregator::{Remote, ServiceRef};

    fn entry(group: &str, version: &str, gp: i64, vp: i64, doc: Option<Value>) -> Entry {
        Entry {
            remote: Remote {
                name: format!("{version}.{group}"),
                group: group.into(),
                version: version.into(),
                group_priority: gp,
                version_priority: vp,
                service: ServiceRef {
                    namespace: "ns".into(),
                    name: "api".into(),
                    port: 443,
                },
                ca_bundle: None,
                insecure_skip_tls_verify: false,
                available: doc.is_some(),
                condition: None,
                condition_since: None,
            },
            probe: doc.clone().map(Probe::Passed),
            last_document: doc,
        }
    }

    #[test]
    fn remote_groups_join_legacy_and_aggregated_discovery() {
        let doc = json!({"resources": [
            {"name": "flunders", "singularName": "flunder", "namespaced": true, "kind": "Flunder", "verbs": ["get", "list"], "shortNames": ["fl"]},
            {"name": "flunders/status", "singularName": "", "namespaced": true, "kind": "Flunder", "verbs": ["get"]},
        ]});
        let entries = vec![
            entry("wardle.example.com", "v1alpha1", 1000, 15, Some(doc)),
            entry("wardle.example.com", "v1beta1", 1000, 20, None),
        ];
        let mut list = json!({"kind": "APIGroupList", "groups": [{"name": "apps", "versions": [version_json("apps", "v1")]}]});
        merge_group_list(&mut list, &entries);
        let wardle = &list["groups"][1];
        assert_eq!(wardle["preferredVersion"]["version"], "v1beta1");
        assert_eq!(
            wardle["versions"][1]["groupVersion"],
            "wardle.example.com/v1alpha1"
        );
        let g = group(None, "wardle.example.com", &entries).expect("group");
        assert_eq!(g["kind"], "APIGroup");
        assert!(group(None, "other", &entries).is_none());
        let mut agg = json!({"items": []});
        merge_aggregated(&mut agg, &entries);
        let versions = &agg["items"][0]["versions"];
        assert_eq!(versions[0]["freshness"], "Stale");
        let fl = &versions[1]["resources"][0];
        assert_eq!(versions[1]["freshness"], "Current");
        assert_eq!(fl["resource"], "flunders");
        assert_eq!(fl["scope"], "Namespaced");
        assert_eq!(fl["shortNames"][0], "fl");
        assert_eq!(fl["subresources"][0]["subresource"], "status");
        assert_eq!(fl["responseKind"]["group"], "wardle.example.com");
    }
}
