//! Bounded random-input runs of every decoder that reads untrusted input, in every `cargo test`:
//! request bodies (JSON, YAML, protobuf), the four patch types applied to a pod, label and
//! field selectors, quantities, service-account JWTs and CEL expressions. Inputs are random
//! bytes and mutations (bit flips, insertions, deletions, truncations, splices) of valid
//! seeds, from a fixed seed so a failure reproduces; each decoder must answer Ok or an error,
//! never panic. This is not coverage-guided fuzzing (`tests/cargo_fuzz.rs` does that for the
//! library crates' decoders), but it reaches the server's own decoders in the main crate.

mod support;

use ferrokube::http::codec;
use ferrokube::registry::patch::apply_patch;
use ferrokube::registry::rest::Part;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const ROUNDS: usize = 20_000;

fn mutate(rng: &mut StdRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.random_ratio(1, 8) {
        let len = rng.random_range(0..256);
        return (0..len).map(|_| rng.random()).collect();
    }
    let mut b = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..5) {
        let at = if b.is_empty() {
            0
        } else {
            rng.random_range(0..b.len())
        };
        match rng.random_range(0..5) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.random_range(0..8),
            1 => b.insert(at, rng.random()),
            2 if !b.is_empty() => {
                b.remove(at);
            }
            3 => b.truncate(at),
            _ => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                b.splice(at..at, other[from..].iter().copied());
            }
        }
    }
    b
}

fn pod() -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "ports": [{"containerPort": 80}], "env": [{"name": "A", "value": "1"}]}]}})
}

#[test]
fn bodies_and_patches_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    let pod = pod();
    let json_seed = serde_json::to_vec(&pod).unwrap();
    let yaml_seed = serde_yaml_ng::to_string(&pod).unwrap().into_bytes();
    let proto_seed = ferrokube_protobuf::encode(&pod).unwrap();
    let seeds = vec![json_seed.clone(), yaml_seed, proto_seed];
    for _ in 0..ROUNDS {
        let body = mutate(&mut rng, &seeds);
        for ct in [
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ] {
            let _ = codec::decode_object(Some(ct), &body);
        }
    }
    let kinds = ferrokube::registry::kinds::builtin_kinds();
    let d = kinds
        .iter()
        .find(|d| d.kind == "Pod" && d.group.is_empty())
        .unwrap();
    let patch_seeds = vec![
        br#"[{"op":"replace","path":"/spec/containers/0/image","value":"x"},{"op":"add","path":"/metadata/labels/b","value":"2"}]"#.to_vec(),
        br#"{"metadata":{"labels":{"app":null,"x":"y"}},"spec":{"containers":[{"name":"c","image":"y"}]}}"#.to_vec(),
        br#"{"spec":{"containers":[{"name":"c","$patch":"delete"}],"$setElementOrder/containers":[{"name":"c"}]}}"#.to_vec(),
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: z\n".to_vec(),
    ];
    let types = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    for _ in 0..ROUNDS {
        let body = mutate(&mut rng, &patch_seeds);
        let ct = types[rng.random_range(0..types.len())];
        if let Ok(patch) = codec::decode_patch(Some(ct), &body, false) {
            let _ = apply_patch(d, &pod, &patch, Some("fuzz"), Part::Main);
        }
    }
}

#[test]
fn selectors_quantities_and_expressions_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    let text =
        |seeds: &[&str]| -> Vec<Vec<u8>> { seeds.iter().map(|s| s.as_bytes().to_vec()).collect() };
    let labels = text(&[
        "app=web,tier!=db",
        "env in (a,b),!gone",
        "x notin (1),k",
        "a.b/c==d",
    ]);
    let fields = text(&[
        "metadata.name=a,spec.nodeName!=b",
        "status.phase==Running",
        "a\\,b=c",
    ]);
    let quantities = text(&[
        "100m",
        "1.5Gi",
        "2e3",
        "-0.001",
        "12345678901234567890Ki",
        "1E",
    ]);
    let cel = text(&[
        "object.spec.replicas <= 5 && has(object.metadata.labels)",
        "object.metadata.name.startsWith('a') ? [1,2].all(x, x > 0) : 'x'.size() == 1",
        "{'a': 1}['a'] + int('3') > 2.0 || matches('ab', 'a+')",
    ]);
    let obj = json!({"spec": {"replicas": 3}, "metadata": {"name": "a", "labels": {}}});
    for _ in 0..ROUNDS {
        let s = String::from_utf8_lossy(&mutate(&mut rng, &labels)).into_owned();
        let _ = ferrokube_apimachinery::labels::Selector::parse(&s);
        let s = String::from_utf8_lossy(&mutate(&mut rng, &fields)).into_owned();
        let _ = ferrokube_apimachinery::fields::FieldSelector::parse(&s);
        let s = String::from_utf8_lossy(&mutate(&mut rng, &quantities)).into_owned();
        let _ = ferrokube_controllers::quota_usage::milli(&s);
        let s = String::from_utf8_lossy(&mutate(&mut rng, &cel)).into_owned();
        if let Ok(expr) = ferrokube_apiextensions::expression::Expression::compile(&s) {
            let mut b = ferrokube_apiextensions::expression::Bindings::default();
            b.bind_json("object", &obj).unwrap();
            let _ = b.eval(&expr);
        }
    }
}

#[test]
fn service_account_tokens_never_panic() {
    use ferrokube_auth::TokenAuthenticator;
    let (_dir, tokens) = support::tokens::issuer();
    let valid = support::tokens::issue(&tokens);
    assert!(tokens.authenticate_token(&valid).unwrap().is_some());
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    let seeds = vec![valid.into_bytes()];
    let mut accepted = 0;
    for _ in 0..ROUNDS {
        let t = String::from_utf8_lossy(&mutate(&mut rng, &seeds)).into_owned();
        if matches!(tokens.authenticate_token(&t), Ok(Some(_))) {
            accepted += 1;
        }
    }
    // A mutation may only be accepted if it did not change what was signed (e.g. base64
    // padding bits); a forged payload never is.
    assert!(accepted < ROUNDS / 10, "{accepted} mutated tokens accepted");
}
