//! `/portforward/{ns}/{pod}`: SPDY/3.1 `portforward.k8s.io`, either tunneled inside WebSocket
//! binary messages (`SPDY/3.1+portforward.k8s.io`, what kubectl ≥ 1.31 sends) or over a plain
//! HTTP `Upgrade: SPDY/3.1`.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::spdy::{self, kind, Frame, HeaderCodec, FLAG_FIN};
use super::{status_error, ServerState};
use crate::error::{KubeletError, Result};
use crate::runtime::ContainerState;

/// WebSocket subprotocol kubectl uses to tunnel SPDY.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The port-forward stream protocol version.
pub const PORTFORWARD_PROTOCOL: &str = "portforward.k8s.io";

/// Where forwarded connections go.
#[derive(Debug, Clone)]
pub struct Target {
    /// Pod IP (bridge address of the pause container).
    pub ip: String,
    /// Pod name, for error messages.
    pub pod: String,
    /// Pod uid, for error messages.
    pub uid: String,
}

/// Handler for `/portforward/{ns}/{pod}`.
pub async fn port_forward(
    State(state): State<ServerState>,
    Path((ns, pod)): Path<(String, String)>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    mut req: Request,
) -> Response {
    let containers = match state.pod_containers(&ns, &pod).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let sandbox = crate::status::sandboxes(&containers)
        .into_iter()
        .find(|s| s.state == ContainerState::Running);
    let Some(sandbox) = sandbox else {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pod {pod} is not running on this node"),
        );
    };
    let target = Target {
        // Host-network pods have no bridge address; their ports are on the node itself.
        ip: sandbox.ip.clone().unwrap_or_else(|| "127.0.0.1".into()),
        pod: pod.clone(),
        uid: sandbox
            .labels
            .get(crate::naming::LABEL_POD_UID)
            .cloned()
            .unwrap_or_default(),
    };
    if let Ok(ws) = ws {
        let offered = ws
            .requested_protocols()
            .any(|p| p.as_bytes() == TUNNEL_PROTOCOL.as_bytes());
        if !offered {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("port-forward over WebSocket requires subprotocol {TUNNEL_PROTOCOL}"),
            );
        }
        return ws
            .protocols([TUNNEL_PROTOCOL])
            .on_upgrade(move |socket| async move {
                let (mut tx, rx) = socket.split();
                let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(64);
                let writer = tokio::spawn(async move {
                    while let Some(b) = out_rx.recv().await {
                        if tx.send(Message::Binary(b)).await.is_err() {
                            break;
                        }
                    }
                    let _ = tx.send(Message::Close(None)).await;
                });
                let bytes = rx.filter_map(|m| async move {
                    match m {
                        Ok(Message::Binary(b)) => Some(Ok(b)),
                        Ok(Message::Close(_)) => {
                            Some(Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)))
                        }
                        Ok(_) => None,
                        Err(e) => Some(Err(std::io::Error::other(e))),
                    }
                });
                let reader = tokio_util::io::StreamReader::new(Box::pin(bytes));
                if let Err(e) = serve(reader, out_tx, target).await {
                    tracing::debug!(error = %e, "port-forward session ended");
                }
                writer.abort();
            });
    }
    let wants_spdy = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    if !wants_spdy {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("port-forward requires a WebSocket upgrade ({TUNNEL_PROTOCOL}) or Upgrade: SPDY/3.1"),
        );
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let io = hyper_util::rt::TokioIo::new(upgraded);
                let (reader, mut writer) = tokio::io::split(io);
                let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(64);
                let w = tokio::spawn(async move {
                    while let Some(b) = out_rx.recv().await {
                        if writer.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    let _ = writer.shutdown().await;
                });
                if let Err(e) = serve(reader, out_tx, target).await {
                    tracing::debug!(error = %e, "port-forward session ended");
                }
                w.abort();
            }
            Err(e) => tracing::debug!(error = %e, "SPDY upgrade failed"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "SPDY/3.1"),
            (
                header::HeaderName::from_static("x-stream-protocol-version"),
                PORTFORWARD_PROTOCOL,
            ),
        ],
    )
        .into_response()
}

#[derive(Default)]
struct Pair {
    port: Option<u16>,
    error_stream: Option<u32>,
    data_stream: Option<u32>,
    data_rx: Option<mpsc::Receiver<Bytes>>,
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Run one port-forward SPDY session: `reader` carries the client's frames, `out` takes ours.
pub async fn serve<R: AsyncRead + Unpin>(
    mut reader: R,
    out: mpsc::Sender<Bytes>,
    target: Target,
) -> Result<()> {
    let mut codec = HeaderCodec::default();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut to_pod: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let send = |b: Bytes| {
        let out = out.clone();
        async move {
            out.send(b)
                .await
                .map_err(|_| KubeletError::Protocol("peer gone".into()))
        }
    };
    loop {
        while let Some(frame) = spdy::parse_frame(&mut buf)? {
            match frame {
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    if let Some(tx) = to_pod.get(&stream_id) {
                        if !data.is_empty() && tx.send(data).await.is_err() {
                            to_pod.remove(&stream_id);
                        }
                    }
                    if flags & FLAG_FIN != 0 {
                        // Client finished writing: the pod connection sees EOF.
                        to_pod.remove(&stream_id);
                    }
                }
                Frame::Control {
                    kind: kind::SYN_STREAM,
                    payload,
                    ..
                } => {
                    if payload.len() < 10 {
                        return Err(KubeletError::Protocol("short SYN_STREAM".into()));
                    }
                    let stream_id =
                        u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                            & 0x7fff_ffff;
                    let headers = codec.decode(&payload[10..])?;
                    let block = codec.encode(&[])?;
                    let mut reply = BytesMut::from(&stream_id.to_be_bytes()[..]);
                    reply.extend_from_slice(&block);
                    send(spdy::control_frame(kind::SYN_REPLY, 0, &reply)).await?;
                    let request = header(&headers, "requestid")
                        .unwrap_or_default()
                        .to_string();
                    let pair = pairs.entry(request.clone()).or_default();
                    if let Some(p) = header(&headers, "port") {
                        pair.port = p.parse().ok();
                    }
                    match header(&headers, "streamtype") {
                        Some("error") => pair.error_stream = Some(stream_id),
                        Some("data") => {
                            let (tx, rx) = mpsc::channel(64);
                            to_pod.insert(stream_id, tx);
                            pair.data_stream = Some(stream_id);
                            pair.data_rx = Some(rx);
                        }
                        other => {
                            tracing::debug!(?other, "unknown port-forward stream type");
                            send(spdy::rst_stream(stream_id, 1)).await?;
                        }
                    }
                    if let Some(p) = pairs.get_mut(&request) {
                        if let (Some(err), Some(data), Some(rx)) =
                            (p.error_stream, p.data_stream, p.data_rx.take())
                        {
                            let port = p.port;
                            pairs.remove(&request);
                            tokio::spawn(forward(out.clone(), target.clone(), port, err, data, rx));
                        }
                    }
                }
                Frame::Control {
                    kind: kind::PING,
                    payload,
                    ..
                } => {
                    send(spdy::control_frame(kind::PING, 0, &payload)).await?;
                }
                Frame::Control {
                    kind: kind::RST_STREAM,
                    payload,
                    ..
                } if payload.len() >= 4 => {
                    let id = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff;
                    to_pod.remove(&id);
                }
                Frame::Control {
                    kind: kind::GOAWAY, ..
                } => return Ok(()),
                Frame::Control {
                    kind: kind::HEADERS,
                    payload,
                    ..
                } if payload.len() >= 4 => {
                    // Keep the shared decompressor in step even though the headers are unused.
                    codec.decode(&payload[4..])?;
                }
                Frame::Control { .. } => {}
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Carry one forwarded connection between its SPDY data stream and the pod port.
async fn forward(
    out: mpsc::Sender<Bytes>,
    target: Target,
    port: Option<u16>,
    error_stream: u32,
    data_stream: u32,
    mut from_client: mpsc::Receiver<Bytes>,
) {
    let fail = |msg: String| {
        let out = out.clone();
        async move {
            let _ = out
                .send(spdy::data_frame(error_stream, FLAG_FIN, msg.as_bytes()))
                .await;
            let _ = out.send(spdy::data_frame(data_stream, FLAG_FIN, &[])).await;
        }
    };
    let Some(port) = port else {
        fail("port-forward stream is missing a valid \"port\" header".into()).await;
        return;
    };
    let conn = match tokio::net::TcpStream::connect((target.ip.as_str(), port)).await {
        Ok(c) => c,
        Err(e) => {
            fail(format!(
                "error forwarding port {port} to pod {}, uid {}: failed to connect to {}:{port}: {e}",
                target.pod, target.uid, target.ip
            ))
            .await;
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let upstream = async move {
        while let Some(b) = from_client.recv().await {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    let out2 = out.clone();
    let downstream = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out2
                        .send(spdy::data_frame(data_stream, 0, &buf[..n]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = out2
            .send(spdy::data_frame(data_stream, FLAG_FIN, &[]))
            .await;
    };
    tokio::join!(upstream, downstream);
    let _ = out
        .send(spdy::data_frame(error_stream, FLAG_FIN, &[]))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next_frame(rx: &mut mpsc::Receiver<Bytes>, codec: &mut HeaderCodec) -> Frame {
        let b = rx.recv().await.expect("frame");
        let mut buf = BytesMut::from(&b[..]);
        let f = spdy::parse_frame(&mut buf)
            .expect("parse")
            .expect("whole frame");
        if let Frame::Control {
            kind: kind::SYN_REPLY,
            payload,
            ..
        } = &f
        {
            codec.decode(&payload[4..]).expect("reply headers");
        }
        f
    }

    fn syn(codec: &mut HeaderCodec, id: u32, kind_: &str, port: &str) -> Bytes {
        let block = codec
            .encode(&[("streamtype", kind_), ("port", port), ("requestid", "0")])
            .expect("encode");
        let mut p = BytesMut::new();
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&block);
        spdy::control_frame(kind::SYN_STREAM, 0, &p)
    }

    #[tokio::test]
    async fn forwards_bytes_and_reports_closed_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut b = [0u8; 5];
                if s.read_exact(&mut b).await.is_ok() {
                    let _ = s.write_all(b"pong:").await;
                    let _ = s.write_all(&b).await;
                }
            }
        });
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let (out_tx, mut out_rx) = mpsc::channel(64);
        let target = Target {
            ip: "127.0.0.1".into(),
            pod: "p".into(),
            uid: "u".into(),
        };
        tokio::spawn(serve(server_io, out_tx, target));
        let (_r, mut w) = tokio::io::split(client_io);
        let mut enc = HeaderCodec::default();
        let mut dec = HeaderCodec::default();
        w.write_all(&syn(&mut enc, 1, "error", &port))
            .await
            .expect("write");
        w.write_all(&syn(&mut enc, 3, "data", &port))
            .await
            .expect("write");
        w.write_all(&spdy::data_frame(3, 0, b"hello"))
            .await
            .expect("write");
        assert!(matches!(
            next_frame(&mut out_rx, &mut dec).await,
            Frame::Control {
                kind: kind::SYN_REPLY,
                ..
            }
        ));
        assert!(matches!(
            next_frame(&mut out_rx, &mut dec).await,
            Frame::Control {
                kind: kind::SYN_REPLY,
                ..
            }
        ));
        let mut got = Vec::new();
        while got.len() < 10 {
            if let Frame::Data {
                stream_id: 3, data, ..
            } = next_frame(&mut out_rx, &mut dec).await
            {
                got.extend_from_slice(&data);
            }
        }
        assert_eq!(&got, b"pong:hello");

        // A closed port answers on the error stream; the session keeps working.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port().to_string()
        };
        let block = enc
            .encode(&[
                ("streamtype", "error"),
                ("port", &closed),
                ("requestid", "1"),
            ])
            .expect("enc");
        let mut p = BytesMut::from(&5u32.to_be_bytes()[..]);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&block);
        w.write_all(&spdy::control_frame(kind::SYN_STREAM, 0, &p))
            .await
            .expect("write");
        let block = enc
            .encode(&[
                ("streamtype", "data"),
                ("port", &closed),
                ("requestid", "1"),
            ])
            .expect("enc");
        let mut p = BytesMut::from(&7u32.to_be_bytes()[..]);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&block);
        w.write_all(&spdy::control_frame(kind::SYN_STREAM, 0, &p))
            .await
            .expect("write");
        let mut error_text = None;
        for _ in 0..10 {
            if let Frame::Data {
                stream_id: 5, data, ..
            } = next_frame(&mut out_rx, &mut dec).await
            {
                if !data.is_empty() {
                    error_text = Some(String::from_utf8_lossy(&data).into_owned());
                    break;
                }
            }
        }
        assert!(error_text.is_some_and(|t| t.contains("error forwarding port")));
        w.write_all(&spdy::control_frame(kind::PING, 0, &9u32.to_be_bytes()))
            .await
            .expect("ping");
        loop {
            if let Frame::Control {
                kind: kind::PING,
                payload,
                ..
            } = next_frame(&mut out_rx, &mut dec).await
            {
                assert_eq!(&payload[..], &9u32.to_be_bytes());
                break;
            }
        }
    }
}
