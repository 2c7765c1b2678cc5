//! gRPC probes (`grpc.health.v1.Health/Check`, plaintext HTTP/2 as upstream's prober dials),
//! spoken directly over hyper's HTTP/2 client: one unary call with a hand-encoded request and
//! response, which needs no code generation or gRPC stack.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::ProbeOutcome;

const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// gRPC status code UNIMPLEMENTED.
const UNIMPLEMENTED: u32 = 12;

/// `HealthCheckRequest{service}` in a gRPC length-prefixed frame.
fn request_frame(service: &str) -> Bytes {
    let mut msg = BytesMut::new();
    if !service.is_empty() {
        msg.put_u8(0x0a); // field 1, length-delimited
        put_varint(&mut msg, service.len() as u64);
        msg.put_slice(service.as_bytes());
    }
    let mut frame = BytesMut::with_capacity(5 + msg.len());
    frame.put_u8(0); // not compressed
    frame.put_u32(msg.len() as u32);
    frame.put_slice(&msg);
    frame.freeze()
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn read_varint(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// `HealthCheckResponse.status` out of a gRPC frame (0 = UNKNOWN when the field is absent).
fn response_status(frame: &[u8]) -> Option<u64> {
    let len = u32::from_be_bytes(frame.get(1..5)?.try_into().ok()?) as usize;
    let mut msg = frame.get(5..5 + len)?;
    let mut status = 0;
    while !msg.is_empty() {
        let (tag, n) = read_varint(msg)?;
        msg = &msg[n..];
        match tag & 7 {
            0 => {
                let (v, n) = read_varint(msg)?;
                if tag >> 3 == 1 {
                    status = v;
                }
                msg = &msg[n..];
            }
            2 => {
                let (l, n) = read_varint(msg)?;
                msg = msg.get(n + l as usize..)?;
            }
            _ => return None,
        }
    }
    Some(status)
}

fn status_name(s: u64) -> String {
    match s {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        other => other.to_string(),
    }
}

/// One health check against `host:port` for `service` ("" = the whole server).
pub async fn check(host: &str, port: u16, service: &str, timeout: Duration) -> ProbeOutcome {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(&addr).await?;
        let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok::<_, std::io::Error>(sender)
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut sender = match tokio::time::timeout_at(deadline, connect).await {
        Err(_) => {
            return ProbeOutcome::Failure(format!(
                "timeout: failed to connect service {addr:?} within {timeout:?}"
            ))
        }
        Ok(Err(e)) => {
            return ProbeOutcome::Failure(format!(
                "error: failed to connect service at {addr:?}: {e}"
            ))
        }
        Ok(Ok(s)) => s,
    };
    let request = hyper::Request::post(format!("http://{addr}{HEALTH_CHECK_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "kube-probe/1.33")
        .body(Full::new(request_frame(service)));
    let request = match request {
        Ok(r) => r,
        Err(e) => return ProbeOutcome::Failure(format!("error: health rpc probe failed: {e}")),
    };
    let call = async {
        let resp = sender.send_request(request).await?;
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        Ok::<_, hyper::Error>((parts, trailers, collected.to_bytes()))
    };
    let (parts, trailers, body) = match tokio::time::timeout_at(deadline, call).await {
        Err(_) => {
            return ProbeOutcome::Failure(format!(
                "timeout: health rpc did not complete within {timeout:?}"
            ))
        }
        Ok(Err(e)) => return ProbeOutcome::Failure(format!("error: health rpc probe failed: {e}")),
        Ok(Ok(r)) => r,
    };
    // A "trailers-only" answer carries grpc-status in the headers.
    let header = |name: &str| {
        trailers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let code = header("grpc-status").and_then(|c| c.parse::<u32>().ok());
    if !parts.status.is_success() || code != Some(0) {
        let message = header("grpc-message").unwrap_or_default();
        return ProbeOutcome::Failure(match code {
            Some(UNIMPLEMENTED) => format!(
                "this server does not implement the grpc health protocol (grpc.health.v1.Health): {message}"
            ),
            Some(c) => format!("error: health rpc probe failed: rpc error: code = {c} desc = {message}"),
            None => format!(
                "error: health rpc probe failed: HTTP status {} without grpc-status",
                parts.status
            ),
        });
    }
    match response_status(&body) {
        Some(1) => ProbeOutcome::Success,
        Some(s) => ProbeOutcome::Failure(format!(
            "service unhealthy (responded with {:?})",
            status_name(s)
        )),
        None => ProbeOutcome::Failure("error: health rpc probe failed: malformed response".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    #[test]
    fn frames_encode_and_decode() {
        assert_eq!(&request_frame("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &request_frame("db")[..],
            &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(response_status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(response_status(&[0, 0, 0]), None);
    }

    /// A tiny gRPC health server: `serving` for service "", NOT_SERVING for "db",
    /// UNIMPLEMENTED (trailers-only) for "old".
    async fn server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let service = if body.len() > 7 {
                            body[7..].to_vec()
                        } else {
                            vec![]
                        };
                        let mut trailers = hyper::HeaderMap::new();
                        if service == b"old" {
                            let resp = hyper::Response::builder()
                                .header("content-type", "application/grpc")
                                .header("grpc-status", "12")
                                .header("grpc-message", "unknown service")
                                .body(StreamBody::new(futures::stream::iter(Vec::<
                                    Result<Frame<Bytes>, hyper::Error>,
                                >::new(
                                ))))
                                .expect("response");
                            return Ok::<_, hyper::Error>(resp);
                        }
                        let status = if service == b"db" { 2 } else { 1 };
                        trailers.insert("grpc-status", "0".parse().expect("value"));
                        let frames: Vec<Result<Frame<Bytes>, hyper::Error>> = vec![
                            Ok(Frame::data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        Ok(hyper::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(StreamBody::new(futures::stream::iter(frames)))
                            .expect("response"))
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc),
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn health_checks_as_upstream_reports_them() {
        let port = server().await;
        let t = Duration::from_secs(2);
        assert_eq!(check("127.0.0.1", port, "", t).await, ProbeOutcome::Success);
        assert_eq!(
            check("127.0.0.1", port, "db", t).await,
            ProbeOutcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
        );
        assert!(matches!(check("127.0.0.1", port, "old", t).await,
            ProbeOutcome::Failure(m) if m.starts_with("this server does not implement the grpc health protocol")));
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let dead = closed.local_addr().expect("addr").port();
        drop(closed);
        assert!(matches!(check("127.0.0.1", dead, "", t).await,
            ProbeOutcome::Failure(m) if m.starts_with("error: failed to connect service")));
    }
}
