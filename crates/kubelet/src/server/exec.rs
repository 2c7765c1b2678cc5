//! `/exec` and `/attach` over WebSocket with the Kubernetes channel protocol (every flavour
//! upstream's kubelet serves: see [`super::channel`]).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;

use super::channel::Framing;
pub use super::channel::PROTOCOLS;
use super::{query_flag, query_pairs, status_error, ServerState};
use crate::runtime::{ExecOptions, OutputKind, StreamSession};

/// Channel numbers of the remotecommand protocol.
pub const STDIN: u8 = 0;
/// Standard output channel.
pub const STDOUT: u8 = 1;
/// Standard error channel.
pub const STDERR: u8 = 2;
/// Error/status channel.
pub const ERROR: u8 = 3;
/// Terminal resize channel.
pub const RESIZE: u8 = 4;
/// v5 close-stream signal (`[255, channel]`).
pub const CLOSE: u8 = 255;

/// The error-channel Status for a finished command, as upstream's kubelet writes it.
pub fn exit_status(code: i64, command: &[String]) -> serde_json::Value {
    if code == 0 {
        return serde_json::json!({"metadata": {}, "status": "Success"});
    }
    serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
    })
}

/// A Status for an internal failure on the error channel.
pub fn internal_status(message: &str) -> serde_json::Value {
    serde_json::json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "code": 500
    })
}

/// Parse a resize message (`{"Width":80,"Height":24}`).
pub fn parse_resize(data: &[u8]) -> Option<(u16, u16)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u16,
        height: u16,
    }
    serde_json::from_slice::<Size>(data)
        .ok()
        .map(|s| (s.width, s.height))
}

fn not_websocket(what: &str) -> Response {
    status_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("{what} requires a WebSocket upgrade with a channel.k8s.io subprotocol (SPDY is not supported by this node)"),
    )
}

/// Handler for `/exec/{ns}/{pod}/{container}`.
pub async fn exec(
    State(state): State<ServerState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let command: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if command.is_empty() {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "you must specify at least one command for the container",
        );
    }
    let Ok(ws) = ws else {
        return not_websocket("exec");
    };
    let opts = ExecOptions {
        command,
        stdin: query_flag(&q, &["stdin", "input"]),
        stdout: query_flag(&q, &["stdout", "output"]),
        stderr: query_flag(&q, &["stderr", "error"]),
        tty: query_flag(&q, &["tty"]),
    };
    let info = match state.find_container(&ns, &pod, &container, false).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if info.state != crate::runtime::ContainerState::Running {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!(
                "container {} is not running in pod {pod}",
                info.labels
                    .get(crate::naming::LABEL_CONTAINER_NAME)
                    .cloned()
                    .unwrap_or_default()
            ),
        );
    }
    let session = match state.runtime.exec(&info.id, &opts).await {
        Ok(s) => s,
        Err(e) => {
            return status_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        }
    };
    let ws = ws.protocols(PROTOCOLS);
    ws.on_upgrade(move |socket| async move {
        let framing = Framing::of(socket.protocol().and_then(|p| p.to_str().ok()));
        let runtime = state.runtime.clone();
        let exec_id = session.id.clone();
        let rt = runtime.clone();
        let resize = move |w: u16, h: u16| {
            let rt = rt.clone();
            let id = exec_id.clone();
            async move {
                if let Err(e) = rt.resize_exec(&id, w, h).await {
                    tracing::debug!(error = %e, "exec resize failed");
                }
            }
        };
        let exec_id = session.id.clone();
        let status = pump(
            socket,
            session,
            framing,
            opts.stdout,
            resize,
            move || async move {
                match runtime.exec_exit_code(&exec_id).await {
                    Ok(Some(code)) => exit_status(code, &opts.command),
                    Ok(None) => internal_status("command did not report an exit code"),
                    Err(e) => internal_status(&e.to_string()),
                }
            },
        )
        .await;
        if let Err(e) = status {
            tracing::debug!(error = %e, "exec stream ended with error");
        }
    })
}

/// Handler for `/attach/{ns}/{pod}/{container}`.
pub async fn attach(
    State(state): State<ServerState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let Ok(ws) = ws else {
        return not_websocket("attach");
    };
    let info = match state.find_container(&ns, &pod, &container, false).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if info.state != crate::runtime::ContainerState::Running {
        return status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("container is not running in pod {pod}"),
        );
    }
    let stdin = query_flag(&q, &["stdin", "input"]);
    let stdout = query_flag(&q, &["stdout", "output"]);
    let session = match state.runtime.attach(&info.id, stdin).await {
        Ok(s) => s,
        Err(e) => {
            return status_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            )
        }
    };
    ws.protocols(PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let framing = Framing::of(socket.protocol().and_then(|p| p.to_str().ok()));
            let rt = state.runtime.clone();
            let id = info.id.clone();
            let resize = move |w: u16, h: u16| {
                let rt = rt.clone();
                let id = id.clone();
                async move {
                    if let Err(e) = rt.resize_container(&id, w, h).await {
                        tracing::debug!(error = %e, "attach resize failed");
                    }
                }
            };
            let r = pump(socket, session, framing, stdout, resize, || async {
                serde_json::json!({"metadata": {}, "status": "Success"})
            })
            .await;
            if let Err(e) = r {
                tracing::debug!(error = %e, "attach stream ended with error");
            }
        })
}

/// Move bytes between the WebSocket and the session until the process ends, then send the
/// final Status on the error channel and close.
async fn pump<R, RF, F, FF>(
    socket: WebSocket,
    mut session: StreamSession,
    framing: Framing,
    stdout_wanted: bool,
    resize: R,
    finish: F,
) -> Result<(), axum::Error>
where
    R: Fn(u16, u16) -> RF + Send + 'static,
    RF: std::future::Future<Output = ()> + Send,
    F: FnOnce() -> FF,
    FF: std::future::Future<Output = serde_json::Value>,
{
    let (mut tx, mut rx) = socket.split();
    // Upstream signals readiness with an empty frame on the lowest writable channel.
    tx.send(framing.frame(if stdout_wanted { STDOUT } else { ERROR }, &[]))
        .await?;
    let mut input = session.input.take();
    let reader = async move {
        while let Some(msg) = rx.next().await {
            let msg = match msg {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(msg) => msg,
            };
            let Some((channel, payload)) = framing.parse(msg) else {
                continue;
            };
            let payload = &payload[..];
            match channel {
                STDIN => {
                    if let Some(w) = input.as_mut() {
                        if w.write_all(payload).await.is_err() || w.flush().await.is_err() {
                            input = None;
                        }
                    }
                }
                RESIZE => {
                    if let Some((w, h)) = parse_resize(payload) {
                        resize(w, h).await;
                    }
                }
                CLOSE if framing.close_signal && payload.first() == Some(&STDIN) => {
                    if let Some(mut w) = input.take() {
                        let _ = w.shutdown().await;
                    }
                }
                _ => {}
            }
        }
        // Client went away: close stdin so the process sees EOF.
        if let Some(mut w) = input.take() {
            let _ = w.shutdown().await;
        }
    };
    let reader = tokio::spawn(reader);
    while let Some(chunk) = session.output.next().await {
        let Ok(chunk) = chunk else { break };
        let channel = match chunk.kind {
            OutputKind::Stdout => STDOUT,
            OutputKind::Stderr => STDERR,
        };
        if tx.send(framing.frame(channel, &chunk.data)).await.is_err() {
            reader.abort();
            return Ok(());
        }
    }
    let status = finish().await;
    if let Some(report) = framing.final_status(&status) {
        tx.send(framing.frame(ERROR, &report)).await?;
    }
    // A normal-closure code: client-go reads any other close (even one without a code) as an
    // error and reports "error reading from error stream" instead of the command's status.
    let _ = tx
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
    reader.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_matches_upstream_shape() {
        let ok = exit_status(0, &["true".into()]);
        assert_eq!(ok.to_string(), r#"{"metadata":{},"status":"Success"}"#);
        let bad = exit_status(3, &["sh".into(), "-c".into(), "exit 3".into()]);
        assert_eq!(bad["reason"], "NonZeroExitCode");
        assert_eq!(bad["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(bad["details"]["causes"][0]["message"], "3");
    }

    #[test]
    fn resize_messages_parse() {
        assert_eq!(
            parse_resize(br#"{"Width":120,"Height":40}"#),
            Some((120, 40))
        );
        assert_eq!(parse_resize(b"nope"), None);
    }
}
