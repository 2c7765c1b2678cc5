//! CertificateSigningRequests' storage rules (upstream `pkg/registry/certificates` strategy,
//! validation and the `certificates/approval` admission plugin) as a storage hook: at create
//! the requester's identity is recorded in the spec; the spec never changes afterwards; the
//! request must be one PEM `CERTIFICATE REQUEST` with a valid self-signature; Approved and
//! Denied exclude each other; and adding either needs the `approve` verb on the `signers`
//! resource for the request's signer (named exactly or as `<domain>/*`).

use std::sync::Arc;

use base64::Engine;
use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::hooks::{HookContext, StorageHooks, TxnExtras};
use super::Registry;
use crate::rbac::Authorizer;
use crate::status::{ApiError, ApiResult, Cause};

/// The API group.
pub const GROUP: &str = "certificates.k8s.io";

/// The hook on CertificateSigningRequests.
pub struct CsrRules {
    authorizer: Arc<Authorizer>,
}

/// Installs the rules on CertificateSigningRequests.
pub fn install(registry: &Registry, authorizer: &Arc<Authorizer>) {
    let hook = Arc::new(CsrRules {
        authorizer: authorizer.clone(),
    });
    registry.add_hook(GROUP, "CertificateSigningRequest", hook);
}

/// The decoded `spec.request` (a PEM document) of a stored or proposed object.
pub fn request_pem(obj: &Value) -> Vec<u8> {
    obj.pointer("/spec/request")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_default()
}

/// Parses a request as upstream's `certificates.ParseCSR` + `CheckSignature` do.
pub fn parse_request(pem: &[u8]) -> Result<rcgen::CertificateSigningRequestParams, String> {
    let text = String::from_utf8_lossy(pem);
    let first_block = text
        .find("-----BEGIN ")
        .map(|at| &text[at + "-----BEGIN ".len()..]);
    if !first_block.is_some_and(|rest| rest.starts_with("CERTIFICATE REQUEST-----")) {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    rcgen::CertificateSigningRequestParams::from_pem(&text)
        .map_err(|e| format!("x509: malformed certificate request: {e}"))
}

/// Go's `%#v` of a byte slice, as upstream's field errors print `spec.request`.
fn go_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "[]byte(nil)".into();
    }
    let items: Vec<String> = bytes.iter().map(|b| format!("{b:#x}")).collect();
    format!("[]byte{{{}}}", items.join(", "))
}

fn condition_types(obj: &Value) -> Vec<String> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("type").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn validate(obj: &Value) -> ApiResult<()> {
    let mut causes = Vec::new();
    let pem = request_pem(obj);
    if let Err(detail) = parse_request(&pem) {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {detail}", go_bytes(&pem)),
            field: "spec.request".into(),
        });
    }
    let expiration = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64);
    if let Some(secs) = expiration.filter(|s| *s < 600) {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: {secs}: may not specify a duration less than 600 seconds (10 minutes)"
            ),
            field: "spec.expirationSeconds".into(),
        });
    }
    let types = condition_types(obj);
    if types.iter().any(|t| t == "Approved") && types.iter().any(|t| t == "Denied") {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message:
                "Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"
                    .into(),
            field: "status.conditions".into(),
        });
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(ApiError::invalid(
        GROUP,
        "CertificateSigningRequest",
        name,
        causes,
    ))
}

/// Upstream's create strategy: the requester's identity, no status.
fn record_requester(obj: &mut Value, user: &UserInfo) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("username".into(), json!(user.name));
        spec.remove("uid");
        if !user.uid.is_empty() {
            spec.insert("uid".into(), json!(user.uid));
        }
        spec.insert("groups".into(), json!(user.groups));
        spec.remove("extra");
        if !user.extra.is_empty() {
            spec.insert("extra".into(), json!(user.extra));
        }
    }
    if let Some(o) = obj.as_object_mut() {
        o.remove("status");
    }
}

impl CsrRules {
    /// The `certificates/approval` admission check: approving or denying needs `approve` on
    /// the signer.
    async fn check_approver(&self, ctx: &HookContext<'_>, obj: &Value) -> ApiResult<()> {
        let Some(user) = ctx.user else {
            return Ok(());
        };
        let signer = obj
            .pointer("/spec/signerName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let wildcard = signer
            .split_once('/')
            .map(|(domain, _)| format!("{domain}/*"));
        for name in std::iter::once(signer.to_string()).chain(wildcard) {
            let info = RequestInfo {
                resource_request: true,
                verb: "approve".into(),
                api_group: GROUP.into(),
                api_version: "*".into(),
                resource: "signers".into(),
                name,
                ..Default::default()
            };
            let store = &ctx.registry.store;
            if self
                .authorizer
                .authorize(store, user, &info)
                .await
                .is_allowed()
            {
                return Ok(());
            }
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        Err(ApiError::forbidden(format!(
            "certificatesigningrequests.certificates.k8s.io \"{name}\" is forbidden: user not permitted to approve requests with signerName \"{signer}\""
        )))
    }
}

impl StorageHooks for CsrRules {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            if let Some(user) = ctx.user {
                record_requester(obj, user);
            }
            validate(obj)
        })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        _txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            // The spec (and with it the recorded requester) is immutable.
            if let (Some(o), Some(spec)) = (new.as_object_mut(), old.get("spec")) {
                o.insert("spec".into(), spec.clone());
            }
            validate(new)?;
            let before = condition_types(old);
            let decided = |t: &String| t == "Approved" || t == "Denied";
            if condition_types(new)
                .iter()
                .any(|t| decided(t) && !before.contains(t))
            {
                self.check_approver(ctx, new).await?;
            }
            Ok(())
        })
    }
}
