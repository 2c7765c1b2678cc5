//! Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the library crates' decoders of untrusted
//! input, in every test run: each target in `fuzz/` runs for a bounded time from seeds this test
//! makes with the real encoders (a pod in protobuf, a service-account JWT, a DNS query, selectors,
//! patches, CEL), and must find no crash. On stable Rust, so without a sanitizer (`-s none`):
//! libFuzzer still steers by coverage, and a panic is a crash. A crash leaves its input under
//! `fuzz/artifacts/<target>/`; replay it with `cargo fuzz run -s none <target> <file>` (in `fuzz/`).
//! `.ci/run` installs cargo-fuzz (`cargo install cargo-fuzz --locked`).
//!
//! `tests/decoder_fuzz.rs` also sends random bodies and patches through the whole registry.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrokube_dns::proto::op::{Message, Query};
use ferrokube_dns::proto::rr::{Name, RecordType};
use serde_json::json;

/// Every target, as `fuzz/Cargo.toml` names them.
const TARGETS: &[&str] = &[
    "selectors",
    "protobuf_body",
    "strategic_merge_patch",
    "dns_packet",
    "service_account_token",
    "cel_expression",
    "server_side_apply",
    "quantity",
    "request_body",
    "json_patch",
];

/// Seconds each target runs (`FERROKUBE_FUZZ_SECONDS` overrides).
const SECONDS_PER_TARGET: u64 = 15;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(fuzz_dir());
    c
}

fn seeds_of(target: &str) -> Vec<Vec<u8>> {
    let text = |items: &[&str]| items.iter().map(|s| s.as_bytes().to_vec()).collect();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}]}});
    match target {
        "selectors" => text(&[
            "app=web,tier!=db",
            "env in (a,b),!gone",
            "x notin (1),k",
            "metadata.name=a,spec.nodeName!=b",
            "a\\,b=c",
        ]),
        "protobuf_body" => vec![ferrokube_protobuf::encode(&pod).expect("encode pod")],
        "strategic_merge_patch" => text(&[
            r#"{"spec":{"containers":[{"name":"c","image":"x"}]}}"#,
            r#"{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}"#,
            r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}"#,
            r#"{"spec":{"$setElementOrder/containers":[{"name":"c"}],"tolerations":[{"$patch":"replace"}]}}"#,
            r#"{"spec":{"containers":[{"name":"c","env":[{"name":"A","$patch":"delete"}],"$retainKeys":["name"]}]}}"#,
        ]),
        "dns_packet" => ["web.default.svc.cluster.local.", "1.0.96.10.in-addr.arpa."]
            .iter()
            .zip([RecordType::A, RecordType::PTR])
            .map(|(name, ty)| {
                let mut m = Message::new();
                m.add_query(Query::query(Name::from_ascii(name).expect("name"), ty));
                m.to_vec().expect("encode query")
            })
            .collect(),
        "service_account_token" => vec![service_account_token().into_bytes()],
        "cel_expression" => text(&[
            "object.spec.replicas <= 5 && has(object.metadata.labels)",
            "object.metadata.name.startsWith('a') ? [1,2].all(x, x > 0) : 'x'.size() == 1",
            "{'a': 1}['a'] + int('3') > 2.0 || matches('ab', 'a+')",
            "object.spec.items.map(i, i * 2).exists(i, i == 4)",
        ]),
        // The first byte chooses: bit 0 force, bit 1 fuzz the live managedFields instead.
        "server_side_apply" => [
            (0u8, r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":5,"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#),
            (1, r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"tier":"x"}},"spec":{"template":{"spec":{"containers":[{"name":"d","image":"b","ports":[{"containerPort":81,"protocol":"UDP"}]}]}}}}"#),
            (2, r#"[{"manager":"kubectl","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{}}}}}}}}]"#),
        ]
        .iter()
        .map(|(flags, body)| [&[*flags][..], body.as_bytes()].concat())
        .collect(),
        "quantity" => text(&["100m", "1.5Gi", "2e-3", "-0.1n", "16Ei", "1E+2", ".5", "1e30"]),
        // The first byte picks the media type: JSON, YAML, merge patch, apply patch.
        "request_body" => [
            (0u8, pod.to_string()),
            (1, "kind: Pod\nmetadata:\n  name: p\n  name: q\nspec:\n  containers: [{name: c}]\n".into()),
            (2, r#"{"metadata":{"labels":{"a":"1","a":"2"}},"spec":{"containers":[{"name":"c","name":"d"}]}}"#.into()),
            (3, "apiVersion: v1\nkind: ConfigMap\ndata: {a: '1', b: \"2\"}\n".into()),
        ]
        .iter()
        .map(|(media, body)| [&[*media][..], body.as_bytes()].concat())
        .collect(),
        // The first byte picks: even a JSON patch, odd a merge patch.
        "json_patch" => [
            (0u8, r#"[{"op":"add","path":"/metadata/labels/b","value":"2"},{"op":"remove","path":"/metadata/finalizers/0"}]"#),
            (0, r#"[{"op":"test","path":"/spec/containers/0/name","value":"c"},{"op":"move","from":"/spec/containers/0/args","path":"/spec/args"},{"op":"copy","from":"/metadata/name","path":"/metadata/generateName"}]"#),
            (1, r#"{"metadata":{"labels":{"app":null,"tier":"db"}},"spec":{"containers":[{"name":"d"}]}}"#),
        ]
        .iter()
        .map(|(kind, body)| [&[*kind][..], body.as_bytes()].concat())
        .collect(),
        other => panic!("no seeds for {other}"),
    }
}

/// A well-formed token of a key the fuzz target does not know.
fn service_account_token() -> String {
    let (_dir, tokens) = support::tokens::issuer();
    support::tokens::issue(&tokens)
}

#[test]
fn fuzz_targets_find_no_crash() {
    let version = cargo().args(["fuzz", "--version"]).output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "cargo-fuzz is not installed (`cargo install cargo-fuzz --locked`; .ci/run does): {version:?}"
    );
    let seconds = std::env::var("FERROKUBE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS_PER_TARGET);
    let build = cargo()
        .args(["fuzz", "build", "-s", "none"])
        .output()
        .expect("cargo fuzz build");
    assert!(
        build.status.success(),
        "cargo fuzz build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let work = tempfile::tempdir().expect("temp dir");
    for target in TARGETS {
        let seeds = work.path().join("seeds").join(target);
        let corpus = work.path().join("corpus").join(target);
        std::fs::create_dir_all(&seeds).unwrap();
        std::fs::create_dir_all(&corpus).unwrap();
        for (i, seed) in seeds_of(target).iter().enumerate() {
            std::fs::write(seeds.join(format!("seed-{i}")), seed).unwrap();
        }
        let started = std::time::Instant::now();
        let run = cargo()
            .args(["fuzz", "run", "-s", "none", target])
            .arg(&corpus)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-timeout=10",
                "-rss_limit_mb=2048",
            ])
            .output()
            .expect("cargo fuzz run");
        let log = String::from_utf8_lossy(&run.stderr);
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        assert!(
            run.status.success(),
            "{target} crashed (input under fuzz/artifacts/{target}/):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        let done = log
            .lines()
            .rev()
            .find(|l| l.starts_with("Done "))
            .unwrap_or("");
        eprintln!("{target}: {done} ({:?})", started.elapsed());
        assert!(done.contains("runs"), "{target} did not run:\n{log}");
    }
}
