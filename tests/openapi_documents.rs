//! The committed OpenAPI documents under `openapi/` are exactly what the generator produces from
//! the kinds we serve (regenerate with `cargo run -- gen-openapi openapi`).

mod support;

use std::path::Path;

#[test]
fn committed_documents_match_the_served_kinds() {
    let generated = ferrokube::openapi::generate().expect("generate");
    let committed = ferrokube_openapi::Documents::load_from(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi"),
    )
    .expect("load committed documents");
    assert!(
        generated == committed,
        "openapi/ is stale: run `cargo run -- gen-openapi openapi` and commit the result"
    );
    // Every served kind appears with its group-version-kind in its group-version's v3 document.
    for kind in ferrokube::registry::kinds::builtin_kinds() {
        let gv = ferrokube_openapi::group_version_path(&kind.group, &kind.version);
        let doc = generated
            .v3
            .get(&gv)
            .unwrap_or_else(|| panic!("no v3 document for {gv}"));
        let text = std::str::from_utf8(&doc.json).expect("utf8");
        let needle = format!("\"kind\":\"{}\"", kind.kind);
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(compact.contains(&needle), "{gv} lacks {}", kind.kind);
    }
}

/// The official Python client, generated from upstream's document, has a method with exactly
/// the arguments of every operation we document — subresources (exec, log, eviction, binding,
/// token, proxy with a path) included — and its subresource methods reach what they name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_methods_match_the_documented_operations() {
    let cluster = support::TestCluster::start().await;
    support::python_script(&cluster, "openapi_paths_client.py", &[]);
}
