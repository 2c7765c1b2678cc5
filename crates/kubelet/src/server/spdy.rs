//! Just enough SPDY/3.1 to serve Kubernetes port-forwarding: frame codec and the zlib header
//! compression with SPDY's preset dictionary.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use crate::error::{KubeletError, Result};

/// Data frame flag: last frame of the stream in this direction.
pub const FLAG_FIN: u8 = 0x01;

/// Control frame types used here.
pub mod kind {
    /// Open a stream.
    pub const SYN_STREAM: u16 = 1;
    /// Accept a stream.
    pub const SYN_REPLY: u16 = 2;
    /// Abort a stream.
    pub const RST_STREAM: u16 = 3;
    /// Connection settings.
    pub const SETTINGS: u16 = 4;
    /// Liveness check.
    pub const PING: u16 = 6;
    /// Connection shutdown.
    pub const GOAWAY: u16 = 7;
    /// Extra headers.
    pub const HEADERS: u16 = 8;
    /// Flow control.
    pub const WINDOW_UPDATE: u16 = 9;
}

/// Header names of SPDY/3's compression dictionary (each stored with a 4-byte length prefix).
const DICT_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// Literal tail of SPDY/3's compression dictionary.
const DICT_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized",
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable",
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The SPDY/3 header compression dictionary.
pub fn dictionary() -> Vec<u8> {
    let mut d = Vec::with_capacity(1424);
    for w in DICT_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICT_TAIL.as_bytes());
    d
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Stream data.
    Data {
        /// Stream.
        stream_id: u32,
        /// Flags (FIN).
        flags: u8,
        /// Payload.
        data: Bytes,
    },
    /// A control frame (payload still raw).
    Control {
        /// Frame type.
        kind: u16,
        /// Flags.
        flags: u8,
        /// Payload.
        payload: Bytes,
    },
}

/// Try to cut one frame off the front of `buf`; `None` until a whole frame is buffered.
pub fn parse_frame(buf: &mut BytesMut) -> Result<Option<Frame>> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
    if len > 16 * 1024 * 1024 {
        return Err(KubeletError::Protocol(format!("SPDY frame of {len} bytes")));
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let head = buf.split_to(8);
    let payload = buf.split_to(len).freeze();
    let flags = head[4];
    if head[0] & 0x80 != 0 {
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != 3 {
            return Err(KubeletError::Protocol(format!(
                "unsupported SPDY version {version}"
            )));
        }
        Ok(Some(Frame::Control {
            kind: u16::from_be_bytes([head[2], head[3]]),
            flags,
            payload,
        }))
    } else {
        let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
        Ok(Some(Frame::Data {
            stream_id,
            flags,
            data: payload,
        }))
    }
}

/// Encode a data frame.
pub fn data_frame(stream_id: u32, flags: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + data.len());
    b.put_u32(stream_id & 0x7fff_ffff);
    b.put_u8(flags);
    b.put_uint(data.len() as u64, 3);
    b.put_slice(data);
    b.freeze()
}

/// Encode a control frame.
pub fn control_frame(kind: u16, flags: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + payload.len());
    b.put_u16(0x8000 | 3);
    b.put_u16(kind);
    b.put_u8(flags);
    b.put_uint(payload.len() as u64, 3);
    b.put_slice(payload);
    b.freeze()
}

/// Encode RST_STREAM.
pub fn rst_stream(stream_id: u32, status: u32) -> Bytes {
    let mut p = BytesMut::with_capacity(8);
    p.put_u32(stream_id);
    p.put_u32(status);
    control_frame(kind::RST_STREAM, 0, &p)
}

/// The shared header (de)compression state of one connection in one direction each.
pub struct HeaderCodec {
    inflate: Decompress,
    deflate: Compress,
    dict: Vec<u8>,
    deflate_started: bool,
}

impl Default for HeaderCodec {
    fn default() -> Self {
        Self {
            inflate: Decompress::new(true),
            deflate: Compress::new(Compression::default(), true),
            dict: dictionary(),
            deflate_started: false,
        }
    }
}

impl std::fmt::Debug for HeaderCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderCodec")
    }
}

fn zerr(e: impl std::fmt::Display) -> KubeletError {
    KubeletError::Protocol(format!("SPDY header compression: {e}"))
}

impl HeaderCodec {
    /// Decompress a header block into (name, value) pairs.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut input = block;
        let mut buf = [0u8; 4096];
        loop {
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let r = self
                .inflate
                .decompress(input, &mut buf, FlushDecompress::Sync);
            let consumed = (self.inflate.total_in() - in0) as usize;
            let produced = (self.inflate.total_out() - out0) as usize;
            input = &input[consumed..];
            out.extend_from_slice(&buf[..produced]);
            match r {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(&self.dict).map_err(zerr)?;
                    continue;
                }
                Err(e) => return Err(zerr(e)),
            }
            if out.len() > 1024 * 1024 {
                return Err(zerr("header block too large"));
            }
            if (input.is_empty() && produced < buf.len()) || (consumed == 0 && produced == 0) {
                break;
            }
        }
        parse_header_block(&out)
    }

    /// Compress (name, value) pairs into a header block.
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Result<Vec<u8>> {
        if !self.deflate_started {
            self.deflate.set_dictionary(&self.dict).map_err(zerr)?;
            self.deflate_started = true;
        }
        let mut raw = BytesMut::new();
        raw.put_u32(headers.len() as u32);
        for (k, v) in headers {
            raw.put_u32(k.len() as u32);
            raw.put_slice(k.as_bytes());
            raw.put_u32(v.len() as u32);
            raw.put_slice(v.as_bytes());
        }
        let mut out = Vec::new();
        let mut input: &[u8] = &raw;
        let mut buf = [0u8; 4096];
        loop {
            let (in0, out0) = (self.deflate.total_in(), self.deflate.total_out());
            self.deflate
                .compress(input, &mut buf, FlushCompress::Sync)
                .map_err(zerr)?;
            let consumed = (self.deflate.total_in() - in0) as usize;
            let produced = (self.deflate.total_out() - out0) as usize;
            input = &input[consumed..];
            out.extend_from_slice(&buf[..produced]);
            // The sync flush is complete once input is drained and the buffer was not filled.
            if input.is_empty() && produced < buf.len() {
                break;
            }
        }
        Ok(out)
    }
}

/// Parse an uncompressed SPDY/3 header block.
pub fn parse_header_block(raw: &[u8]) -> Result<Vec<(String, String)>> {
    let mut b = raw;
    let short = || KubeletError::Protocol("truncated SPDY header block".into());
    if b.remaining() < 4 {
        return Err(short());
    }
    let n = b.get_u32();
    let mut out = Vec::new();
    for _ in 0..n {
        if b.remaining() < 4 {
            return Err(short());
        }
        let kl = b.get_u32() as usize;
        if b.remaining() < kl + 4 {
            return Err(short());
        }
        let k = String::from_utf8_lossy(&b[..kl]).to_ascii_lowercase();
        b.advance(kl);
        let vl = b.get_u32() as usize;
        if b.remaining() < vl {
            return Err(short());
        }
        // Several values are NUL-separated.
        for v in b[..vl].split(|c| *c == 0) {
            out.push((k.clone(), String::from_utf8_lossy(v).into_owned()));
        }
        b.advance(vl);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_matches_spec_size_and_checksum() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\x00\x00\x00\x07options");
        assert!(d.ends_with(b"enq=0."));
    }

    #[test]
    fn headers_round_trip_across_frames() {
        // The two directions use one continuous zlib stream each, like a real connection.
        let mut client = HeaderCodec::default();
        let mut server = HeaderCodec::default();
        for port in ["8080", "9090"] {
            let block = client
                .encode(&[("streamtype", "data"), ("port", port), ("requestid", "0")])
                .expect("encode");
            let headers = server.decode(&block).expect("decode");
            assert!(headers.contains(&("port".to_string(), port.to_string())));
            assert!(headers.contains(&("streamtype".to_string(), "data".to_string())));
        }
        let empty = server.encode(&[]).expect("encode");
        assert!(client.decode(&empty).expect("decode").is_empty());
    }

    #[test]
    fn frames_encode_and_parse() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&data_frame(3, FLAG_FIN, b"hello"));
        buf.extend_from_slice(&control_frame(kind::PING, 0, &7u32.to_be_bytes()));
        buf.extend_from_slice(&rst_stream(5, 1)[..4]);
        assert_eq!(
            parse_frame(&mut buf).expect("ok"),
            Some(Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hello")
            })
        );
        assert!(matches!(
            parse_frame(&mut buf).expect("ok"),
            Some(Frame::Control {
                kind: kind::PING,
                ..
            })
        ));
        assert_eq!(
            parse_frame(&mut buf).expect("ok"),
            None,
            "partial frame waits for more bytes"
        );
        let mut bad = BytesMut::from(&control_frame(kind::PING, 0, &[0; 4])[..]);
        bad[1] = 2;
        assert!(parse_frame(&mut bad).is_err());
        assert!(parse_header_block(&[0, 0, 0, 1, 0, 0]).is_err());
    }
}
