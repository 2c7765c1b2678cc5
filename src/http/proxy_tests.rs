//! Unit tests of the pod streaming proxy's pure parts: container choice, log options, kubelet
//! addresses and error pass-through (cases after upstream's pod strategy and validation tests).

use super::*;
use serde_json::json;

fn pod(v: Value) -> Pod {
    serde_json::from_value(v).expect("pod json")
}

fn two_containers() -> Pod {
    pod(json!({
        "metadata": {"name": "web"},
        "spec": {
            "initContainers": [{"name": "setup"}],
            "containers": [{"name": "a"}, {"name": "b"}]
        }
    }))
}

#[test]
fn single_container_is_the_default() {
    let p = pod(json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app"}]}}));
    assert_eq!(select_container(&p, "web", None).unwrap(), "app");
    assert_eq!(
        select_container(&p, "web", Some(&String::new())).unwrap(),
        "app"
    );
}

#[test]
fn several_containers_need_a_name() {
    let err = select_container(&two_containers(), "web", None).unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [setup]"
    );
}

#[test]
fn named_container_must_exist() {
    let p = two_containers();
    assert_eq!(
        select_container(&p, "web", Some(&"b".to_string())).unwrap(),
        "b"
    );
    assert_eq!(
        select_container(&p, "web", Some(&"setup".to_string())).unwrap(),
        "setup"
    );
    let err = select_container(&p, "web", Some(&"nope".to_string())).unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(err.message, "container nope is not valid for pod web");
}

#[test]
fn default_container_annotation_picks() {
    let mut p = two_containers();
    p.metadata.annotations = Some(
        [(DEFAULT_CONTAINER_ANNOTATION.to_string(), "b".to_string())]
            .into_iter()
            .collect(),
    );
    assert_eq!(select_container(&p, "web", None).unwrap(), "b");
    // An annotation naming no container is ignored, as kubectl does.
    p.metadata.annotations = Some(
        [(DEFAULT_CONTAINER_ANNOTATION.to_string(), "zz".to_string())]
            .into_iter()
            .collect(),
    );
    assert!(select_container(&p, "web", None).is_err());
}

#[test]
fn unscheduled_pod_has_no_host() {
    let p = two_containers();
    let err = assigned_node(&p, "web").unwrap_err();
    assert_eq!(err.message, "pod web does not have a host assigned");
}

fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn log_options_parse_and_forward() {
    let opts = LogOptions::parse(
        &query(&[
            ("follow", "true"),
            ("tailLines", "10"),
            ("timestamps", "1"),
            ("limitBytes", "100"),
            ("container", "a"),
        ]),
        "web",
    )
    .unwrap();
    assert!(opts.follow && opts.timestamps && !opts.previous);
    assert_eq!(
        opts.kubelet_query(),
        "?follow=true&timestamps=true&tailLines=10&limitBytes=100"
    );
    assert_eq!(
        LogOptions::parse(&query(&[]), "web")
            .unwrap()
            .kubelet_query(),
        ""
    );
    let since = LogOptions::parse(&query(&[("sinceTime", "2024-01-02T03:04:05Z")]), "web").unwrap();
    assert_eq!(
        since.kubelet_query(),
        "?sinceTime=2024%2D01%2D02T03%3A04%3A05Z"
    );
}

#[test]
fn log_options_validate_as_upstream() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("tailLines", "-1")],
            "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            &[("limitBytes", "0")],
            "PodLogOptions \"web\" is invalid: limitBytes: Invalid value: 0: must be greater than 0",
        ),
        (
            &[("sinceSeconds", "0")],
            "PodLogOptions \"web\" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0",
        ),
        (
            &[("sinceSeconds", "5"), ("sinceTime", "2024-01-02T03:04:05Z")],
            "PodLogOptions \"web\" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
        ),
    ];
    for (q, msg) in cases {
        let err = LogOptions::parse(&query(q), "web").unwrap_err();
        assert_eq!(err.code, 422, "{q:?}");
        assert_eq!(err.message, *msg);
    }
    for q in [
        [("tailLines", "x")],
        [("follow", "maybe")],
        [("sinceTime", "yesterday")],
    ] {
        assert_eq!(LogOptions::parse(&query(&q), "web").unwrap_err().code, 400);
    }
}

#[test]
fn logs_of_a_container_that_never_started_are_refused() {
    let mut p = pod(json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"containerStatuses": [{
            "name": "app", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}
        }]}
    }));
    assert_eq!(
        log_status_error(&p, "web", "app", false).unwrap(),
        "container \"app\" in pod \"web\" is waiting to start: ContainerCreating"
    );
    assert_eq!(
        log_status_error(&p, "web", "app", true).unwrap(),
        "previous terminated container \"app\" in pod \"web\" not found"
    );
    let status = p.status.as_mut().unwrap();
    status.container_statuses.as_mut().unwrap()[0].state = Some(
        serde_json::from_value(json!({"running": {"startedAt": "2024-01-01T00:00:00Z"}})).unwrap(),
    );
    assert_eq!(log_status_error(&p, "web", "app", false), None);
    // No status at all yet: nothing to judge by, the kubelet answers.
    p.status = None;
    assert_eq!(log_status_error(&p, "web", "app", false), None);
}

#[test]
fn kubelet_address_from_node_status() {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 41234}}
        }
    }))
    .unwrap();
    assert_eq!(kubelet_address_of(&node, "n1").unwrap(), "10.0.0.5:41234");
    let v6: Node = serde_json::from_value(json!({
        "metadata": {"name": "n2"},
        "status": {"addresses": [{"type": "InternalIP", "address": "::1"}]}
    }))
    .unwrap();
    assert_eq!(kubelet_address_of(&v6, "n2").unwrap(), "[::1]:10250");
    let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n3"}})).unwrap();
    assert!(matches!(
        kubelet_address_of(&bare, "n3"),
        Err(ProxyError::NoAddress(_))
    ));
}

#[test]
fn kubelet_errors_pass_through() {
    let status = json!({"kind": "Status", "status": "Failure", "code": 400,
        "message": "container app is not running in pod web", "reason": "BadRequest"});
    let err = error_from_kubelet(400, status.to_string().as_bytes());
    assert_eq!((err.code, err.reason), (400, "BadRequest"));
    assert_eq!(err.message, "container app is not running in pod web");
    let err = error_from_kubelet(500, b"boom\n");
    assert_eq!((err.code, err.message.as_str()), (500, "boom"));
}

#[test]
fn query_and_headers_forwarding() {
    assert_eq!(
        without_key(
            Some("command=ls&container=a&command=-l&stdout=true"),
            "container"
        ),
        "?command=ls&command=-l&stdout=true"
    );
    assert_eq!(without_key(Some("container=a"), "container"), "");
    assert_eq!(without_key(None, "container"), "");
    let mut h = HeaderMap::new();
    h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert("impersonate-user", HeaderValue::from_static("bob"));
    h.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("v5.channel.k8s.io"),
    );
    let out = forwarded_headers(&h);
    assert!(out.get(header::AUTHORIZATION).is_none());
    assert!(out.get("impersonate-user").is_none());
    assert_eq!(out.get(header::UPGRADE).unwrap(), "websocket");
    assert_eq!(
        out.get("sec-websocket-protocol").unwrap(),
        "v5.channel.k8s.io"
    );
}
