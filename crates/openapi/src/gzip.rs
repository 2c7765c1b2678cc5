//! gzip for the documents, as kube-apiserver's response compression gives them: a client that
//! accepts gzip gets a body of 128 KiB or more compressed at level 1 (upstream's threshold and
//! level). The v2 document is megabytes and immutable until the served kinds change, so each
//! compressed form is made once, on first demand, and kept with the documents.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use axum::http::{header, HeaderMap};
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;

/// Bodies smaller than this go out as they are.
const THRESHOLD: usize = 128 * 1024;

/// Whether `Accept-Encoding` admits gzip (`gzip` or `*` with a non-zero quality).
pub(crate) fn accepted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name == "gzip" || name == "*") && !refused
        })
}

/// The gzip forms made so far, keyed by the caller's name for a body (content hash + media).
#[derive(Default)]
pub(crate) struct Cache {
    made: Mutex<HashMap<String, Bytes>>,
}

impl Cache {
    /// The compressed form of `body` when it is worth compressing, else `None`.
    pub(crate) fn get(&self, key: &str, body: &Bytes) -> Option<Bytes> {
        if body.len() < THRESHOLD {
            return None;
        }
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = made.get(key) {
            return Some(done.clone());
        }
        let compressed = compress(body)?;
        made.insert(key.to_string(), compressed.clone());
        Some(compressed)
    }
}

fn compress(body: &[u8]) -> Option<Bytes> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Read;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn accept_encoding_forms() {
        assert!(accepted(&with("gzip")));
        assert!(accepted(&with("deflate, gzip;q=0.5")));
        assert!(accepted(&with("*")));
        assert!(!accepted(&with("gzip;q=0")));
        assert!(!accepted(&with("br")));
        assert!(!accepted(&HeaderMap::new()));
    }

    #[test]
    fn large_bodies_compress_once_and_round_trip() {
        let cache = Cache::default();
        let small = Bytes::from_static(b"{}");
        assert!(cache.get("s", &small).is_none());
        let big = Bytes::from(vec![b'a'; THRESHOLD]);
        let gz = cache.get("b", &big).expect("compressed");
        assert!(gz.len() < big.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, big);
        assert_eq!(cache.get("b", &big), Some(gz));
    }
}
