//! The kubelet streaming server against real containers: exec over WebSocket channels, logs,
//! and port-forward over tunneled SPDY.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{docker, unique, Recorder};
use ferrokube_kubelet::pod_worker::PodWorker;
use ferrokube_kubelet::server::spdy::{self, kind, Frame, HeaderCodec, FLAG_FIN};
use ferrokube_kubelet::server::{self as kserver, ServerState};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Fixture {
    addr: std::net::SocketAddr,
    worker: PodWorker,
    _tmp: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let rt = Arc::new(docker().await);
    let tmp = tempfile::tempdir().expect("tmp");
    let node = unique("stream-node");
    let api = Arc::new(Recorder(std::sync::Mutex::new(Vec::new())));
    let deps = common::deps(rt.clone(), &node, tmp.path(), api.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": unique("uid")},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
            "containers": [{"name": "web", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "echo started; exec httpd -f -p 8080 -h /www"],
                "volumeMounts": [{"name": "cfg", "mountPath": "/www"}]}]}
    }))
    .expect("pod");
    let mut worker = PodWorker::new(deps, pod, Arc::new(Notify::new()));
    for _ in 0..50 {
        worker.sync().await.expect("sync");
        if api.last().and_then(|s| s.phase).as_deref() == Some("Running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.last().and_then(|s| s.phase).as_deref(), Some("Running"));
    let (addr, serve) = kserver::bind(
        "127.0.0.1:0".parse().expect("addr"),
        ServerState {
            runtime: rt,
            node_name: node,
            cluster_id: "docker-tests".into(),
        },
    )
    .await
    .expect("bind");
    tokio::spawn(serve);
    Fixture {
        addr,
        worker,
        _tmp: tmp,
    }
}

async fn ws(
    url: String,
    protocol: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = url.into_client_request().expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
    let (socket, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some(protocol)
    );
    socket
}

#[tokio::test]
async fn exec_logs_and_port_forward() {
    let mut f = fixture().await;
    let base = format!("ws://{}", f.addr);

    // exec with stdin, closed through the v5 close signal.
    let mut s = ws(format!("{base}/exec/default/web/web?command=sh&command=-c&command=cat%3B%20exit%203&stdin=1&stdout=1&stderr=1"), "v5.channel.k8s.io").await;
    s.send(Message::Binary(Bytes::from_static(b"\x00ping\n")))
        .await
        .expect("stdin");
    s.send(Message::Binary(Bytes::from_static(&[255, 0])))
        .await
        .expect("close stdin");
    let (mut out, mut status) = (Vec::new(), None);
    while let Some(Ok(m)) = s.next().await {
        if let Message::Binary(b) = m {
            match b.first() {
                Some(1) => out.extend_from_slice(&b[1..]),
                Some(3) => {
                    status = Some(
                        serde_json::from_slice::<serde_json::Value>(&b[1..]).expect("status json"),
                    )
                }
                _ => {}
            }
        }
    }
    assert_eq!(String::from_utf8_lossy(&out), "ping\n");
    let status = status.expect("error channel status");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");

    // v4 fallback, success status.
    let mut s = ws(
        format!("{base}/exec/default/web/web?command=true&stdout=1"),
        "v4.channel.k8s.io",
    )
    .await;
    let mut status = None;
    while let Some(Ok(m)) = s.next().await {
        if let Message::Binary(b) = m {
            if b.first() == Some(&3) {
                status = Some(String::from_utf8_lossy(&b[1..]).into_owned());
            }
        }
    }
    assert_eq!(
        status.as_deref(),
        Some(r#"{"metadata":{},"status":"Success"}"#)
    );

    // The pre-v4 protocol upstream's e2e uses: output only, nothing on the error channel when
    // the command succeeds, the failure's message (not a Status) when it does not.
    for (command, want_error) in [("true", None), ("false", Some("exit code 1"))] {
        let mut s = ws(
            format!("{base}/exec/default/web/web?command=sh&command=-c&command=echo%20hi%3B{command}&stdout=1"),
            "channel.k8s.io",
        )
        .await;
        let (mut out, mut error) = (Vec::new(), Vec::new());
        while let Some(Ok(m)) = s.next().await {
            if let Message::Binary(b) = m {
                match b.first() {
                    Some(1) => out.extend_from_slice(&b[1..]),
                    Some(3) => error.extend_from_slice(&b[1..]),
                    _ => {}
                }
            }
        }
        assert_eq!(String::from_utf8_lossy(&out), "hi\n");
        let error = String::from_utf8_lossy(&error).into_owned();
        match want_error {
            None => assert_eq!(error, ""),
            Some(tail) => assert!(error.ends_with(tail) && !error.starts_with('{'), "{error}"),
        }
    }

    // base64 text framing, stdin included.
    let mut s = ws(
        format!("{base}/exec/default/web/web?command=head&command=-n1&stdin=1&stdout=1"),
        "v4.base64.channel.k8s.io",
    )
    .await;
    s.send(Message::Text("0cGluZwo=".into()))
        .await
        .expect("stdin");
    let mut out = String::new();
    while let Some(Ok(m)) = s.next().await {
        if let Message::Text(t) = m {
            if let Some(b64) = t.as_str().strip_prefix('1') {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("b64");
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    assert_eq!(out, "ping\n");

    // Logs over plain HTTP.
    let body = http_get(f.addr, "/containerLogs/default/web/web?tailLines=5").await;
    assert!(body.contains("started"), "logs: {body}");

    // Port-forward: SPDY tunneled in WebSocket, carrying a real HTTP request to the pod.
    let mut s = ws(
        format!("{base}/portforward/default/web"),
        "SPDY/3.1+portforward.k8s.io",
    )
    .await;
    let mut enc = HeaderCodec::default();
    let mut dec = HeaderCodec::default();
    for (id, kind_) in [(1u32, "error"), (3u32, "data")] {
        let block = enc
            .encode(&[("streamtype", kind_), ("port", "8080"), ("requestid", "0")])
            .expect("encode");
        let mut p = BytesMut::from(&id.to_be_bytes()[..]);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&block);
        s.send(Message::Binary(spdy::control_frame(
            kind::SYN_STREAM,
            0,
            &p,
        )))
        .await
        .expect("syn");
    }
    let req = b"GET /greeting HTTP/1.0\r\nHost: x\r\n\r\n";
    s.send(Message::Binary(spdy::data_frame(3, FLAG_FIN, req)))
        .await
        .expect("data");
    let mut buf = BytesMut::new();
    let mut response = Vec::new();
    let mut fin = false;
    while !fin {
        let Some(Ok(Message::Binary(b))) = s.next().await else {
            break;
        };
        buf.extend_from_slice(&b);
        while let Some(frame) = spdy::parse_frame(&mut buf).expect("frame") {
            match frame {
                Frame::Data {
                    stream_id: 3,
                    flags,
                    data,
                } => {
                    response.extend_from_slice(&data);
                    fin = flags & FLAG_FIN != 0;
                }
                Frame::Control {
                    kind: kind::SYN_REPLY,
                    payload,
                    ..
                } => {
                    dec.decode(&payload[4..]).expect("reply headers");
                }
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "response: {text}"
    );
    assert!(text.ends_with("hello from configmap"), "response: {text}");

    f.worker.remove().await.expect("cleanup");
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}
