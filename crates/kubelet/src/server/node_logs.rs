//! `/logs/`: the node's log directory, as upstream's kubelet serves it (Go's `http.FileServer`
//! over `/var/log`): a directory answers with the same bare HTML listing, a file with its bytes,
//! streamed. Reached through `nodes/proxy` (`kubectl get --raw
//! /api/v1/nodes/NODE/proxy/logs/`) and authorized as the `nodes/log` subresource. Only what
//! lies under the root is served: `..` and symlinks that lead out are not found.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::Path as UrlPath;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

/// Upstream's system log directory.
pub const LOG_ROOT: &str = "/var/log";

/// `GET /logs/`.
pub async fn root() -> Response {
    serve(Path::new(LOG_ROOT), "").await
}

/// `GET /logs/{*path}`.
pub async fn entry(UrlPath(path): UrlPath<String>) -> Response {
    serve(Path::new(LOG_ROOT), &path).await
}

/// Go's `http.NotFound`.
fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

/// The file or directory `rel` (as the URL named it) under `root`.
pub async fn serve(root: &Path, rel: &str) -> Response {
    let Some(path) = resolve(root, rel).await else {
        return not_found();
    };
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return not_found();
    };
    if !meta.is_dir() {
        return file(&path).await;
    }
    if !rel.is_empty() && !rel.ends_with('/') {
        // Go's FileServer sends a directory named without its slash to the slashed name, so
        // that the listing's relative links resolve inside it.
        let last = rel.rsplit('/').next().unwrap_or(rel);
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, format!("{last}/"))],
        )
            .into_response();
    }
    listing(&path).await
}

/// The canonical path of `rel` under `root`, if it names something that stays inside.
async fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let root = tokio::fs::canonicalize(root).await.ok()?;
    let path = tokio::fs::canonicalize(root.join(rel)).await.ok()?;
    path.starts_with(&root).then_some(path)
}

async fn file(path: &Path) -> Response {
    let Ok(f) = tokio::fs::File::open(path).await else {
        return not_found();
    };
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => "application/gzip",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    };
    (
        [(header::CONTENT_TYPE, kind)],
        Body::from_stream(ReaderStream::new(f)),
    )
        .into_response()
}

/// Go's `dirList`: one link per entry, sorted by name, directories with a trailing slash.
async fn listing(dir: &Path) -> Response {
    let Ok(mut read) = tokio::fs::read_dir(dir).await else {
        return not_found();
    };
    let mut names = Vec::new();
    while let Ok(Some(entry)) = read.next_entry().await {
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    let mut page = String::from(
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for name in names {
        let href: String = form_urlencoded::byte_serialize(name.as_bytes())
            .collect::<String>()
            .replace("%2F", "/")
            .replace('+', "%20");
        page.push_str(&format!("<a href=\"{href}\">{}</a>\n", html_escape(&name)));
    }
    page.push_str("</pre>\n");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(resp: Response) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn lists_directories_serves_files_and_stays_inside() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("log");
        std::fs::create_dir_all(root.join("apt")).unwrap();
        std::fs::write(root.join("syslog"), "line one\n").unwrap();
        std::fs::write(root.join("a<b>.log"), "x").unwrap();
        std::fs::write(outer.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), root.join("escape")).unwrap();

        let page = body(serve(&root, "").await).await;
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(page.contains("<a href=\"apt/\">apt/</a>"), "{page}");
        assert!(page.contains("<a href=\"syslog\">syslog</a>"), "{page}");
        assert!(page.contains("a&lt;b&gt;.log"), "{page}");
        assert_eq!(body(serve(&root, "syslog").await).await, "line one\n");
        let moved = serve(&root, "apt").await;
        assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(moved.headers()[header::LOCATION], "apt/");
        for outside in ["../secret", "escape", "apt/../../secret", "missing"] {
            assert_eq!(
                serve(&root, outside).await.status(),
                StatusCode::NOT_FOUND,
                "{outside}"
            );
        }
    }
}
