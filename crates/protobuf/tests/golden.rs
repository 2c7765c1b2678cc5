//! Golden tests: bodies captured from kubectl, and bodies built with k8s-pb's prost types whose
//! decoded JSON must equal what k8s-openapi's serde produces for the same object.

use ferrokube_protobuf::{decode, encode, is_known, ProtoError};
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use k8s_pb::api::apps::v1 as pb_apps;
use k8s_pb::api::core::v1 as pb_core;
use k8s_pb::apimachinery::pkg::api::resource as pb_resource;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use k8s_pb::apimachinery::pkg::runtime as pb_runtime;
use k8s_pb::apimachinery::pkg::util::intstr as pb_intstr;
use prost::Message as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const FIXTURES: &[&str] = &[
    "namespace",
    "configmap",
    "secret",
    "secret-binary",
    "deployment",
    "service",
    "job",
    "cronjob",
    "pdb",
    "role",
];

fn fixture(name: &str, ext: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/kubectl-create-{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Wraps a typed message into the `k8s\0` envelope, using k8s-pb's own `runtime.Unknown`.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = pb_runtime::Unknown {
        type_meta: Some(pb_runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

fn with_type<T: k8s_openapi::Resource + serde::Serialize>(obj: &T) -> Value {
    let mut v = serde_json::to_value(obj).expect("serialize");
    v["apiVersion"] = json!(T::API_VERSION);
    v["kind"] = json!(T::KIND);
    v
}

fn pb_meta(name: &str, namespace: Option<&str>) -> pb_meta::ObjectMeta {
    pb_meta::ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        labels: BTreeMap::from([("app".to_string(), name.to_string())]),
        creation_timestamp: Some(pb_meta::Time {
            seconds: Some(1_704_164_645),
            nanos: Some(0),
        }),
        ..Default::default()
    }
}

fn oa_meta(name: &str, namespace: Option<&str>) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(Into::into),
        labels: Some(BTreeMap::from([("app".to_string(), name.to_string())])),
        creation_timestamp: Some(meta::Time("2024-01-02T03:04:05Z".parse().expect("time"))),
        ..Default::default()
    }
}

#[test]
fn kubectl_bodies_decode_to_kubectls_own_json() {
    for name in FIXTURES {
        let decoded = decode(&fixture(name, "pb")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: Value = serde_json::from_slice(&fixture(name, "json")).expect("fixture JSON");
        assert_eq!(decoded, expected, "{name}");
    }
}

#[test]
fn kubectl_bodies_round_trip_through_encode() {
    for name in FIXTURES {
        let decoded = decode(&fixture(name, "pb")).expect("decode");
        let again = decode(&encode(&decoded).expect("encode")).expect("decode again");
        assert_eq!(again, decoded, "{name}");
    }
}

#[test]
fn namespace_matches_openapi_json() {
    let pb = pb_core::Namespace {
        metadata: Some(pb_meta("demo", None)),
        spec: Some(pb_core::NamespaceSpec {
            finalizers: vec!["kubernetes".into()],
        }),
        status: None,
    };
    let oa = core::Namespace {
        metadata: oa_meta("demo", None),
        spec: Some(core::NamespaceSpec {
            finalizers: Some(vec!["kubernetes".into()]),
        }),
        status: None,
    };
    assert_eq!(
        decode(&envelope("v1", "Namespace", pb.encode_to_vec())).expect("decode"),
        with_type(&oa)
    );
}

#[test]
fn configmap_and_secret_match_openapi_json() {
    let pb = pb_core::ConfigMap {
        metadata: Some(pb_meta("c", Some("default"))),
        data: BTreeMap::from([("a".into(), "1".into()), ("empty".into(), String::new())]),
        binary_data: BTreeMap::from([("b".into(), vec![0u8, 1, 2, 255])]),
        immutable: Some(true),
    };
    let oa = core::ConfigMap {
        metadata: oa_meta("c", Some("default")),
        data: Some(BTreeMap::from([
            ("a".into(), "1".into()),
            ("empty".into(), String::new()),
        ])),
        binary_data: Some(BTreeMap::from([(
            "b".into(),
            ByteString(vec![0u8, 1, 2, 255]),
        )])),
        immutable: Some(true),
    };
    assert_eq!(
        decode(&envelope("v1", "ConfigMap", pb.encode_to_vec())).expect("decode"),
        with_type(&oa)
    );

    let pb = pb_core::Secret {
        metadata: Some(pb_meta("s", Some("default"))),
        data: BTreeMap::from([("k".into(), b"v\x00\xff".to_vec())]),
        string_data: BTreeMap::new(),
        r#type: Some("Opaque".into()),
        immutable: None,
    };
    let oa = core::Secret {
        metadata: oa_meta("s", Some("default")),
        data: Some(BTreeMap::from([(
            "k".into(),
            ByteString(b"v\x00\xff".to_vec()),
        )])),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let decoded = decode(&envelope("v1", "Secret", pb.encode_to_vec())).expect("decode");
    assert_eq!(decoded, with_type(&oa));
    assert_eq!(decoded["data"]["k"], json!("dgD/"));
}

fn quantity(s: &str) -> pb_resource::Quantity {
    pb_resource::Quantity {
        string: Some(s.into()),
    }
}

#[test]
fn deployment_matches_openapi_json() {
    let pb = pb_apps::Deployment {
        metadata: Some(pb_meta("d", Some("default"))),
        spec: Some(pb_apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(pb_meta::LabelSelector {
                match_labels: BTreeMap::from([("app".into(), "d".into())]),
                match_expressions: vec![],
            }),
            template: Some(pb_core::PodTemplateSpec {
                metadata: Some(pb_meta::ObjectMeta {
                    labels: BTreeMap::from([("app".into(), "d".into())]),
                    ..Default::default()
                }),
                spec: Some(pb_core::PodSpec {
                    containers: vec![pb_core::Container {
                        name: Some("web".into()),
                        image: Some("busybox".into()),
                        command: vec!["sleep".into(), "3600".into()],
                        resources: Some(pb_core::ResourceRequirements {
                            limits: BTreeMap::from([
                                ("cpu".into(), quantity("500m")),
                                ("memory".into(), quantity("64Mi")),
                            ]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    host_ipc: Some(true),
                    termination_grace_period_seconds: Some(0),
                    ..Default::default()
                }),
            }),
            strategy: Some(pb_apps::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(pb_apps::RollingUpdateDeployment {
                    max_surge: Some(pb_intstr::IntOrString {
                        r#type: Some(1),
                        int_val: None,
                        str_val: Some("25%".into()),
                    }),
                    max_unavailable: Some(pb_intstr::IntOrString {
                        r#type: Some(0),
                        int_val: Some(1),
                        str_val: None,
                    }),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let oa = apps::Deployment {
        metadata: oa_meta("d", Some("default")),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: meta::LabelSelector {
                match_labels: Some(BTreeMap::from([("app".into(), "d".into())])),
                match_expressions: None,
            },
            template: core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: Some(BTreeMap::from([("app".into(), "d".into())])),
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: "web".into(),
                        image: Some("busybox".into()),
                        command: Some(vec!["sleep".into(), "3600".into()]),
                        resources: Some(core::ResourceRequirements {
                            limits: Some(BTreeMap::from([
                                ("cpu".into(), Quantity("500m".into())),
                                ("memory".into(), Quantity("64Mi".into())),
                            ])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    host_ipc: Some(true),
                    termination_grace_period_seconds: Some(0),
                    ..Default::default()
                }),
            },
            strategy: Some(apps::DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::Int(1)),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode(&envelope("apps/v1", "Deployment", pb.encode_to_vec())).expect("decode");
    assert_eq!(decoded, with_type(&oa));
    assert_eq!(decoded["spec"]["template"]["spec"]["hostIPC"], json!(true));
    assert_eq!(
        decoded["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        json!(0)
    );
}

#[test]
fn service_matches_openapi_json() {
    let port = |name: &str, port: i32, target: pb_intstr::IntOrString| pb_core::ServicePort {
        name: Some(name.into()),
        protocol: Some("TCP".into()),
        port: Some(port),
        target_port: Some(target),
        ..Default::default()
    };
    let pb = pb_core::Service {
        metadata: Some(pb_meta("svc", Some("default"))),
        spec: Some(pb_core::ServiceSpec {
            ports: vec![
                port(
                    "http",
                    80,
                    pb_intstr::IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: None,
                    },
                ),
                port(
                    "web",
                    443,
                    pb_intstr::IntOrString {
                        r#type: Some(1),
                        int_val: None,
                        str_val: Some("https".into()),
                    },
                ),
            ],
            selector: BTreeMap::from([("app".into(), "svc".into())]),
            cluster_ip: Some("10.0.0.10".into()),
            cluster_ips: vec!["10.0.0.10".into()],
            r#type: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    };
    let oa_port = |name: &str, port: i32, target: IntOrString| core::ServicePort {
        name: Some(name.into()),
        protocol: Some("TCP".into()),
        port,
        target_port: Some(target),
        ..Default::default()
    };
    let oa = core::Service {
        metadata: oa_meta("svc", Some("default")),
        spec: Some(core::ServiceSpec {
            ports: Some(vec![
                oa_port("http", 80, IntOrString::Int(8080)),
                oa_port("web", 443, IntOrString::String("https".into())),
            ]),
            selector: Some(BTreeMap::from([("app".into(), "svc".into())])),
            cluster_ip: Some("10.0.0.10".into()),
            cluster_ips: Some(vec!["10.0.0.10".into()]),
            type_: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    };
    let decoded = decode(&envelope("v1", "Service", pb.encode_to_vec())).expect("decode");
    assert_eq!(decoded, with_type(&oa));
    assert_eq!(decoded["spec"]["clusterIPs"], json!(["10.0.0.10"]));
}

#[test]
fn pod_list_status_and_micro_time_round_trip() {
    let list = json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "42", "continue": "abc", "remainingItemCount": 7},
        "items": [{
            "metadata": {"name": "p", "namespace": "default", "uid": "u-1", "resourceVersion": "41",
                         "creationTimestamp": "2024-01-02T03:04:05Z",
                         "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                            "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}]},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                     "resources": {"requests": {"cpu": "100m"}}}],
                     "activeDeadlineSeconds": 30},
            "status": {"phase": "Running", "podIP": "10.1.2.3", "podIPs": [{"ip": "10.1.2.3"}],
                       "startTime": "2024-01-02T03:04:05Z"}
        }]
    });
    let bytes = encode(&list).expect("encode");
    assert_eq!(decode(&bytes).expect("decode"), list);

    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "pods \"x\" not found", "reason": "NotFound",
                        "details": {"name": "x", "kind": "pods"}, "code": 404});
    assert_eq!(
        decode(&encode(&status).expect("encode")).expect("decode"),
        status
    );

    let event = json!({"kind": "Event", "apiVersion": "events.k8s.io/v1",
                       "metadata": {"name": "e", "namespace": "default"},
                       "eventTime": "2024-01-02T03:04:05.123456Z", "reportingController": "x",
                       "reportingInstance": "y", "action": "A", "reason": "R", "type": "Normal"});
    assert_eq!(
        decode(&encode(&event).expect("encode")).expect("decode"),
        event
    );
}

#[test]
fn encoded_bytes_are_readable_by_prost() {
    let obj = json!({"kind": "Deployment", "apiVersion": "apps/v1",
                     "metadata": {"name": "d", "creationTimestamp": "2024-01-02T03:04:05Z"},
                     "spec": {"replicas": 0, "selector": {"matchLabels": {"a": "b"}},
                              "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
                              "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 2}}}});
    let bytes = encode(&obj).expect("encode");
    let unknown = pb_runtime::Unknown::decode(&bytes[4..]).expect("envelope");
    assert_eq!(
        unknown.type_meta.and_then(|t| t.kind).as_deref(),
        Some("Deployment")
    );
    let d = pb_apps::Deployment::decode(unknown.raw.unwrap_or_default().as_slice())
        .expect("deployment");
    let spec = d.spec.expect("spec");
    assert_eq!(spec.replicas, Some(0));
    assert_eq!(
        d.metadata
            .and_then(|m| m.creation_timestamp)
            .and_then(|t| t.seconds),
        Some(1_704_164_645)
    );
    let ru = spec
        .strategy
        .and_then(|s| s.rolling_update)
        .expect("rollingUpdate");
    assert_eq!(ru.max_surge.and_then(|m| m.str_val).as_deref(), Some("25%"));
    assert_eq!(ru.max_unavailable.and_then(|m| m.int_val), Some(2));
}

#[test]
fn crd_schema_unions_and_raw_json_round_trip() {
    let crd = json!({"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"name": "foos.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "foos", "kind": "Foo"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object",
                         "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                             "default": {"a": [1, "b"]},
                             "additionalProperties": false,
                             "items": {"type": "string"},
                             "dependencies": {"x": ["y", "z"]}},
                             "ref": {"$ref": "#/definitions/x"}},
                         "additionalProperties": {"type": "integer"}}}}]}});
    assert_eq!(decode(&encode(&crd).expect("encode")).expect("decode"), crd);
}

#[test]
fn known_kinds() {
    assert!(is_known("v1", "Namespace"));
    assert!(is_known("v1", "PodList"));
    assert!(is_known("batch/v1", "CronJob"));
    assert!(is_known("v1", "Status"));
    assert!(!is_known("v1", "Table"));
    assert!(!is_known("example.com/v1", "Foo"));
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    assert_eq!(decode(b""), Err(ProtoError::MissingMagic));
    assert_eq!(decode(b"{\"kind\":\"Pod\"}"), Err(ProtoError::MissingMagic));
    let unknown_kind = envelope("example.com/v1", "Foo", vec![]);
    assert!(matches!(
        decode(&unknown_kind),
        Err(ProtoError::UnknownKind { .. })
    ));
    for name in FIXTURES {
        let body = fixture(name, "pb");
        // Envelope: magic, 0x0a, typeMeta length (one byte here), typeMeta, 0x12, raw length.
        let raw_len_at = 6 + usize::from(body[5]) + 1;
        let raw_start = raw_len_at + if body[raw_len_at] & 0x80 != 0 { 2 } else { 1 };
        for cut in 4..body.len() {
            // Truncation must never panic. A cut on a field boundary of the envelope can still
            // be valid protobuf, but a cut inside `raw` (which ends 4 bytes before the end:
            // empty contentEncoding and contentType follow) breaks its length.
            let result = decode(&body[..cut]);
            if cut > raw_start && cut < body.len() - 4 {
                assert_eq!(result, Err(ProtoError::Truncated), "{name} cut at {cut}");
            }
        }
        let mut flipped = body.clone();
        for i in 4..flipped.len() {
            flipped[i] ^= 0xa5;
            let _ = decode(&flipped);
            flipped[i] ^= 0xa5;
        }
    }
    // Pseudo-random garbage after the magic.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut body = b"k8s\0".to_vec();
        for _ in 0..(state % 64) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push(state as u8);
        }
        let _ = decode(&body);
    }
    // Deep nesting is refused rather than overflowing the stack.
    let mut schema = json!({"type": "object"});
    for _ in 0..200 {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    let crd = json!({"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
        "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}});
    assert_eq!(encode(&crd), Err(ProtoError::TooDeep));
}

#[test]
fn invalid_json_is_rejected_by_encode() {
    let bad = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": 5}});
    assert!(matches!(encode(&bad), Err(ProtoError::InvalidJson { .. })));
    let bad_time =
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"creationTimestamp": "soon"}});
    assert!(matches!(
        encode(&bad_time),
        Err(ProtoError::InvalidJson { .. })
    ));
    assert!(matches!(
        encode(&json!({"kind": "Namespace"})),
        Err(ProtoError::InvalidJson { .. })
    ));
}

#[test]
fn inline_embedded_structs_merge_into_the_parent_object() {
    let pb = pb_core::Pod {
        metadata: Some(pb_meta::ObjectMeta {
            name: Some("p".into()),
            ..Default::default()
        }),
        spec: Some(pb_core::PodSpec {
            containers: vec![pb_core::Container {
                name: Some("c".into()),
                liveness_probe: Some(pb_core::Probe {
                    handler: Some(pb_core::ProbeHandler {
                        http_get: Some(pb_core::HttpGetAction {
                            path: Some("/healthz".into()),
                            port: Some(pb_intstr::IntOrString {
                                r#type: Some(0),
                                int_val: Some(8080),
                                str_val: None,
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    period_seconds: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            volumes: vec![pb_core::Volume {
                name: Some("cfg".into()),
                volume_source: Some(pb_core::VolumeSource {
                    config_map: Some(pb_core::ConfigMapVolumeSource {
                        local_object_reference: Some(pb_core::LocalObjectReference {
                            name: Some("c".into()),
                        }),
                        default_mode: Some(0o644),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
        status: None,
    };
    let expected = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5}}],
                 "volumes": [{"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}}]}});
    let decoded = decode(&envelope("v1", "Pod", pb.encode_to_vec())).expect("decode");
    assert_eq!(decoded, expected);
    let typed: core::Pod = serde_json::from_value(decoded.clone()).expect("k8s-openapi accepts it");
    assert_eq!(with_type(&typed), expected);
    assert_eq!(
        decode(&encode(&expected).expect("encode")).expect("decode"),
        expected
    );
}

/// A pointer bool's explicit `false` survives decoding (client-go sends it for the restricted
/// Pod Security level); a plain bool's `false` stays Go's "unset", as kubectl's JSON omits it.
#[test]
fn explicit_false_of_pointer_bools_survives() {
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"hostNetwork": false, "containers": [{"name": "c", "image": "busybox",
            "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": false}}]}});
    let decoded = ferrokube_protobuf::decode(&ferrokube_protobuf::encode(&pod).unwrap()).unwrap();
    let sc = &decoded["spec"]["containers"][0]["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], false);
    assert!(decoded["spec"].get("hostNetwork").is_none(), "{decoded}");
}

/// So does a pointer integer's explicit zero (upstream's Lease conformance spec compares
/// `leaseTransitions: 0` read back; `runAsUser: 0` is root and must reach Pod Security).
#[test]
fn explicit_zero_of_pointer_ints_survives() {
    let lease = serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l"}, "spec": {"holderIdentity": "holder", "leaseDurationSeconds": 30,
        "acquireTime": "0001-01-01T00:00:02.000000Z", "leaseTransitions": 0}});
    let decoded = ferrokube_protobuf::decode(&ferrokube_protobuf::encode(&lease).unwrap()).unwrap();
    assert_eq!(decoded["spec"], lease["spec"]);
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "securityContext": {"runAsUser": 0}}]}});
    let decoded = ferrokube_protobuf::decode(&ferrokube_protobuf::encode(&pod).unwrap()).unwrap();
    assert_eq!(
        decoded["spec"]["containers"][0]["securityContext"]["runAsUser"],
        0
    );
    // client-go reads a pod over protobuf and sends it back: the stored `priority: 0` must come
    // back as 0, or the update looks like a forbidden spec change (run 6's pod generation and
    // ordered namespace deletion specs).
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "priority": 0}});
    let decoded = ferrokube_protobuf::decode(&ferrokube_protobuf::encode(&pod).unwrap()).unwrap();
    assert_eq!(decoded["spec"]["priority"], 0, "{decoded}");
}
