//! An HTML page's `Content-Encoding` around link rewriting: decoded, rewritten, encoded the
//! same way again (upstream rewrites `gzip` and `deflate` pages and none other). A page that
//! is not UTF-8 is passed through unchanged, as there is no safe way to edit it as text.

use std::io::{Read, Write};

use flate2::read::{DeflateDecoder, GzDecoder};
use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;

/// Applies `rewrite` to the page under its `encoding` (`""`, `gzip` or `deflate`).
pub fn rewrite_encoded(
    page: &[u8],
    encoding: &str,
    rewrite: impl FnOnce(&str) -> String,
) -> std::io::Result<Vec<u8>> {
    let plain = match encoding {
        "gzip" => read_all(GzDecoder::new(page))?,
        "deflate" => read_all(DeflateDecoder::new(page))?,
        _ => page.to_vec(),
    };
    let Ok(text) = std::str::from_utf8(&plain) else {
        return Ok(page.to_vec());
    };
    let rewritten = rewrite(text);
    match encoding {
        "gzip" => {
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(rewritten.as_bytes())?;
            enc.finish()
        }
        "deflate" => {
            let mut enc = DeflateEncoder::new(Vec::new(), Compression::best());
            enc.write_all(rewritten.as_bytes())?;
            enc.finish()
        }
        _ => Ok(rewritten.into_bytes()),
    }
}

fn read_all(mut r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_pages_round_trip() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(b"<a href=\"/x\">").expect("write");
        let page = enc.finish().expect("gzip");
        let out = rewrite_encoded(&page, "gzip", |t| t.replace("/x", "/p/x")).expect("rewrite");
        let back = read_all(GzDecoder::new(&out[..])).expect("gunzip");
        assert_eq!(back, b"<a href=\"/p/x\">");
        assert!(rewrite_encoded(b"\xff\xfe", "", |_| unreachable!()).is_ok());
        assert!(rewrite_encoded(b"not gzip", "gzip", |t| t.into()).is_err());
    }
}
