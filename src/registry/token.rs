//! POST serviceaccounts/{name}/token (TokenRequest, authentication.k8s.io/v1), as upstream's
//! `TokenREST`: validates the request, resolves the bound pod/secret (and the pod's node), and
//! answers with a JWT signed by the service-account key plus its expiration time.

use ferrokube_auth::{ObjectRef, ServiceAccountTokens, TokenGrant};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::subresource::{Action, ActionOutcome};
use super::Registry;
use crate::status::{ApiError, ApiResult, Cause};

/// Upstream `MinTokenAgeSec`: tokens live at least 10 minutes.
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Upstream `MaxTokenAgeSec`: 2^32 seconds.
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// v1 default of `spec.expirationSeconds`.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The lifetime kubelets ask for in projected volumes (`WarnOnlyBoundTokenExpirationSeconds`).
/// Such pod-bound API tokens are extended to a year with a `warnafter` claim (upstream's
/// `--service-account-extend-token-expiration`, on by default) so pods that never re-read the
/// file keep working; the reported expiration stays at the requested one, so kubelets still
/// refresh on time.
const KUBELET_EXPIRATION_SECONDS: i64 = 3607;
const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 60 * 60;

fn invalid(name: &str, field: &str, message: String, reason: &str) -> ApiError {
    ApiError::invalid(
        "authentication.k8s.io",
        "TokenRequest",
        name,
        vec![Cause {
            reason: reason.into(),
            message,
            field: field.into(),
        }],
    )
}

/// Reads a stored object as JSON (404 as upstream names it when missing).
async fn get_object(
    registry: &Registry,
    resource: &str,
    ns: Option<&str>,
    name: &str,
) -> ApiResult<Value> {
    let d = registry
        .lookup("", "v1", resource)
        .ok_or_else(ApiError::not_found_path)?;
    let kv = registry.get(&d, ns, name).await?;
    crate::registry::rest::parse(&kv)
}

fn object_ref(obj: &Value) -> ObjectRef {
    let field = |f: &str| {
        obj.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    ObjectRef {
        name: field("name"),
        uid: field("uid"),
    }
}

/// `serviceaccounts/token`.
pub fn token_action(a: Action<'_>) -> BoxFuture<'_, ApiResult<ActionOutcome>> {
    Box::pin(async move {
        let issuer = a.tokens.ok_or_else(ApiError::not_found_path)?;
        let ns = a.namespace.unwrap_or_default();
        let restriction = super::admission::node_restriction::check_token_request(
            a.registry, a.user, ns, a.name, &a.body,
        );
        restriction.await?;
        let token = create(a.registry, issuer, a.namespace, a.name, a.body).await?;
        Ok(ActionOutcome::Object(201, token))
    })
}

/// Handles `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the TokenRequest
/// answered, as JSON.
async fn create(
    registry: &Registry,
    issuer: &ServiceAccountTokens,
    ns: Option<&str>,
    name: &str,
    mut req: Value,
) -> ApiResult<bytes::Bytes> {
    let namespace = ns.ok_or_else(ApiError::not_found_path)?;
    if !req.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was not an object",
        ));
    }
    for (field, want, what) in [
        ("name", name, "service account name"),
        ("namespace", namespace, "service account namespace"),
    ] {
        let given = req
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !given.is_empty() && given != want {
            return Err(invalid(
                name,
                &format!("metadata.{field}"),
                format!("Invalid value: {given:?}: must match the {what} if specified"),
                "FieldValueInvalid",
            ));
        }
    }
    let sa = get_object(registry, "serviceaccounts", Some(namespace), name).await?;
    let now = chrono::Utc::now();
    let spec = req.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences = issuer.api_audiences().to_vec();
    }
    let expiration_seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            format!(
                "Invalid value: {expiration_seconds}: may not specify a duration less than 10 minutes"
            ),
            "FieldValueInvalid",
        ));
    }
    if expiration_seconds > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            "",
            "spec.expirationSeconds",
            "Too long: may not specify a duration larger than 2^32 seconds".into(),
            "FieldValueTooLong",
        ));
    }
    let mut grant = TokenGrant {
        namespace: namespace.to_string(),
        service_account: object_ref(&sa),
        audiences: audiences.clone(),
        expiration_seconds,
        ..TokenGrant::default()
    };
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        bind(registry, namespace, name, bound, &mut grant).await?;
    }
    if grant.pod.is_some()
        && expiration_seconds == KUBELET_EXPIRATION_SECONDS
        && audiences.as_slice() == issuer.api_audiences()
    {
        grant.warn_after = Some(expiration_seconds);
        grant.expiration_seconds = EXTENDED_EXPIRATION_SECONDS;
    }
    let issued = sign(issuer, &grant, now.timestamp())?;
    let expires = now + chrono::Duration::seconds(expiration_seconds);
    let metadata = req
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = metadata {
        meta.insert("name".into(), json!(name));
        meta.insert("namespace".into(), json!(namespace));
        meta.insert(
            "creationTimestamp".into(),
            json!(now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
    }
    req["apiVersion"] = json!("authentication.k8s.io/v1");
    req["kind"] = json!("TokenRequest");
    req["spec"]["audiences"] = json!(audiences);
    req["spec"]["expirationSeconds"] = json!(expiration_seconds);
    req["status"] = json!({
        "token": issued,
        "expirationTimestamp": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    Ok(bytes::Bytes::from(
        serde_json::to_vec(&req).unwrap_or_default(),
    ))
}

fn sign(issuer: &ServiceAccountTokens, grant: &TokenGrant, now: i64) -> ApiResult<String> {
    issuer
        .issue(grant, now)
        .map(|t| t.token)
        .map_err(|e| ApiError::internal(format!("failed to build token: {e}")))
}

/// Resolves `spec.boundObjectRef` (Pod, Secret) as upstream does: the object must exist in the
/// namespace, carry the given uid, and a pod must run as this service account.
async fn bind(
    registry: &Registry,
    namespace: &str,
    service_account: &str,
    bound: &Value,
    grant: &mut TokenGrant,
) -> ApiResult<()> {
    let field = |f: &str| bound.get(f).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind, name, uid) = (
        field("apiVersion"),
        field("kind"),
        field("name"),
        field("uid"),
    );
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let obj = match (group, kind) {
        ("", "Pod") => {
            let pod = get_object(registry, "pods", Some(namespace), name).await?;
            let runs_as = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if runs_as != service_account {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount {service_account:?} to pod running with different serviceaccount name."
                )));
            }
            // Upstream (ServiceAccountTokenPodNodeInfo) also names the pod's node in the token.
            let node = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty());
            if let Some(node) = node {
                if let Ok(n) = get_object(registry, "nodes", None, node).await {
                    grant.node = Some(object_ref(&n));
                }
            }
            grant.pod = Some(object_ref(&pod));
            pod
        }
        ("", "Secret") => {
            let secret = get_object(registry, "secrets", Some(namespace), name).await?;
            grant.secret = Some(object_ref(&secret));
            secret
        }
        _ => {
            let gvk = if group.is_empty() {
                format!("/{api_version}, Kind={kind}")
            } else {
                format!("{api_version}, Kind={kind}")
            };
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {gvk}"
            )));
        }
    };
    let actual = object_ref(&obj).uid;
    if !uid.is_empty() && uid != actual {
        return Err(ApiError::conflict(
            "",
            kind,
            name,
            &format!("the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"),
        ));
    }
    Ok(())
}
