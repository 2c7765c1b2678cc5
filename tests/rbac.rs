//! RBAC end to end with the real kubectl: the bootstrap roles, `kubectl auth can-i` (with
//! impersonation, and `--list`), `kubectl auth whoami`, a service-account token refused with
//! upstream's Forbidden message and nothing written, impersonation refused without the
//! `impersonate` verb, anonymous access limited to the public-info endpoints, and decision
//! tables for the bootstrap roles through SubjectAccessReview.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{eventually, stdout_ok, TestCluster};

fn kubectl_ok(c: &TestCluster, args: &[&str]) -> String {
    stdout_ok(&format!("kubectl {}", args.join(" ")), &c.kubectl(args))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A kubeconfig (JSON is YAML) that reaches the cluster with only a bearer token, so the admin
/// client certificate of the default kubeconfig is not presented beside it.
fn token_kubeconfig(c: &TestCluster, token: &str) -> PathBuf {
    let field = |path: &str| {
        kubectl_ok(
            c,
            &[
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                &format!("jsonpath={{{path}}}"),
            ],
        )
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": field(".clusters[0].cluster.server"),
            "certificate-authority-data": field(".clusters[0].cluster.certificate-authority-data"),
        }}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    });
    let path = c
        .scratch()
        .join(format!("token-{}.kubeconfig", token.len()));
    std::fs::write(&path, config.to_string()).expect("writing kubeconfig");
    path
}

/// Runs kubectl with a token-only kubeconfig.
fn kubectl_as(c: &TestCluster, kubeconfig: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    c.kubectl(&all)
}

/// `kubectl auth can-i ...`: true for "yes" (exit 0), false for "no" (exit 1).
fn can_i(c: &TestCluster, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let out = c.kubectl(&all);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), a) if a.starts_with("no") => false,
        _ => panic!("kubectl {all:?}: {answer:?} / {}", stderr(&out)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_flows_of_the_issue() {
    let c = TestCluster::start().await;
    // The bootstrap roles and bindings exist, aggregated roles carry their rules.
    kubectl_ok(
        &c,
        &[
            "get",
            "clusterroles",
            "cluster-admin",
            "admin",
            "edit",
            "view",
        ],
    );
    let bindings = kubectl_ok(&c, &["get", "clusterrolebindings"]);
    for name in [
        "cluster-admin",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
    ] {
        assert!(bindings.contains(name), "{name} missing from:\n{bindings}");
    }
    let view_rules = eventually(Duration::from_secs(10), || async {
        let view: Value = serde_json::from_str(&kubectl_ok(
            &c,
            &["get", "clusterrole", "view", "-o", "json"],
        ))
        .ok()?;
        view["rules"].as_array().filter(|r| !r.is_empty()).cloned()
    })
    .await;
    assert!(
        view_rules.is_some(),
        "the aggregation controller never filled view's rules"
    );

    kubectl_ok(&c, &["create", "ns", "dev"]);
    kubectl_ok(&c, &["create", "sa", "ci", "-n", "dev"]);
    kubectl_ok(
        &c,
        &[
            "create",
            "rolebinding",
            "ci",
            "--clusterrole=edit",
            "--serviceaccount=dev:ci",
            "-n",
            "dev",
        ],
    );
    let ci = "--as=system:serviceaccount:dev:ci";
    assert!(can_i(&c, &["create", "deployments", "-n", "dev", ci]));
    assert!(!can_i(&c, &["list", "secrets", "-n", "kube-system", ci]));
    assert!(!can_i(&c, &["create", "rolebindings", "-n", "dev", ci]));
    assert!(can_i(
        &c,
        &["get", "pods", "--subresource=log", "-n", "dev", ci]
    ));
    let list = kubectl_ok(&c, &["auth", "can-i", "--list", "-n", "dev", ci]);
    assert!(list.contains("deployments.apps"), "{list}");
    assert!(
        list.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{list}"
    );

    // A token of the account: allowed where edit allows, Forbidden elsewhere, nothing written.
    let token = kubectl_ok(
        &c,
        &["create", "token", "ci", "-n", "dev", "--duration=10m"],
    );
    let as_ci = token_kubeconfig(&c, token.trim());
    stdout_ok(
        "create deployment with the token",
        &kubectl_as(
            &c,
            &as_ci,
            &["-n", "dev", "create", "deployment", "x", "--image=busybox"],
        ),
    );
    let out = kubectl_as(&c, &as_ci, &["get", "secrets", "-n", "kube-system"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:dev:ci" cannot list resource "secrets" in API group "" in the namespace "kube-system""#),
        "{}",
        stderr(&out)
    );
    let out = kubectl_as(
        &c,
        &as_ci,
        &[
            "-n",
            "kube-system",
            "create",
            "configmap",
            "sneaky",
            "--from-literal=a=b",
        ],
    );
    assert!(
        stderr(&out).contains(r#"configmaps is forbidden: User "system:serviceaccount:dev:ci" cannot create resource "configmaps" in API group "" in the namespace "kube-system""#),
        "{}",
        stderr(&out)
    );
    let out = c.kubectl(&["-n", "kube-system", "get", "configmap", "sneaky"]);
    assert!(
        stderr(&out).contains("NotFound"),
        "a refused create was written"
    );
    let out = kubectl_as(&c, &as_ci, &["delete", "ns", "kube-public"]);
    assert!(
        stderr(&out).contains(r#"namespaces "kube-public" is forbidden: User "system:serviceaccount:dev:ci" cannot delete resource "namespaces" in API group "" in the namespace "kube-public""#),
        "{}",
        stderr(&out)
    );
    kubectl_ok(&c, &["get", "ns", "kube-public"]);

    // whoami, for the admin and for the token.
    let me = kubectl_ok(&c, &["auth", "whoami", "-o", "json"]);
    let me: Value = serde_json::from_str(&me).expect("SelfSubjectReview JSON");
    assert_eq!(me["status"]["userInfo"]["username"], "admin");
    assert!(me["status"]["userInfo"]["groups"]
        .to_string()
        .contains("system:masters"));
    let who = stdout_ok(
        "whoami with the token",
        &kubectl_as(&c, &as_ci, &["auth", "whoami"]),
    );
    assert!(who.contains("system:serviceaccount:dev:ci"), "{who}");

    // Impersonation: the admin may act as anyone, and is then refused as that user; the
    // account may not impersonate at all.
    let out = c.kubectl(&["get", "pods", "--as=jane", "--as-group=devs"]);
    assert!(
        stderr(&out).contains(r#"pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default""#),
        "{}",
        stderr(&out)
    );
    let out = kubectl_as(&c, &as_ci, &["get", "pods", "-n", "dev", "--as=jane"]);
    assert!(
        stderr(&out).contains(r#"users "jane" is forbidden: User "system:serviceaccount:dev:ci" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{}",
        stderr(&out)
    );
    // edit grants impersonating the namespace's service accounts, as upstream.
    kubectl_ok(&c, &["create", "sa", "other", "-n", "dev"]);
    stdout_ok(
        "impersonating a service account of the namespace",
        &kubectl_as(
            &c,
            &as_ci,
            &["auth", "whoami", "--as=system:serviceaccount:dev:other"],
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_reach_only_the_public_info_endpoints() {
    let c = TestCluster::start().await;
    let anonymous = c.anonymous_http();
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        let resp = anonymous
            .get(format!("{}{path}", c.base_url()))
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    for path in ["/api/v1/namespaces", "/api", "/openapi/v2", "/readyz/ping"] {
        let resp = anonymous
            .get(format!("{}{path}", c.base_url()))
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // A non-resource path RBAC does not grant: upstream's message for paths.
    let token = kubectl_ok(&c, &["create", "token", "default"]);
    let resp = anonymous
        .get(format!("{}/metrics", c.base_url()))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.expect("Status");
    assert_eq!(
        body["message"],
        r#"forbidden: User "system:serviceaccount:default:default" cannot get path "/metrics""#
    );
    assert_eq!(body["reason"], "Forbidden");
}

/// One SubjectAccessReview: whether `user` (with `groups`) may `verb` `resource` in `ns`.
async fn sar(c: &TestCluster, user: &str, groups: &[&str], attrs: Value) -> bool {
    let resp = c
        .http()
        .post(format!(
            "{}/apis/authorization.k8s.io/v1/subjectaccessreviews",
            c.base_url()
        ))
        .json(&json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": attrs},
        }))
        .send()
        .await
        .expect("POST SubjectAccessReview");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let review: Value = resp.json().await.expect("review");
    review["status"]["allowed"]
        .as_bool()
        .expect("status.allowed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_roles_decide_as_upstream_documents() {
    let c = TestCluster::start().await;
    kubectl_ok(&c, &["create", "ns", "team"]);
    for role in ["view", "edit", "admin"] {
        kubectl_ok(
            &c,
            &[
                "create",
                "rolebinding",
                role,
                &format!("--clusterrole={role}"),
                &format!("--group=g-{role}"),
                "-n",
                "team",
            ],
        );
    }
    let attrs = |verb: &str, group: &str, resource: &str, ns: &str| {
        let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
        json!({"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": ns})
    };
    // (group, verb, api group, resource, namespace, allowed)
    let table: &[(&str, &str, &str, &str, &str, bool)] = &[
        ("g-view", "get", "", "pods", "team", true),
        ("g-view", "get", "", "pods/log", "team", true),
        ("g-view", "get", "", "secrets", "team", false),
        ("g-view", "create", "", "pods", "team", false),
        ("g-view", "list", "apps", "deployments", "team", true),
        ("g-view", "list", "apps", "deployments", "other", false),
        (
            "g-view",
            "list",
            "rbac.authorization.k8s.io",
            "roles",
            "team",
            false,
        ),
        ("g-edit", "create", "apps", "deployments", "team", true),
        ("g-edit", "get", "", "secrets", "team", true),
        ("g-edit", "create", "", "pods/exec", "team", true),
        (
            "g-edit",
            "update",
            "apps",
            "deployments/scale",
            "team",
            true,
        ),
        (
            "g-edit",
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "team",
            false,
        ),
        ("g-edit", "delete", "", "namespaces", "team", false),
        (
            "g-admin",
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "team",
            true,
        ),
        (
            "g-admin",
            "create",
            "authorization.k8s.io",
            "localsubjectaccessreviews",
            "team",
            true,
        ),
        ("g-admin", "delete", "", "resourcequotas", "team", false),
        ("g-admin", "list", "", "nodes", "", false),
        ("system:masters", "delete", "", "nodes", "", true),
        (
            "system:authenticated",
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            true,
        ),
        (
            "system:authenticated",
            "create",
            "authentication.k8s.io",
            "selfsubjectreviews",
            "",
            true,
        ),
        ("system:authenticated", "list", "", "namespaces", "", false),
        // The Node authorizer answers only for `system:node:<name>` users, not for anyone
        // who claims the group.
        ("system:nodes", "patch", "", "nodes/status", "", false),
        (
            "system:nodes",
            "create",
            "apps",
            "deployments",
            "team",
            false,
        ),
    ];
    for (group, verb, api_group, resource, ns, want) in table {
        let got = sar(
            &c,
            "someone",
            &[group],
            attrs(verb, api_group, resource, ns),
        )
        .await;
        assert_eq!(
            got, *want,
            "{group} {verb} {api_group}/{resource} in {ns:?}"
        );
    }
    assert!(
        sar(
            &c,
            "system:node:n1",
            &["system:nodes"],
            attrs("patch", "", "nodes/status", "")
        )
        .await
    );
    // The scheduler and controller manager users hold upstream's roles.
    assert!(
        sar(
            &c,
            "system:kube-scheduler",
            &[],
            attrs("create", "", "pods/binding", "team")
        )
        .await
    );
    assert!(
        !sar(
            &c,
            "system:kube-scheduler",
            &[],
            attrs("get", "", "secrets", "team")
        )
        .await
    );
    assert!(
        sar(
            &c,
            "system:kube-controller-manager",
            &[],
            attrs("create", "", "pods", "team")
        )
        .await
    );
    // A SubjectAccessReview names a user or a group, as upstream validates.
    let resp = c
        .http()
        .post(format!(
            "{}/apis/authorization.k8s.io/v1/subjectaccessreviews",
            c.base_url()
        ))
        .json(
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"resourceAttributes": attrs("get", "", "pods", "team")}}),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Reviews are create-only.
    let resp = c
        .http()
        .get(format!(
            "{}/apis/authorization.k8s.io/v1/subjectaccessreviews",
            c.base_url()
        ))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Discovery lists the review kinds with the create verb alone.
    let doc = kubectl_ok(&c, &["get", "--raw", "/apis/authorization.k8s.io/v1"]);
    let doc: Value = serde_json::from_str(&doc).expect("APIResourceList");
    let sar_entry = doc["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|e| e["name"] == "subjectaccessreviews"))
        .cloned()
        .expect("subjectaccessreviews in discovery");
    assert_eq!(sar_entry["verbs"], json!(["create"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_bindings_grant_only_what_their_author_holds() {
    let c = TestCluster::start().await;
    kubectl_ok(&c, &["create", "ns", "team"]);
    kubectl_ok(
        &c,
        &[
            "create",
            "rolebinding",
            "boss",
            "--clusterrole=admin",
            "--user=boss",
            "-n",
            "team",
        ],
    );
    let boss = ["--as=boss", "-n", "team"];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&boss);
        c.kubectl(&all)
    };
    // Rules the author holds through admin: fine.
    stdout_ok(
        "a role within admin",
        &run(&[
            "create",
            "role",
            "pod-reader",
            "--verb=get",
            "--resource=pods",
        ]),
    );
    stdout_ok(
        "binding view",
        &run(&[
            "create",
            "rolebinding",
            "v",
            "--clusterrole=view",
            "--user=jane",
        ]),
    );
    // More than the author holds: 403 naming what is missing, nothing written.
    let out = run(&[
        "create",
        "role",
        "node-reader",
        "--verb=get",
        "--resource=nodes",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains(r#"roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "boss" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#)
            && err.contains(r#"{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}"#),
        "{err}"
    );
    let out = c.kubectl(&["get", "role", "node-reader", "-n", "team"]);
    assert!(
        stderr(&out).contains("NotFound"),
        "a refused role was written"
    );
    let out = run(&[
        "create",
        "rolebinding",
        "root",
        "--clusterrole=cluster-admin",
        "--user=jane",
    ]);
    assert!(
        stderr(&out)
            .contains(r#"rolebindings.rbac.authorization.k8s.io "root" is forbidden: user "boss""#),
        "{}",
        stderr(&out)
    );
    // `bind` on exactly that role lifts the check for it.
    kubectl_ok(
        &c,
        &[
            "create",
            "clusterrole",
            "binder",
            "--verb=bind",
            "--resource=clusterroles",
            "--resource-name=cluster-admin",
        ],
    );
    kubectl_ok(
        &c,
        &[
            "create",
            "rolebinding",
            "binder",
            "--clusterrole=binder",
            "--user=boss",
            "-n",
            "team",
        ],
    );
    stdout_ok(
        "binding with bind",
        &run(&[
            "create",
            "rolebinding",
            "root",
            "--clusterrole=cluster-admin",
            "--user=jane",
        ]),
    );
    // The admin (system:masters) may grant anything.
    kubectl_ok(
        &c,
        &[
            "create",
            "role",
            "node-reader",
            "--verb=get",
            "--resource=nodes",
            "-n",
            "team",
        ],
    );
}

/// POSTs a review with a bearer token only; returns the status code and body.
async fn review_with_token(
    c: &TestCluster,
    token: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = c
        .anonymous_http()
        .post(format!("{}{path}", c.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST review");
    let code = resp.status();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_service_account_revokes_its_tokens() {
    let c = TestCluster::start().await;
    kubectl_ok(&c, &["create", "sa", "temp"]);
    let token = kubectl_ok(&c, &["create", "token", "temp"]);
    let token = token.trim();
    let whoami = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    let (code, body) = review_with_token(&c, token, path, whoami.clone()).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["status"]["userInfo"]["username"],
        "system:serviceaccount:default:temp"
    );
    // TokenReview (as the admin) agrees.
    let review = |token: &str| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
    let resp = c
        .http()
        .post(format!(
            "{}/apis/authentication.k8s.io/v1/tokenreviews",
            c.base_url()
        ))
        .json(&review(token))
        .send()
        .await
        .expect("TokenReview");
    let body: Value = resp.json().await.expect("TokenReview body");
    assert_eq!(body["status"]["authenticated"], true, "{body}");
    assert_eq!(
        body["status"]["user"]["username"],
        "system:serviceaccount:default:temp"
    );

    kubectl_ok(&c, &["delete", "sa", "temp"]);
    let (code, body) = review_with_token(&c, token, path, whoami).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Unauthorized")),
        "{body}"
    );
    let resp = c
        .http()
        .post(format!(
            "{}/apis/authentication.k8s.io/v1/tokenreviews",
            c.base_url()
        ))
        .json(&review(token))
        .send()
        .await
        .expect("TokenReview");
    let body: Value = resp.json().await.expect("TokenReview body");
    assert_eq!(body["status"]["authenticated"], false, "{body}");
    // Recreating the account under the same name does not bring the old token back.
    kubectl_ok(&c, &["create", "sa", "temp"]);
    let (code, _) = review_with_token(
        &c,
        token,
        path,
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
