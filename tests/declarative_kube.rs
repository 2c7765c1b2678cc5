//! Declarative management from API clients: kube-rs server-side apply (create, update, conflict,
//! force), managedFields `Update` entries on every write path, `fieldValidation`, and patch
//! errors that must store nothing.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};
use support::{objects, ClusterOptions, TestCluster};

async fn cluster() -> TestCluster {
    TestCluster::start_with(ClusterOptions::default().arg("--no-controllers")).await
}

/// `manager/operation/subresource` → fieldsV1 of every managedFields entry.
fn entries(obj: &Value) -> Vec<(String, Value)> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    (
                        format!(
                            "{}/{}/{}",
                            e["manager"].as_str().unwrap_or(""),
                            e["operation"].as_str().unwrap_or(""),
                            e["subresource"].as_str().unwrap_or("")
                        ),
                        e["fieldsV1"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn fields_of<'a>(all: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    all.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn as_json<T: serde::Serialize>(obj: &T) -> Value {
    serde_json::to_value(obj).expect("serialize")
}

fn api_status(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_with_kube() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    objects::namespace(&client, "ssa").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "ssa");
    let config = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data});

    // Create.
    let created = cms
        .patch(
            "cm",
            &PatchParams::apply("mgr"),
            &Patch::Apply(config(json!({"a": "1", "b": "2"}))),
        )
        .await
        .expect("apply create");
    let created = as_json(&created);
    let e = entries(&created);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        fields_of(&e, "mgr/Apply/"),
        Some(&json!({"f:data": {"f:a": {}, "f:b": {}}}))
    );

    // Update: a field the manager stops applying is removed, a new one added.
    let updated = cms
        .patch(
            "cm",
            &PatchParams::apply("mgr"),
            &Patch::Apply(config(json!({"a": "1", "c": "3"}))),
        )
        .await
        .expect("apply update");
    assert_eq!(as_json(&updated)["data"], json!({"a": "1", "c": "3"}));

    // Re-applying the same configuration changes nothing, not even the resource version.
    let again = cms
        .patch(
            "cm",
            &PatchParams::apply("mgr"),
            &Patch::Apply(config(json!({"a": "1", "c": "3"}))),
        )
        .await
        .expect("apply again");
    assert_eq!(
        again.metadata.resource_version,
        updated.metadata.resource_version
    );

    // Another manager changing mgr's field: 409 naming mgr and the field, nothing stored.
    let err = cms
        .patch(
            "cm",
            &PatchParams::apply("mgr2"),
            &Patch::Apply(config(json!({"a": "9"}))),
        )
        .await
        .expect_err("conflict");
    let status = api_status(err);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"mgr\": .data.a"
    );
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.clone())
        .unwrap_or_default();
    assert_eq!(causes.len(), 1, "{status:?}");
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].field, ".data.a");
    assert_eq!(causes[0].message, "conflict with \"mgr\"");
    let live = cms.get("cm").await.expect("get");
    assert_eq!(
        live.metadata.resource_version,
        updated.metadata.resource_version
    );

    // Applying the same value is no conflict: both managers own it.
    cms.patch(
        "cm",
        &PatchParams::apply("mgr2"),
        &Patch::Apply(config(json!({"c": "3"}))),
    )
    .await
    .expect("shared ownership");

    // Force takes the field over.
    let forced = cms
        .patch(
            "cm",
            &PatchParams::apply("mgr2").force(),
            &Patch::Apply(config(json!({"a": "9", "c": "3"}))),
        )
        .await
        .expect("forced apply");
    let forced = as_json(&forced);
    assert_eq!(forced["data"], json!({"a": "9", "c": "3"}));
    let e = entries(&forced);
    assert_eq!(
        fields_of(&e, "mgr2/Apply/"),
        Some(&json!({"f:data": {"f:a": {}, "f:c": {}}}))
    );
    assert_eq!(
        fields_of(&e, "mgr/Apply/"),
        Some(&json!({"f:data": {"f:c": {}}}))
    );

    // Lists with map semantics merge by key across managers.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "ssa");
    let deploy = |containers: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
            }
        })
    };
    deploys
        .patch(
            "web",
            &PatchParams::apply("mgr"),
            &Patch::Apply(deploy(json!([{"name": "web", "image": "busybox:1"}]))),
        )
        .await
        .expect("apply deployment");
    let both = deploys
        .patch(
            "web",
            &PatchParams::apply("sidecar"),
            &Patch::Apply(deploy(json!([{"name": "side", "image": "busybox:1"}]))),
        )
        .await
        .expect("apply sidecar");
    let names: Vec<String> = both
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    assert_eq!(names, ["web", "side"]);
}

/// Creates a configmap through raw HTTP with the given query and headers; returns the response.
async fn post_configmap(
    cluster: &TestCluster,
    ns: &str,
    query: &str,
    user_agent: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let url = format!(
        "{}/api/v1/namespaces/{ns}/configmaps{query}",
        cluster.base_url()
    );
    let mut req = cluster.http().post(&url).json(body);
    if let Some(agent) = user_agent {
        req = req.header(reqwest::header::USER_AGENT, agent);
    }
    req.send().await.expect("POST")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_records_update_entries() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    objects::namespace(&client, "mf").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "mf");

    // Create with a field manager.
    let pp = PostParams {
        field_manager: Some("creator".into()),
        ..Default::default()
    };
    let created = cms
        .create(&pp, &objects::configmap("cm", &[], &[("a", "1")]))
        .await
        .expect("create");
    let e = entries(&as_json(&created));
    let creator = fields_of(&e, "creator/Update/").expect("creator entry");
    assert!(creator.pointer("/f:data/f:a").is_some(), "{creator}");
    assert!(creator.pointer("/f:metadata/f:labels/f:e2e").is_some());

    // Update (PUT) takes over what it changes.
    let mut changed = created.clone();
    changed
        .data
        .get_or_insert_with(Default::default)
        .insert("a".into(), "2".into());
    let replaced = cms
        .replace(
            "cm",
            &PostParams {
                field_manager: Some("replacer".into()),
                ..Default::default()
            },
            &changed,
        )
        .await
        .expect("replace");
    let e = entries(&as_json(&replaced));
    assert_eq!(
        fields_of(&e, "replacer/Update/"),
        Some(&json!({"f:data": {"f:a": {}}}))
    );
    let creator = fields_of(&e, "creator/Update/").expect("creator keeps the rest");
    assert!(creator.pointer("/f:data/f:a").is_none(), "{creator}");

    // Merge patch.
    let patched = cms
        .patch(
            "cm",
            &PatchParams {
                field_manager: Some("patcher".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"b": "x"}})),
        )
        .await
        .expect("patch");
    let e = entries(&as_json(&patched));
    assert_eq!(
        fields_of(&e, "patcher/Update/"),
        Some(&json!({"f:data": {"f:b": {}}}))
    );

    // A status write is recorded against the status subresource.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "mf");
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "busybox"}]}},
        }
    }))
    .expect("deployment");
    deploys
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &deploy,
        )
        .await
        .expect("create deployment");
    let status = deploys
        .patch_status(
            "web",
            &PatchParams {
                field_manager: Some("controller".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"status": {"replicas": 3, "observedGeneration": 1}})),
        )
        .await
        .expect("patch status");
    let e = entries(&as_json(&status));
    assert_eq!(
        fields_of(&e, "controller/Update/status"),
        Some(&json!({"f:status": {"f:observedGeneration": {}, "f:replicas": {}}}))
    );
    assert!(fields_of(&e, "controller/Update/").is_none(), "{e:?}");

    // Without fieldManager the manager is the User-Agent's product name, as upstream.
    let resp = post_configmap(
        &cluster,
        "mf",
        "",
        Some("my-tool/1.2.3 (linux/amd64) build/abc"),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ua"}, "data": {"k": "v"}}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    let e = entries(&body);
    assert_eq!(
        fields_of(&e, "my-tool/Update/"),
        Some(&json!({"f:data": {".": {}, "f:k": {}}})),
        "{e:?}"
    );

    // A dry-run create records the entry in the answer but stores nothing.
    let resp = post_configmap(
        &cluster,
        "mf",
        "?dryRun=All&fieldManager=dry",
        None,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}, "data": {"k": "v"}}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    assert!(fields_of(&entries(&body), "dry/Update/").is_some());
    assert!(cms.get_opt("dry").await.expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_validation_modes() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    objects::namespace(&client, "fv").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "fv");
    let body = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "bogus": 1},
               "data": {"k": "v"}})
    };

    let strict = post_configmap(&cluster, "fv", "?fieldValidation=Strict", None, &body("s")).await;
    assert_eq!(strict.status(), 400);
    let status: Value = strict.json().await.expect("json");
    assert_eq!(status["reason"], "BadRequest");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("strict decoding error: unknown field \"metadata.bogus\"")),
        "{status}"
    );
    assert!(cms.get_opt("s").await.expect("get").is_none());

    for (query, name) in [("?fieldValidation=Warn", "w"), ("", "default")] {
        let warn = post_configmap(&cluster, "fv", query, None, &body(name)).await;
        assert_eq!(warn.status(), 201);
        let warning = warn
            .headers()
            .get("warning")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(
            warning.starts_with("299 ") && warning.contains("unknown field \\\"metadata.bogus\\\""),
            "{query}: {warning:?}"
        );
        let stored = cms.get(name).await.expect("stored");
        assert_eq!(stored.data.unwrap_or_default()["k"], "v");
    }

    let ignore = post_configmap(&cluster, "fv", "?fieldValidation=Ignore", None, &body("i")).await;
    assert_eq!(ignore.status(), 201);
    assert!(ignore.headers().get("warning").is_none());

    let bad = post_configmap(&cluster, "fv", "?fieldValidation=Sloppy", None, &body("x")).await;
    assert_eq!(bad.status(), 400);

    // kube-rs apply with Strict validation.
    let err = cms
        .patch(
            "i",
            &PatchParams::apply("mgr").validation_strict(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "i"}, "spec": {"x": 1}})),
        )
        .await
        .expect_err("strict apply");
    // Apply is stricter than create: a field outside the schema fails its typed conversion
    // (upstream's structured-merge-diff answers 500), whatever the validation directive.
    let status = api_status(err);
    assert_eq!(status.code, 500, "{status:?}");
    assert!(
        status
            .message
            .contains("failed to create typed patch object (fv/i; /v1, Kind=ConfigMap): .spec: field not declared in schema"),
        "{status:?}"
    );
}

/// PATCHes `path` (with its query) with a raw body of the given content type.
async fn send_patch(
    cluster: &TestCluster,
    path: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Response {
    cluster
        .http()
        .patch(format!("{}{path}", cluster.base_url()))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("PATCH")
}

/// PATCHes a configmap with a content type and body; returns status code and Status body.
async fn patch_raw(
    cluster: &TestCluster,
    name: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let path = format!("/api/v1/namespaces/pe/configmaps/{name}?fieldManager=t");
    let resp = send_patch(cluster, &path, content_type, body).await;
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_errors_store_nothing() {
    let cluster = cluster().await;
    let client: Client = cluster.client().await;
    objects::namespace(&client, "pe").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "pe");
    let cm = cms
        .create(
            &PostParams::default(),
            &objects::configmap("cm", &[], &[("a", "1")]),
        )
        .await
        .expect("create");
    let rv = cm.metadata.resource_version.clone();
    // No controllers run here, so nothing makes the `default` account pods are admitted under.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), "pe");
    let account = serde_json::from_value(json!({"metadata": {"name": "default"}})).expect("sa");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("create service account");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "pe");
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    let pod = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect("create pod");

    const JSON_PATCH: &str = "application/json-patch+json";
    const SMP: &str = "application/strategic-merge-patch+json";
    const APPLY: &str = "application/apply-patch+yaml";
    let cases: [(&str, &str, &str, u16, &str); 4] = [
        (
            "bad JSON pointer",
            JSON_PATCH,
            r#"[{"op":"replace","path":"/data/missing/deeper","value":"x"}]"#,
            422,
            "Invalid",
        ),
        (
            "failing test op",
            JSON_PATCH,
            r#"[{"op":"test","path":"/data/a","value":"2"},{"op":"replace","path":"/data/a","value":"3"}]"#,
            422,
            "Invalid",
        ),
        (
            "unsupported content type",
            "text/plain",
            r#"{"data":{"a":"2"}}"#,
            415,
            "UnsupportedMediaType",
        ),
        (
            "apply body that is not YAML",
            APPLY,
            "data: [unclosed\n  a: {",
            400,
            "BadRequest",
        ),
    ];
    for (what, content_type, body, code, reason) in cases {
        let (got, status) = patch_raw(&cluster, "cm", content_type, body).await;
        assert_eq!(got, code, "{what}: {status}");
        assert_eq!(status["kind"], "Status", "{what}");
        assert_eq!(status["reason"], reason, "{what}: {status}");
        let live = cms.get("cm").await.expect("get");
        assert_eq!(live.metadata.resource_version, rv, "{what}: nothing stored");
    }

    // Strategic merge against a merge-keyed list with an item lacking its key: upstream's
    // mergepatch error is not a Status, so the apiserver answers 500 with the bare message.
    let url = format!("{}/api/v1/namespaces/pe/pods/p", cluster.base_url());
    let resp = cluster
        .http()
        .patch(&url)
        .header(reqwest::header::CONTENT_TYPE, SMP)
        .body(r#"{"spec":{"containers":[{"image":"busybox:2"}]}}"#)
        .send()
        .await
        .expect("PATCH pod");
    assert_eq!(resp.status().as_u16(), 500);
    let status: Value = resp.json().await.expect("status");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("does not contain declared merge key: name")),
        "{status}"
    );
    let live = pods.get("p").await.expect("get pod");
    assert_eq!(
        live.metadata.resource_version,
        pod.metadata.resource_version
    );

    // A strict strategic merge patch with an unknown field is an Invalid `patch` (422).
    let (code, status) = patch_raw(&cluster, "cm", SMP, r#"{"metadata":{"bogus":"1"}}"#).await;
    assert_eq!(code, 200, "default validation warns: {status}");
    let url = format!(
        "{}/api/v1/namespaces/pe/configmaps/cm?fieldValidation=Strict",
        cluster.base_url()
    );
    let resp = cluster
        .http()
        .patch(&url)
        .header(reqwest::header::CONTENT_TYPE, SMP)
        .body(r#"{"data":{"a":"5"},"metadata":{"bogus":"1"}}"#)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(resp.status().as_u16(), 422);
    let status: Value = resp.json().await.expect("status");
    assert_eq!(status["details"]["causes"][0]["field"], "patch", "{status}");
    assert!(
        status["message"].as_str().is_some_and(|m| m.contains(
            "patch: Invalid value: \"map[data:map[a:5] metadata:map[bogus:1]]\": strict decoding error: unknown field \"metadata.bogus\""
        )),
        "{status}"
    );
    assert_eq!(
        cms.get("cm").await.expect("get").data.unwrap_or_default()["a"],
        "1"
    );
}

/// POSTs a raw JSON text (which may repeat keys) as a configmap; returns the response.
async fn post_raw_configmap(cluster: &TestCluster, query: &str, text: &str) -> reqwest::Response {
    let url = format!(
        "{}/api/v1/namespaces/dup/configmaps{query}",
        cluster.base_url()
    );
    cluster
        .http()
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(text.to_string())
        .send()
        .await
        .expect("POST")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_fields_follow_field_validation() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    objects::namespace(&client, "dup").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "dup");
    let text = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{"a":"1","a":"2"}}}},
               "data":{{"k":"1"}},"data":{{"k":"2"}},"bogus":true}}"#
        )
    };

    let strict = post_raw_configmap(&cluster, "?fieldValidation=Strict", &text("s")).await;
    assert_eq!(strict.status(), 400);
    let status: Value = strict.json().await.expect("json");
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(
        status["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"metadata.labels.a\", duplicate field \"data\", unknown field \"bogus\""
    );
    assert!(cms.get_opt("s").await.expect("get").is_none());

    // Warn (the default): stored with the last value of each key, one warning per problem.
    let warn = post_raw_configmap(&cluster, "", &text("w")).await;
    assert_eq!(warn.status(), 201);
    let warnings: Vec<String> = warn
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let all = warnings.join("\n");
    for expected in [
        "duplicate field \\\"metadata.labels.a\\\"",
        "duplicate field \\\"data\\\"",
        "unknown field \\\"bogus\\\"",
    ] {
        assert!(all.contains(expected), "{expected} in {all}");
    }
    let stored = cms.get("w").await.expect("stored");
    assert_eq!(stored.data.unwrap_or_default()["k"], "2");
    assert_eq!(stored.metadata.labels.unwrap_or_default()["a"], "2");

    let ignore = post_raw_configmap(&cluster, "?fieldValidation=Ignore", &text("i")).await;
    assert_eq!(ignore.status(), 201);
    assert!(ignore.headers().get("warning").is_none());

    // A merge patch repeating a key is a strict decoding error too, and changes nothing.
    let resp = send_patch(
        &cluster,
        "/api/v1/namespaces/dup/configmaps/w?fieldValidation=Strict",
        "application/merge-patch+json",
        r#"{"data":{"k":"3","k":"4"}}"#,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        cms.get("w").await.expect("get").data.unwrap_or_default()["k"],
        "2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_through_status_and_scale() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    objects::namespace(&client, "ssasub").await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "ssasub");
    let config = |replicas: i64| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "web", "image": "busybox"}]}}}})
    };
    deploys
        .patch(
            "web",
            &PatchParams::apply("deployer"),
            &Patch::Apply(config(2)),
        )
        .await
        .expect("apply");

    // Apply through /status: only status changes, recorded under the status subresource; the
    // spec in the same configuration is ignored (upstream's reset fields).
    let mut status_config = config(9);
    status_config["status"] = json!({"replicas": 2, "observedGeneration": 1});
    let after = deploys
        .patch_status(
            "web",
            &PatchParams::apply("ctrl"),
            &Patch::Apply(status_config),
        )
        .await
        .expect("status apply");
    assert_eq!(after.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(after.status.as_ref().and_then(|s| s.replicas), Some(2));
    let e = entries(&as_json(&after));
    let ctrl = fields_of(&e, "ctrl/Apply/status").expect("status apply entry");
    assert!(ctrl.pointer("/f:status/f:replicas").is_some(), "{ctrl}");
    assert!(ctrl.get("f:spec").is_none(), "{ctrl}");
    assert!(fields_of(&e, "deployer/Apply/").is_some(), "{e:?}");

    // Apply a Scale: the parent's replicas move and are owned under the scale subresource...
    let scale = deploys
        .patch_scale(
            "web",
            &PatchParams::apply("autoscaler"),
            &Patch::Apply(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                                 "metadata": {"name": "web"}, "spec": {"replicas": 4}})),
        )
        .await
        .expect_err("conflict with the deployer, who owns spec.replicas");
    let status = api_status(scale);
    assert_eq!(status.code, 409, "{status:?}");
    assert!(status.message.contains("\"deployer\""), "{status:?}");

    let scaled = deploys
        .patch_scale(
            "web",
            &PatchParams::apply("autoscaler").force(),
            &Patch::Apply(json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                                 "metadata": {"name": "web"}, "spec": {"replicas": 4}})),
        )
        .await
        .expect("forced scale apply");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
    let live = deploys.get("web").await.expect("get");
    assert_eq!(live.spec.as_ref().and_then(|s| s.replicas), Some(4));
    let e = entries(&as_json(&live));
    let owner = fields_of(&e, "autoscaler/Apply/scale").expect("scale entry");
    assert!(owner.pointer("/f:spec/f:replicas").is_some(), "{owner}");
    let deployer = fields_of(&e, "deployer/Apply/").expect("deployer entry");
    assert!(
        deployer.pointer("/f:spec/f:replicas").is_none(),
        "{deployer}"
    );

    // ...so the deployer now conflicts with the autoscaler, named with its subresource.
    let err = deploys
        .patch(
            "web",
            &PatchParams::apply("deployer"),
            &Patch::Apply(config(2)),
        )
        .await
        .expect_err("conflict");
    let status = api_status(err);
    assert_eq!(status.code, 409);
    assert!(
        status
            .message
            .contains("\"autoscaler\" with subresource \"scale\""),
        "{status:?}"
    );

    // A plain scale write records an Update entry under the scale subresource.
    let resp = send_patch(
        &cluster,
        "/apis/apps/v1/namespaces/ssasub/deployments/web/scale?fieldManager=kubectl-scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":5}}"#,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let live = deploys.get("web").await.expect("get");
    let e = entries(&as_json(&live));
    assert!(
        fields_of(&e, "kubectl-scale/Update/scale").is_some(),
        "{e:?}"
    );
}

/// Server-side apply is stricter than create, as upstream's: a field outside the schema fails
/// the apply's typed conversion whatever `fieldValidation` says (custom resources included, and
/// their `metadata` is ObjectMeta), and a key the YAML repeats is go-yaml's error, with its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_undeclared_fields_and_repeated_yaml_keys() {
    let cluster = cluster().await;
    let client = cluster.client().await;
    objects::namespace(&client, "ap").await;
    let apply = |path: &str, query: &str, body: &str| {
        let path = format!("{path}?fieldManager=m{query}");
        let body = body.to_string();
        let cluster = &cluster;
        async move {
            let resp = send_patch(cluster, &path, "application/apply-patch+yaml", &body).await;
            let code = resp.status().as_u16();
            (code, resp.json::<Value>().await.expect("status"))
        }
    };
    let cm = "/api/v1/namespaces/ap/configmaps/c";
    let (code, status) = apply(
        cm,
        "&fieldValidation=Ignore",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ap\nbogus: 1\ndata:\n  a: b\n",
    )
    .await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (500, Some("InternalError")),
        "{status}"
    );
    assert_eq!(
        status["message"],
        "Internal error occurred: failed to create typed patch object (ap/c; /v1, Kind=ConfigMap): .bogus: field not declared in schema"
    );
    let dup = "\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n  a: c\n";
    let (code, status) = apply(cm, "&fieldValidation=Strict", dup).await;
    assert_eq!(code, 400, "{status}");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 8: key \"a\" already set in map")),
        "{status}"
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "ap");
    assert!(
        cms.get_opt("c").await.expect("get").is_none(),
        "nothing stored"
    );
    let (code, _) = apply(cm, "&fieldValidation=Warn", dup).await;
    assert_eq!(code, 201, "Warn applies the last value");

    // kubectl shows the same refusal.
    let crd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crd/crd.yaml");
    let out = cluster.kubectl(&["apply", "-f", crd.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let widget = cluster.scratch().join("w.yaml");
    std::fs::write(
        &widget,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: ap\n  unknownMeta: x\nspec:\n  color: red\n",
    )
    .expect("write");
    let out = support::eventually(Duration::from_secs(20), || async {
        let out = cluster.kubectl(&["apply", "--server-side", "-f", widget.to_str()?]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (!err.contains("the server doesn't have a resource type")
            && !err.contains("no matches for kind"))
        .then_some(err)
    })
    .await
    .expect("CRD served");
    assert!(
        out.contains("failed to create typed patch object (ap/w; example.com/v1, Kind=Widget): .metadata.unknownMeta: field not declared in schema"),
        "{out}"
    );
}
