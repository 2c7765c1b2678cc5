//! The WebSocket flavours of the remotecommand channel protocol (upstream `wsstream` and the
//! kubelet's `remotecommand/websocket.go`): every message carries a channel number and a
//! payload, binary (`[channel, bytes...]`) or base64 text (`"<digit><base64>"`); before v4 the
//! error channel carries only a failure's message, from v4 on it carries a Status JSON, and v5
//! adds the close-stream signal.

use axum::extract::ws::Message;
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};

/// Subprotocols served, most preferred first (the server picks among those the client offers).
pub const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];

/// How one negotiated subprotocol frames messages and reports the command's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// Text messages with an ASCII channel digit and base64 payload.
    pub base64: bool,
    /// The error channel carries a Status JSON, success included (v4+).
    pub json_status: bool,
    /// The client may half-close stdin with `[255, 0]` (v5).
    pub close_signal: bool,
}

impl Framing {
    /// The framing of a negotiated subprotocol; none negotiated is upstream's v1 binary.
    pub fn of(protocol: Option<&str>) -> Self {
        let protocol = protocol.unwrap_or("channel.k8s.io");
        Framing {
            base64: protocol.contains("base64"),
            json_status: protocol.starts_with("v4.") || protocol.starts_with("v5."),
            close_signal: protocol.starts_with("v5."),
        }
    }

    /// One message on `channel`.
    pub fn frame(self, channel: u8, data: &[u8]) -> Message {
        if self.base64 {
            let mut text = String::with_capacity(1 + data.len().div_ceil(3) * 4);
            text.push(char::from(b'0' + channel));
            base64::engine::general_purpose::STANDARD.encode_string(data, &mut text);
            return Message::Text(text.into());
        }
        let mut b = BytesMut::with_capacity(data.len() + 1);
        b.put_u8(channel);
        b.put_slice(data);
        Message::Binary(b.freeze())
    }

    /// The channel and payload of a client message; None for anything that is not a data
    /// message of this framing.
    pub fn parse(self, msg: Message) -> Option<(u8, Bytes)> {
        match msg {
            Message::Text(t) if self.base64 => {
                let (digit, rest) = t.as_str().split_at_checked(1)?;
                let channel = digit.as_bytes()[0].checked_sub(b'0')?;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()?;
                Some((channel, Bytes::from(data)))
            }
            Message::Binary(b) if !self.base64 => {
                let (&channel, _) = b.split_first()?;
                Some((channel, b.slice(1..)))
            }
            Message::Text(t) => {
                let b = Bytes::copy_from_slice(t.as_str().as_bytes());
                let (&channel, _) = b.split_first()?;
                Some((channel, b.slice(1..)))
            }
            _ => None,
        }
    }

    /// What the error channel says when the command ended with `status`: the Status itself
    /// (v4+), or before v4 only a failure's message and nothing on success.
    pub fn final_status(self, status: &serde_json::Value) -> Option<Vec<u8>> {
        if self.json_status {
            return Some(status.to_string().into_bytes());
        }
        (status["status"] != "Success").then(|| {
            status["message"]
                .as_str()
                .unwrap_or("command failed")
                .as_bytes()
                .to_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_and_base64_frames_round_trip() {
        let bin = Framing::of(Some("v4.channel.k8s.io"));
        assert_eq!(
            bin.frame(1, b"hi"),
            Message::Binary(Bytes::from_static(b"\x01hi"))
        );
        assert_eq!(
            bin.parse(Message::Binary(Bytes::from_static(b"\x00in"))),
            Some((0, Bytes::from_static(b"in")))
        );
        let b64 = Framing::of(Some("base64.channel.k8s.io"));
        assert_eq!(b64.frame(1, b"hi"), Message::Text("1aGk=".into()));
        assert_eq!(
            b64.parse(Message::Text("0aGk=".into())),
            Some((0, Bytes::from_static(b"hi")))
        );
        assert_eq!(b64.parse(Message::Text("0***".into())), None);
    }

    #[test]
    fn status_before_v4_is_only_a_failure_message() {
        let ok = json!({"metadata": {}, "status": "Success"});
        let bad = json!({"status": "Failure", "message": "exit code 3"});
        let v1 = Framing::of(Some("channel.k8s.io"));
        assert_eq!(v1.final_status(&ok), None);
        assert_eq!(v1.final_status(&bad).as_deref(), Some(&b"exit code 3"[..]));
        assert_eq!(Framing::of(None), v1);
        let v5 = Framing::of(Some("v5.channel.k8s.io"));
        assert!(v5.close_signal && v5.json_status && !v5.base64);
        assert_eq!(v5.final_status(&ok).unwrap(), ok.to_string().into_bytes());
    }
}
