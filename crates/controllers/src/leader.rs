//! Leader election through a `coordination.k8s.io/v1` Lease, following client-go's
//! leaderelection: a candidate takes the lease when it is absent or when its holder has not
//! renewed it for `leaseDurationSeconds` (measured on our own clock from when we last saw
//! the record change, so clock skew between servers does not matter); the leader renews
//! every retry period and steps down when it cannot renew within the renew deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::error::{kube_not_found, Result};

/// Timing of an election, upstream's defaults for kube-controller-manager.
#[derive(Debug, Clone, Copy)]
pub struct ElectionTiming {
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// Pause between attempts.
    pub retry_period: Duration,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// A lease-based elector for one lock (`namespace/name`) and one identity.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// Field manager of the Lease writes (the component's name).
    manager: String,
    timing: ElectionTiming,
    observed: Option<(String, Instant)>,
}

/// What a single acquire/renew attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the lease now.
    Leading,
    /// Someone else holds a valid lease.
    Following(String),
}

impl LeaderElector {
    /// An elector on lease `namespace/name` as `identity`, writing as field manager `manager`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        manager: &str,
        timing: ElectionTiming,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            manager: manager.to_owned(),
            timing,
            observed: None,
        }
    }

    fn spec(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timing.lease_duration.as_secs() as i32),
            acquire_time: Some(acquire.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// One try to acquire or renew the lease.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt> {
        let current = match self.api.get(&self.name).await {
            Ok(l) => l,
            Err(e) if kube_not_found(&e) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.spec(None, 0)),
                };
                self.api
                    .create(&crate::util::post_params_as(&self.manager), &lease)
                    .await?;
                return Ok(Attempt::Leading);
            }
            Err(e) => return Err(e.into()),
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let rv = current
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        // Track when the record last changed on our clock (client-go's observedTime).
        let observed_at = match &self.observed {
            Some((orv, at)) if *orv == rv => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((rv.clone(), at));
                at
            }
        };
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(self.timing.lease_duration);
        let held_by_other = !holder.is_empty() && holder != self.identity;
        if held_by_other && observed_at.elapsed() < duration {
            return Ok(Attempt::Following(holder));
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let (acquire, transitions) = if holder == self.identity {
            (spec.acquire_time.clone(), transitions)
        } else {
            (None, transitions + 1)
        };
        let mut lease = current;
        lease.spec = Some(self.spec(acquire, transitions));
        // Replace carries resourceVersion, so two candidates racing cannot both win.
        let updated = self
            .api
            .replace(
                &self.name,
                &crate::util::post_params_as(&self.manager),
                &lease,
            )
            .await?;
        self.observed = updated
            .metadata
            .resource_version
            .map(|rv| (rv, Instant::now()));
        Ok(Attempt::Leading)
    }

    /// Runs `work` whenever we lead: it gets a token cancelled when leadership is lost or
    /// `shutdown` fires. Returns when `shutdown` fires. On clean shutdown the lease is
    /// released (renew time cleared) so another candidate takes over at once.
    pub async fn run<F, Fut>(mut self, shutdown: CancellationToken, mut work: F)
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        while !shutdown.is_cancelled() {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Leading) => {}
                Ok(Attempt::Following(holder)) => {
                    tracing::debug!(lease = %self.name, %holder, "following");
                    sleep_or_cancel(self.timing.retry_period, &shutdown).await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(lease = %self.name, error = %e, "election attempt failed");
                    sleep_or_cancel(self.timing.retry_period, &shutdown).await;
                    continue;
                }
            }
            tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
            let leading = shutdown.child_token();
            let handle = tokio::spawn(work(leading.clone()));
            let mut last_renew = Instant::now();
            loop {
                sleep_or_cancel(self.timing.retry_period, &shutdown).await;
                if shutdown.is_cancelled() {
                    break;
                }
                match self.try_acquire_or_renew().await {
                    Ok(Attempt::Leading) => last_renew = Instant::now(),
                    Ok(Attempt::Following(_)) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "renew failed");
                        if last_renew.elapsed() > self.timing.renew_deadline {
                            break;
                        }
                    }
                }
            }
            tracing::info!(lease = %self.name, "leadership ended");
            leading.cancel();
            let _ = handle.await;
        }
        self.release().await;
    }

    async fn release(&self) {
        let Ok(mut lease) = self.api.get(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        spec.lease_duration_seconds = Some(1);
        let _ = self
            .api
            .replace(
                &self.name,
                &crate::util::post_params_as(&self.manager),
                &lease,
            )
            .await;
    }
}

/// Sleeps for `d` unless `token` is cancelled first.
pub async fn sleep_or_cancel(d: Duration, token: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = token.cancelled() => {}
    }
}
