//! Discovery: the legacy documents (`/api`, `/apis`, `/api/v1`, `/apis/G/V`) and aggregated
//! discovery (v2 and v2beta1, chosen by the Accept header), all built from the registry table.

use serde_json::{json, Value};

use crate::registry::{Registry, ResourceDescriptor};

/// Verbs every stored kind supports.
pub const VERBS: &[&str] = crate::registry::descriptor::STORED_VERBS;

/// `/api`
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": versions, "preferredVersion": versions[0].clone()})
}

/// `/apis`
pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let groups = reg.groups();
    let (name, versions) = groups.iter().find(|(g, _)| g == group && !g.is_empty())?;
    let mut value = group_json(name, versions);
    value["kind"] = json!("APIGroup");
    value["apiVersion"] = json!("v1");
    Some(value)
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let all = reg.kinds();
    let kinds: Vec<_> = all
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in kinds {
        let mut entry = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs(),
            "storageVersionHash": storage_version_hash(d),
        });
        if !d.short_names.is_empty() {
            entry["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            entry["categories"] = json!(d.categories);
        }
        resources.push(entry);
        for sub in d.subresources() {
            let (group, version, kind) = sub.response_kind(d);
            let mut entry = json!({
                "name": format!("{}/{}", d.plural, sub.name),
                "singularName": "",
                "namespaced": d.namespaced,
                "kind": kind,
                "verbs": sub.verbs,
            });
            if group != d.group || version != d.version {
                entry["group"] = json!(group);
                entry["version"] = json!(version);
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// A stable hash of the storage identity, as upstream publishes (base64 of a sha256 prefix).
fn storage_version_hash(d: &ResourceDescriptor) -> String {
    use base64::Engine;
    use sha2::Digest;
    // Custom resources hash the version they are stored at, as upstream does.
    let version = d
        .custom()
        .map(|c| {
            c.storage_api_version
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_else(|| d.version.clone());
    let digest = sha2::Sha256::digest(format!("{}/{version}/{}", d.group, d.kind));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}

/// The ETag of a discovery document: upper-case hex SHA-512 prefix of its bytes.
pub fn etag(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode_upper(&sha2::Sha512::digest(body)[..16])
}

/// The aggregated-discovery version the Accept header asks for ("v2" or "v2beta1"), if any.
pub fn aggregated_version(accept: Option<&str>) -> Option<&'static str> {
    for entry in accept?.split(',') {
        let params: Vec<&str> = entry.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

/// The aggregated discovery document for `/api` (core only) or `/apis` (every named group).
pub fn aggregated(reg: &Registry, core: bool, version: &str) -> Value {
    let mut items = Vec::new();
    let kinds = reg.kinds();
    for (group, versions) in reg.groups() {
        if group.is_empty() != core {
            continue;
        }
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| {
                let resources: Vec<Value> = kinds
                    .iter()
                    .filter(|k| k.group == group && *k.version == *v)
                    .map(|d| aggregated_resource(d))
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        let metadata = if group.is_empty() {
            json!({"creationTimestamp": null})
        } else {
            json!({"name": group, "creationTimestamp": null})
        };
        items.push(json!({"metadata": metadata, "versions": versions}));
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(d: &ResourceDescriptor) -> Value {
    let scope = if d.namespaced {
        "Namespaced"
    } else {
        "Cluster"
    };
    let subs: Vec<Value> = d
        .subresources()
        .iter()
        .map(|s| {
            let (group, version, kind) = s.response_kind(d);
            json!({"subresource": s.name, "responseKind": {"group": group, "version": version, "kind": kind}, "verbs": s.verbs})
        })
        .collect();
    let mut entry = json!({
        "resource": d.plural,
        "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
        "scope": scope,
        "singularResource": d.singular,
        "verbs": d.verbs(),
    });
    if !d.short_names.is_empty() {
        entry["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        entry["categories"] = json!(d.categories);
    }
    if !subs.is_empty() {
        entry["subresources"] = json!(subs);
    }
    entry
}
