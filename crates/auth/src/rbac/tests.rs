use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::escalation::{self, Grant};
use super::impersonation::{impersonate, ImpersonationError};
use super::*;
use crate::UserInfo;

fn bootstrapped() -> Policy {
    let mut p = Policy::new();
    for r in bootstrap::cluster_roles() {
        p.put_cluster_role(r);
    }
    for b in bootstrap::cluster_role_bindings() {
        p.put_cluster_role_binding(b);
    }
    p
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    groups.push("system:authenticated".into());
    UserInfo {
        name: name.into(),
        groups,
        ..UserInfo::default()
    }
}

fn sa(ns: &str, name: &str) -> UserInfo {
    user(
        &format!("system:serviceaccount:{ns}:{name}"),
        &[
            "system:serviceaccounts",
            &format!("system:serviceaccounts:{ns}"),
        ],
    )
}

fn bind(p: &mut Policy, ns: &str, name: &str, kind: &str, role: &str, subject: Subject) {
    p.put_role_binding(RoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some(RBAC_GROUP.into()),
            kind: kind.into(),
            name: role.into(),
        },
        subjects: Some(vec![subject]),
    });
}

fn sa_subject(ns: &str, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: name.into(),
        namespace: Some(ns.into()),
        api_group: None,
    }
}

fn req(method: &str, path: &str) -> RequestInfo {
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    RequestInfo::from_request(method, path, query)
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// (verb, group, resource, subresource, namespace, name)
type Parsed<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

#[test]
fn request_info_follows_upstream_parsing() {
    let table: &[(&str, &str, Parsed)] = &[
        (
            "GET",
            "/api/v1/namespaces/dev/pods",
            ("list", "", "pods", "", "dev", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/dev/pods?watch=true",
            ("watch", "", "pods", "", "dev", ""),
        ),
        (
            "GET",
            "/api/v1/watch/namespaces/dev/pods",
            ("watch", "", "pods", "", "dev", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/dev/pods/p/log",
            ("get", "", "pods", "log", "dev", "p"),
        ),
        (
            "POST",
            "/apis/apps/v1/namespaces/dev/deployments",
            ("create", "apps", "deployments", "", "dev", ""),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/dev/pods",
            ("deletecollection", "", "pods", "", "dev", ""),
        ),
        (
            "PATCH",
            "/api/v1/nodes/n1/status",
            ("patch", "", "nodes", "status", "", "n1"),
        ),
        (
            "GET",
            "/api/v1/namespaces/dev",
            ("get", "", "namespaces", "", "dev", "dev"),
        ),
        (
            "PUT",
            "/api/v1/namespaces/dev/finalize",
            ("update", "", "namespaces", "finalize", "dev", "dev"),
        ),
        (
            "GET",
            "/api/v1/pods?fieldSelector=metadata.name%3Dx",
            ("list", "", "pods", "", "", "x"),
        ),
        (
            "GET",
            "/api/v1/namespaces/d/services/s:80/proxy/a/b",
            ("get", "", "services", "proxy", "d", "s:80"),
        ),
    ];
    for (method, path, (verb, group, resource, sub, ns, name)) in table {
        let info = req(method, path);
        assert!(info.resource_request, "{path}");
        let got = (
            &*info.verb,
            &*info.api_group,
            &*info.resource,
            &*info.subresource,
            &*info.namespace,
            &*info.name,
        );
        assert_eq!(
            got,
            (*verb, *group, *resource, *sub, *ns, *name),
            "{method} {path}"
        );
    }
    for (method, path) in [
        ("GET", "/healthz"),
        ("GET", "/apis"),
        ("GET", "/apis/apps"),
        ("GET", "/api"),
        ("POST", "/version"),
    ] {
        let info = req(method, path);
        assert!(!info.resource_request, "{path}");
        assert_eq!(info.verb, method.to_lowercase());
    }
}

#[test]
fn bootstrap_roles_decide_as_upstream_documents() {
    let p = bootstrapped();
    let admin = user("admin", &["system:masters"]);
    let jane = user("jane", &[]);
    let anon = UserInfo::anonymous();
    let kcm = user("system:kube-controller-manager", &[]);
    let sched = user("system:kube-scheduler", &[]);
    let table: &[(&UserInfo, &str, &str, bool)] = &[
        (&admin, "DELETE", "/api/v1/namespaces/kube-public", true),
        (&admin, "GET", "/metrics", true),
        (
            &jane,
            "GET",
            "/api/v1/namespaces/kube-system/secrets",
            false,
        ),
        (&jane, "GET", "/apis", true),
        (&jane, "GET", "/apis/apps/v1", true),
        (&jane, "GET", "/openapi/v3", true),
        (&jane, "GET", "/version", true),
        (&jane, "GET", "/metrics", false),
        (
            &jane,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            true,
        ),
        (
            &jane,
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            false,
        ),
        (&anon, "GET", "/healthz", true),
        (&anon, "GET", "/version", true),
        (&anon, "GET", "/api", false),
        (&anon, "GET", "/api/v1/namespaces", false),
        (&kcm, "GET", "/api/v1/pods?watch=1", true),
        (&kcm, "POST", "/api/v1/namespaces/d/pods", true),
        (
            &kcm,
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            true,
        ),
        (&sched, "POST", "/api/v1/namespaces/d/pods/p/binding", true),
        (&sched, "GET", "/api/v1/nodes", true),
        (&sched, "POST", "/api/v1/namespaces/d/pods", false),
        (&sched, "GET", "/api/v1/namespaces/d/secrets", false),
    ];
    for (who, method, path, want) in table {
        let got = p.authorize(who, &req(method, path)).is_allowed();
        assert_eq!(got, *want, "{} {method} {path}", who.name);
    }
}

#[test]
fn aggregation_gives_admin_edit_view_their_rules() {
    let mut p = bootstrapped();
    let d = user("d", &[]);
    bind(
        &mut p,
        "dev",
        "d-view",
        "ClusterRole",
        "view",
        Subject {
            kind: "User".into(),
            name: "d".into(),
            ..Subject::default()
        },
    );
    assert!(p
        .authorize(&d, &req("GET", "/api/v1/namespaces/dev/pods/p/log"))
        .is_allowed());
    assert!(!p
        .authorize(&d, &req("GET", "/api/v1/namespaces/dev/secrets"))
        .is_allowed());
    assert!(!p
        .authorize(&d, &req("GET", "/api/v1/namespaces/other/pods"))
        .is_allowed());
    // A role labelled aggregate-to-view reaches view, edit and admin at once.
    let mut extra = ClusterRole {
        metadata: ObjectMeta {
            name: Some("widgets-view".into()),
            labels: Some(
                [(
                    "rbac.authorization.k8s.io/aggregate-to-view".to_string(),
                    "true".to_string(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        rules: Some(vec![rule(&["example.com"], &["widgets"], &["get", "list"])]),
        aggregation_rule: None,
    };
    p.put_cluster_role(extra.clone());
    assert!(p
        .authorize(
            &d,
            &req("GET", "/apis/example.com/v1/namespaces/dev/widgets")
        )
        .is_allowed());
    let agg = p.aggregated_roles();
    let admin = &agg.iter().find(|(n, _)| n == "admin").unwrap().1;
    assert!(admin
        .iter()
        .any(|r| r.resources.as_deref() == Some(&["widgets".to_string()][..])));
    extra.metadata.labels = None;
    p.put_cluster_role(extra);
    assert!(!p
        .authorize(
            &d,
            &req("GET", "/apis/example.com/v1/namespaces/dev/widgets")
        )
        .is_allowed());
}

#[test]
fn edit_binding_for_a_service_account_matches_the_issue_flow() {
    let mut p = bootstrapped();
    bind(
        &mut p,
        "dev",
        "ci",
        "ClusterRole",
        "edit",
        sa_subject("dev", "ci"),
    );
    let ci = sa("dev", "ci");
    let yes = p.authorize(
        &ci,
        &req("POST", "/apis/apps/v1/namespaces/dev/deployments"),
    );
    assert_eq!(
        yes,
        Decision::Allow(r#"RBAC: allowed by RoleBinding "ci/dev" of ClusterRole "edit" to ServiceAccount "ci/dev""#.into())
    );
    let info = req("GET", "/api/v1/namespaces/kube-system/secrets");
    assert!(!p.authorize(&ci, &info).is_allowed());
    let status = forbidden_status(&ci.name, &info);
    assert_eq!(
        status["message"],
        r#"secrets is forbidden: User "system:serviceaccount:dev:ci" cannot list resource "secrets" in API group "" in the namespace "kube-system""#
    );
    assert_eq!(status["code"], 403);
    let named = req("GET", "/apis/apps/v1/deployments/x");
    assert_eq!(
        forbidden_status("u", &named)["message"],
        r#"deployments.apps "x" is forbidden: User "u" cannot get resource "deployments" in API group "apps" at the cluster scope"#
    );
    // Another account of the namespace gets nothing from the binding.
    assert!(!p
        .authorize(
            &sa("dev", "other"),
            &req("GET", "/api/v1/namespaces/dev/pods")
        )
        .is_allowed());
    p.remove_role_binding("dev", "ci");
    assert!(!p
        .authorize(&ci, &req("GET", "/api/v1/namespaces/dev/pods"))
        .is_allowed());
}

#[test]
fn rule_matching_handles_names_subresources_and_url_prefixes() {
    let mut r = rule(&[""], &["configmaps"], &["get", "update"]);
    r.resource_names = Some(vec!["app".into()]);
    assert!(rule_allows(
        &req("GET", "/api/v1/namespaces/d/configmaps/app"),
        &r
    ));
    assert!(!rule_allows(
        &req("GET", "/api/v1/namespaces/d/configmaps/other"),
        &r
    ));
    assert!(!rule_allows(
        &req("GET", "/api/v1/namespaces/d/configmaps"),
        &r
    ));
    let logs = rule(&[""], &["pods/log"], &["get"]);
    assert!(rule_allows(
        &req("GET", "/api/v1/namespaces/d/pods/p/log"),
        &logs
    ));
    assert!(!rule_allows(
        &req("GET", "/api/v1/namespaces/d/pods/p"),
        &logs
    ));
    let scale = rule(&["*"], &["*/scale"], &["*"]);
    assert!(rule_allows(
        &req("PUT", "/apis/apps/v1/namespaces/d/deployments/x/scale"),
        &scale
    ));
    assert!(!rule_allows(
        &req("PUT", "/apis/apps/v1/namespaces/d/deployments/x"),
        &scale
    ));
    let paths = PolicyRule {
        non_resource_urls: Some(vec!["/logs/*".into(), "/metrics".into()]),
        verbs: vec!["get".into()],
        ..PolicyRule::default()
    };
    assert!(rule_allows(&req("GET", "/logs/a/b"), &paths));
    assert!(rule_allows(&req("GET", "/metrics"), &paths));
    assert!(!rule_allows(&req("GET", "/metricsx"), &paths));
    assert!(!rule_allows(&req("POST", "/metrics"), &paths));
}

#[test]
fn roles_bound_in_one_namespace_apply_only_there() {
    let mut p = bootstrapped();
    p.put_role(Role {
        metadata: ObjectMeta {
            name: Some("reader".into()),
            namespace: Some("a".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![rule(&[""], &["secrets"], &["get"])]),
    });
    let u = Subject {
        kind: "Group".into(),
        name: "devs".into(),
        ..Subject::default()
    };
    bind(&mut p, "a", "r", "Role", "reader", u.clone());
    bind(&mut p, "b", "r", "Role", "reader", u);
    let dev = user("x", &["devs"]);
    assert!(p
        .authorize(&dev, &req("GET", "/api/v1/namespaces/a/secrets/s"))
        .is_allowed());
    // The binding in b refers to a Role "reader" in b, which does not exist.
    assert!(!p
        .authorize(&dev, &req("GET", "/api/v1/namespaces/b/secrets/s"))
        .is_allowed());
    assert_eq!(
        p.rules_for(&dev, "a").len(),
        p.rules_for(&dev, "b").len() + 1
    );
}

#[test]
fn escalation_is_refused_unless_held_or_escalate_or_bind() {
    let mut p = bootstrapped();
    bind(
        &mut p,
        "dev",
        "ci",
        "ClusterRole",
        "edit",
        sa_subject("dev", "ci"),
    );
    bind(
        &mut p,
        "dev",
        "boss",
        "ClusterRole",
        "admin",
        Subject {
            kind: "User".into(),
            name: "boss".into(),
            ..Subject::default()
        },
    );
    let ci = sa("dev", "ci");
    let boss = user("boss", &[]);
    let secrets = [rule(&[""], &["secrets"], &["get"])];
    let nodes = [rule(&[""], &["nodes"], &["get"])];
    let role = |rules: &'static [PolicyRule]| Grant::Role {
        resource: "roles",
        namespace: "dev",
        name: "r",
        rules,
    };
    let secrets: &'static [PolicyRule] = Box::leak(Box::new(secrets));
    let nodes: &'static [PolicyRule] = Box::leak(Box::new(nodes));
    assert!(escalation::check(&p, &ci, &role(secrets)).is_ok());
    let err = escalation::check(&p, &ci, &role(nodes)).unwrap_err();
    assert_eq!(
        err,
        "user \"system:serviceaccount:dev:ci\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:dev\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\"]}"
    );
    let to_admin = Grant::Binding {
        namespace: "dev",
        role_kind: "ClusterRole",
        role_name: "admin",
    };
    assert!(
        escalation::check(&p, &ci, &to_admin).is_err(),
        "edit cannot grant admin"
    );
    assert!(
        escalation::check(&p, &boss, &to_admin).is_ok(),
        "admin holds admin's rules"
    );
    let to_cluster_admin = Grant::Binding {
        namespace: "dev",
        role_kind: "ClusterRole",
        role_name: "cluster-admin",
    };
    assert!(escalation::check(&p, &boss, &to_cluster_admin).is_err());
    assert!(escalation::check(&p, &user("root", &["system:masters"]), &to_cluster_admin).is_ok());
    // `bind` on the one role lifts the check for it.
    p.put_cluster_role(ClusterRole {
        metadata: ObjectMeta {
            name: Some("binder".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            resource_names: Some(vec!["cluster-admin".into()]),
            ..rule(&[RBAC_GROUP], &["clusterroles"], &["bind"])
        }]),
        aggregation_rule: None,
    });
    bind(
        &mut p,
        "dev",
        "binder",
        "ClusterRole",
        "binder",
        Subject {
            kind: "User".into(),
            name: "boss".into(),
            ..Subject::default()
        },
    );
    assert!(escalation::check(&p, &boss, &to_cluster_admin).is_ok());
}

#[test]
fn impersonation_needs_its_own_permission() {
    let p = bootstrapped();
    let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let admin = user("admin", &["system:masters"]);
    let as_jane = h(&[("impersonate-user", "jane"), ("impersonate-group", "devs")]);
    let got = impersonate(&p, &admin, &as_jane).unwrap().unwrap();
    assert_eq!(got.name, "jane");
    assert_eq!(
        got.groups,
        vec!["devs".to_string(), "system:authenticated".to_string()]
    );
    let as_sa = h(&[("impersonate-user", "system:serviceaccount:dev:ci")]);
    let got = impersonate(&p, &admin, &as_sa).unwrap().unwrap();
    assert_eq!(
        got.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:dev",
            "system:authenticated"
        ]
    );
    match impersonate(&p, &user("bob", &[]), &as_jane) {
        Err(ImpersonationError::Forbidden(status)) => assert_eq!(
            status["message"],
            r#"users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope"#
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        impersonate(&p, &admin, &h(&[("impersonate-group", "x")])),
        Err(ImpersonationError::Malformed(_))
    ));
    assert_eq!(impersonate(&p, &user("bob", &[]), &[]).unwrap(), None);
}

#[test]
fn rbac_alone_gives_nodes_only_what_is_bound_to_system_nodes() {
    // The node rules come from the Node authorizer (`node_tests.rs`), not from RBAC.
    let p = bootstrapped();
    let node = user("system:node:n1", &["system:nodes"]);
    assert!(!p
        .authorize(&node, &req("PATCH", "/api/v1/nodes/n1/status"))
        .is_allowed());
    // Our agents' service proxy and local-path provisioner roles are bound to the group.
    assert!(p
        .authorize(
            &node,
            &req("GET", "/apis/discovery.k8s.io/v1/endpointslices")
        )
        .is_allowed());
    assert!(p
        .authorize(&node, &req("POST", "/api/v1/persistentvolumes"))
        .is_allowed());
    let bootstrapper = user("system:bootstrap:abcdef", &["system:bootstrappers"]);
    assert!(p
        .authorize(
            &bootstrapper,
            &req(
                "POST",
                "/apis/certificates.k8s.io/v1/certificatesigningrequests"
            )
        )
        .is_allowed());
    assert!(!p
        .authorize(&bootstrapper, &req("GET", "/api/v1/pods"))
        .is_allowed());
}

#[test]
fn the_subject_index_follows_updates_and_removals() {
    let mut p = bootstrapped();
    let jane = user("jane", &["devs"]);
    let pods = req("GET", "/api/v1/namespaces/dev/pods");
    let as_user = Subject {
        kind: "User".into(),
        name: "jane".into(),
        ..Subject::default()
    };
    let as_group = Subject {
        kind: "Group".into(),
        name: "devs".into(),
        ..Subject::default()
    };
    bind(&mut p, "dev", "b", "ClusterRole", "view", as_user);
    assert!(p.authorize(&jane, &pods).is_allowed());
    // The same binding now names someone else: jane's entry must be gone.
    bind(
        &mut p,
        "dev",
        "b",
        "ClusterRole",
        "view",
        sa_subject("dev", "ci"),
    );
    assert!(!p.authorize(&jane, &pods).is_allowed());
    assert!(p.authorize(&sa("dev", "ci"), &pods).is_allowed());
    bind(&mut p, "dev", "g", "ClusterRole", "view", as_group);
    assert!(p.authorize(&jane, &pods).is_allowed());
    p.remove_role_binding("dev", "g");
    assert!(!p.authorize(&jane, &pods).is_allowed());
    // A ServiceAccount subject without a namespace means the binding's.
    bind(
        &mut p,
        "dev",
        "sa",
        "ClusterRole",
        "view",
        Subject {
            kind: "ServiceAccount".into(),
            name: "x".into(),
            ..Subject::default()
        },
    );
    assert!(p.authorize(&sa("dev", "x"), &pods).is_allowed());
}
