//! `pods/log` over WebSocket, as upstream's apiserver serves any streamed response to a
//! WebSocket request (`wsstream.NewReader`): each chunk of the log is one message, raw bytes
//! with `binary.k8s.io` (or no subprotocol) and base64 text with `base64.binary.k8s.io`; the
//! stream ends with a normal close.

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;

use crate::status::{ApiError, ApiResult};

/// Subprotocols of upstream's default stream reader, most preferred first.
const PROTOCOLS: [&str; 2] = ["binary.k8s.io", "base64.binary.k8s.io"];

/// Whether the request asks to switch to WebSocket.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    super::reverse_proxy::is_upgrade(headers)
        && headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Completes the WebSocket handshake and streams `body` over the socket.
pub async fn serve(
    headers: HeaderMap,
    uri: Uri,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    body: Body,
) -> ApiResult<Response> {
    let mut request = axum::http::Request::new(());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    if let Some(upgrade) = upgrade {
        request.extensions_mut().insert(upgrade);
    }
    let (mut parts, ()) = request.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    Ok(ws
        .protocols(PROTOCOLS)
        .on_upgrade(move |socket| pump(socket, body))
        .into_response())
}

async fn pump(mut socket: WebSocket, body: Body) {
    let base64 = socket
        .protocol()
        .is_some_and(|p| p.as_bytes() == PROTOCOLS[1].as_bytes());
    let mut chunks = body.into_data_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        let message = if base64 {
            Message::Text(
                base64::engine::general_purpose::STANDARD
                    .encode(&chunk)
                    .into(),
            )
        } else {
            Message::Binary(chunk)
        };
        if socket.send(message).await.is_err() {
            return;
        }
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}
