//! The admin kubeconfig as real clients see it: kube-rs parses it and connects with it, and
//! stock kubectl reads it and talks to a TLS endpoint using it.

mod support;

use std::process::Command;

use ferrokube_auth::{Authenticator, Pki, PkiOptions};

fn setup(dir: &std::path::Path) -> Pki {
    let options = PkiOptions {
        tls_sans: vec![],
        server_url: "https://127.0.0.1:6443".into(),
    };
    Pki::load_or_create(dir, &options).expect("pki")
}

#[tokio::test]
async fn kube_rs_parses_and_connects_with_the_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = setup(dir.path());
    let tls = support::http11_only(&pki.server_tls_config());
    let (addr, mut outcomes) =
        support::serve(tls, Authenticator::from_pki(&pki).expect("auth")).await;

    let server_url = format!("https://{addr}");
    let path = pki.default_kubeconfig_path();
    pki.write_kubeconfig(&path, &server_url).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let yaml = std::fs::read_to_string(&path).expect("read");
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&yaml).expect("kube parses kubeconfig");
    assert_eq!(kubeconfig.current_context.as_deref(), Some("ferrokube"));

    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("kube config");
    assert_eq!(
        config.cluster_url.to_string().trim_end_matches('/'),
        server_url
    );
    let client = kube::Client::try_from(config).expect("client");
    let version = client.apiserver_version().await.expect("GET /version");
    assert_eq!(version.git_version, "v1.33.0");
    let user = outcomes
        .recv()
        .await
        .expect("outcome")
        .expect("authenticated");
    assert_eq!(user.name, "admin");
}

#[tokio::test]
async fn kubectl_reads_and_uses_the_kubeconfig() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not on PATH; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = setup(dir.path());
    let tls = support::http11_only(&pki.server_tls_config());
    let (addr, mut outcomes) =
        support::serve(tls, Authenticator::from_pki(&pki).expect("auth")).await;
    let path = pki.default_kubeconfig_path();
    let server_url = format!("https://{addr}");
    pki.write_kubeconfig(&path, &server_url).expect("write");

    let view = Command::new("kubectl")
        .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
        .arg(&path)
        .output()
        .expect("kubectl config view");
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    let view: serde_json::Value = serde_json::from_slice(&view.stdout).expect("json");
    assert_eq!(view["current-context"], "ferrokube");
    assert_eq!(
        view["clusters"][0]["cluster"]["server"],
        server_url.as_str()
    );
    assert!(view["users"][0]["user"]["client-key-data"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));

    // kubectl blocks, so run it off the runtime while the endpoint keeps serving.
    let kubectl = tokio::task::spawn_blocking(move || {
        Command::new("kubectl")
            .args(["get", "--raw", "/version", "--kubeconfig"])
            .arg(&path)
            .output()
    })
    .await
    .expect("join")
    .expect("kubectl get --raw");
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&kubectl.stdout).expect("json");
    assert_eq!(body["gitVersion"], "v1.33.0");
    let user = outcomes
        .recv()
        .await
        .expect("outcome")
        .expect("authenticated");
    assert_eq!(user.name, "admin");
}
