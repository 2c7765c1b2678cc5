//! The checks against pods whose upstream verdicts are known.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::checks::evaluate;
use super::policy::{Level, LevelVersion, Version};

fn spec(v: serde_json::Value) -> PodSpec {
    serde_json::from_value(v).unwrap()
}

fn at(level: Level, version: Version) -> LevelVersion {
    LevelVersion { level, version }
}

const RESTRICTED: LevelVersion = LevelVersion {
    level: Level::Restricted,
    version: Version::Latest,
};
const BASELINE: LevelVersion = LevelVersion {
    level: Level::Baseline,
    version: Version::Latest,
};

fn plain() -> PodSpec {
    spec(json!({"containers": [{"name": "app", "image": "busybox"}]}))
}

fn hardened() -> PodSpec {
    spec(json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "busybox", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
    }))
}

#[test]
fn a_plain_pod_is_baseline_but_not_restricted() {
    let meta = ObjectMeta::default();
    assert!(evaluate(BASELINE, &meta, &plain()).allowed());
    assert_eq!(
        evaluate(RESTRICTED, &meta, &plain()).detail(),
        "allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), \
         unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), \
         runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), \
         seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
    );
}

#[test]
fn a_hardened_pod_is_restricted() {
    assert!(evaluate(RESTRICTED, &ObjectMeta::default(), &hardened()).allowed());
}

#[test]
fn privileged_host_pods_break_baseline_in_upstream_order() {
    let pod = spec(json!({
        "hostNetwork": true, "hostPID": true,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "initContainers": [{"name": "init", "image": "busybox",
            "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN", "SYS_ADMIN"]}}}],
        "containers": [
            {"name": "a", "image": "busybox", "securityContext": {"privileged": true},
             "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "b", "image": "busybox", "securityContext": {"privileged": true},
             "ports": [{"containerPort": 81, "hostPort": 8081}]}
        ]
    }));
    let verdict = evaluate(BASELINE, &ObjectMeta::default(), &pod);
    assert_eq!(
        verdict.reasons(),
        "non-default capabilities, host namespaces, hostPath volumes, hostPort, privileged"
    );
    assert_eq!(
        verdict.detail(),
        "non-default capabilities (container \"init\" must not include \"NET_ADMIN\", \"SYS_ADMIN\" in securityContext.capabilities.add), \
         host namespaces (hostNetwork=true, hostPID=true), \
         hostPath volumes (volume \"root\"), \
         hostPort (containers \"a\", \"b\" use hostPorts 8080, 8081), \
         privileged (containers \"a\", \"b\" must not set securityContext.privileged=true)"
    );
}

#[test]
fn restricted_replaces_the_baseline_checks_it_overrides() {
    let mut pod = hardened();
    pod.volumes = Some(vec![serde_json::from_value(
        json!({"name": "root", "hostPath": {"path": "/"}}),
    )
    .unwrap()]);
    assert_eq!(
        evaluate(RESTRICTED, &ObjectMeta::default(), &pod).detail(),
        "restricted volume types (volume \"root\" uses restricted volume type \"hostPath\")"
    );
}

#[test]
fn explicit_bad_settings_are_named_before_missing_ones() {
    let pod = spec(json!({
        "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "Unconfined"}},
        "containers": [{"name": "app", "image": "busybox", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "NET_RAW"]}}}]
    }));
    assert_eq!(
        evaluate(RESTRICTED, &ObjectMeta::default(), &pod).detail(),
        "unrestricted capabilities (container \"app\" must not include \"NET_RAW\" in securityContext.capabilities.add), \
         runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false), \
         runAsUser=0 (pod must not set runAsUser=0), \
         seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
    );
}

#[test]
fn older_versions_use_the_checks_of_their_time() {
    let meta = ObjectMeta::default();
    // runAsUser=0 joined restricted at v1.23; allowPrivilegeEscalation exists since v1.8.
    let mut pod = hardened();
    pod.security_context.as_mut().unwrap().run_as_user = Some(0);
    assert!(!evaluate(RESTRICTED, &meta, &pod).allowed());
    assert!(evaluate(at(Level::Restricted, Version::Minor(22)), &meta, &pod).allowed());
    // sysctls allowed since v1.29.
    let pod = spec(
        json!({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_fin_timeout", "value": "30"}]},
        "containers": [{"name": "app", "image": "busybox"}]}),
    );
    assert!(evaluate(BASELINE, &meta, &pod).allowed());
    assert_eq!(
        evaluate(at(Level::Baseline, Version::Minor(28)), &meta, &pod).detail(),
        "forbidden sysctls (net.ipv4.tcp_fin_timeout)"
    );
}

#[test]
fn windows_pods_skip_the_linux_only_restrictions() {
    let pod = spec(
        json!({"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": true},
        "containers": [{"name": "app", "image": "busybox"}]}),
    );
    assert!(evaluate(RESTRICTED, &ObjectMeta::default(), &pod).allowed());
}

#[test]
fn privileged_level_allows_anything() {
    let pod = spec(
        json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x",
        "securityContext": {"privileged": true}}]}),
    );
    assert!(evaluate(LevelVersion::PRIVILEGED, &ObjectMeta::default(), &pod).allowed());
}
