//! Root-CA publisher: a `kube-root-ca.crt` ConfigMap holding the cluster CA under `ca.crt`
//! in every active namespace, restored when edited or deleted (upstream `rootcacertpublisher`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_conflict, Result};
use crate::serviceaccount::is_active;
use crate::util::{drain, on_error};
use crate::Context;

/// Name of the published ConfigMap.
pub const CONFIGMAP: &str = "kube-root-ca.crt";
/// Key holding the PEM bundle.
pub const KEY: &str = "ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Runs the publisher until `token` is cancelled; does nothing without a CA.
pub async fn run(ctx: Context, token: CancellationToken) {
    if ctx.cfg.ca_pem.is_empty() {
        return;
    }
    let ns: Api<Namespace> = Api::all(ctx.client.clone());
    let cms: Api<ConfigMap> = Api::all(ctx.client.clone());
    let stream = Controller::new(ns, watcher::Config::default())
        .watches(
            cms,
            watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP}")),
            |cm: ConfigMap| cm.namespace().map(|n| ObjectRef::new(&n)),
        )
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile, on_error, Arc::new(ctx));
    drain("root-ca-cert-publisher", stream).await;
}

/// The ConfigMap content for a CA bundle.
pub fn desired(namespace: &str, ca_pem: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIGMAP.into()),
            namespace: Some(namespace.into()),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/description".to_owned(),
                DESCRIPTION.to_owned(),
            )])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(KEY.to_owned(), ca_pem.to_owned())])),
        ..Default::default()
    }
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action> {
    if !is_active(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let want = desired(&name, &ctx.cfg.ca_pem);
    match api.get_opt(CONFIGMAP).await? {
        None => match api.create(&crate::util::post_params(), &want).await {
            Ok(_) => {}
            Err(e) if kube_conflict(&e) => return Ok(Action::requeue(crate::util::ERROR_REQUEUE)),
            Err(e) => return Err(e.into()),
        },
        Some(mut cm) => {
            if cm.data.as_ref().and_then(|d| d.get(KEY)) != Some(&ctx.cfg.ca_pem) {
                cm.data = want.data;
                api.replace(CONFIGMAP, &crate::util::post_params(), &cm)
                    .await?;
            }
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_holds_the_bundle() {
        let cm = desired("demo", "PEM");
        assert_eq!(cm.metadata.name.as_deref(), Some(CONFIGMAP));
        assert_eq!(cm.data.unwrap().get(KEY).map(String::as_str), Some("PEM"));
    }
}
