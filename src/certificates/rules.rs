//! Which requests each built-in signer will sign (upstream `pkg/controller/certificates/signer`
//! and the `certificates` API helpers): a request that names one of these signers but does not
//! fit it gets a `Failed` condition with these messages.

use std::time::Duration;

use ferrokube_auth::signer::Usage;
use rcgen::{CertificateSigningRequestParams, DnType, DnValue, SanType};

/// `kubernetes.io/kube-apiserver-client`: any subject, client usages.
pub const API_SERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// `kubernetes.io/kube-apiserver-client-kubelet`: node client certificates.
pub const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// `kubernetes.io/kubelet-serving`: node serving certificates.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";

/// The longest certificate a signer issues by default (upstream's `--cluster-signing-duration`
/// default, one year).
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Whether we sign for `signer` at all (others are left for another signer, as upstream).
pub fn is_ours(signer: &str) -> bool {
    [API_SERVER_CLIENT, KUBELET_CLIENT, KUBELET_SERVING].contains(&signer)
}

/// The certificate's lifetime: the request's `expirationSeconds` up to `max` (the server's
/// `--cluster-signing-duration`).
pub fn ttl(expiration_seconds: Option<i64>, max: Duration) -> Duration {
    expiration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map(|s| Duration::from_secs(s).min(max))
        .unwrap_or(max)
}

/// A distinguished-name value as text.
pub fn dn_text(v: &DnValue) -> String {
    match v {
        DnValue::Utf8String(s) => s.clone(),
        DnValue::PrintableString(s) => s.as_str().to_string(),
        DnValue::Ia5String(s) => s.as_str().to_string(),
        other => format!("{other:?}"),
    }
}

fn subject(csr: &CertificateSigningRequestParams, ty: DnType) -> Vec<String> {
    csr.params
        .distinguished_name
        .iter()
        .filter(|(t, _)| **t == ty)
        .map(|(_, v)| dn_text(v))
        .collect()
}

/// Checks the request against the signer's policy; the usages to issue, or upstream's reason
/// for refusing.
pub fn check(
    signer: &str,
    csr: &CertificateSigningRequestParams,
    usages: &[String],
) -> Result<Vec<Usage>, String> {
    match signer {
        API_SERVER_CLIENT => api_server_client_usages(usages),
        KUBELET_CLIENT => node_subject(csr, false).and_then(|_| {
            exact_usages(
                usages,
                &["client auth", "digital signature", "key encipherment"],
            )
        }),
        _ => node_subject(csr, true).and_then(|_| {
            exact_usages(
                usages,
                &["digital signature", "key encipherment", "server auth"],
            )
        }),
    }
}

fn api_server_client_usages(usages: &[String]) -> Result<Vec<Usage>, String> {
    let mut client_auth = false;
    for u in usages {
        match u.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => client_auth = true,
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    if !client_auth {
        return Err("invalid usage for client certificate: missing required client auth".into());
    }
    Ok(usages.iter().filter_map(|u| Usage::parse(u)).collect())
}

/// Upstream accepts the full set, or the set without `key encipherment` (non-RSA keys).
fn exact_usages(usages: &[String], full: &[&str]) -> Result<Vec<Usage>, String> {
    let mut got: Vec<&str> = usages.iter().map(String::as_str).collect();
    got.sort_unstable();
    got.dedup();
    let no_rsa: Vec<&str> = full
        .iter()
        .copied()
        .filter(|u| *u != "key encipherment")
        .collect();
    if got != full && got != no_rsa {
        return Err(format!("usages did not match [{}]", full.join(" ")));
    }
    Ok(got.into_iter().filter_map(Usage::parse).collect())
}

/// `system:nodes` / `system:node:<name>` subjects; serving certificates need a DNS or IP name
/// and client certificates may have none.
fn node_subject(csr: &CertificateSigningRequestParams, serving: bool) -> Result<(), String> {
    if subject(csr, DnType::OrganizationName) != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    let sans = &csr.params.subject_alt_names;
    let has = |f: fn(&SanType) -> bool| sans.iter().any(f);
    let dns = has(|s| matches!(s, SanType::DnsName(_)));
    let ip = has(|s| matches!(s, SanType::IpAddress(_)));
    if serving && !dns && !ip {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if !serving && dns {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if has(|s| matches!(s, SanType::Rfc822Name(_))) {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !serving && ip {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if has(|s| matches!(s, SanType::URI(_))) {
        return Err("URI subjectAltNames are not allowed".into());
    }
    let cn = subject(csr, DnType::CommonName);
    if !cn.first().is_some_and(|c| c.starts_with("system:node:")) {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}
