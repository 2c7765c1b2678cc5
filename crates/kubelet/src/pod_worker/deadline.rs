//! `spec.activeDeadlineSeconds` (upstream's `activeDeadlineHandler`): a pod active on the node
//! longer than its deadline is killed and ends Failed with reason `DeadlineExceeded`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodStatus};

use super::PodWorker;
use crate::runtime::ContainerInfo;

/// Upstream's reason and message for a pod past its deadline.
pub const REASON: &str = "DeadlineExceeded";
const MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// How long `pod` may still run: None without a deadline or before it started (the deadline
/// counts from `status.startTime`), zero once it has passed.
pub fn time_left(pod: &Pod, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let deadline = pod.spec.as_ref()?.active_deadline_seconds?;
    let started = pod.status.as_ref()?.start_time.as_ref()?;
    let started = chrono::DateTime::from_timestamp(started.0.as_second(), 0)?;
    let elapsed = (now - started).num_milliseconds().max(0) as u64;
    let allowed = u64::try_from(deadline).unwrap_or(0) * 1000;
    Some(Duration::from_millis(allowed.saturating_sub(elapsed)))
}

/// The failed status a pod past its deadline reports.
pub fn failed(mut status: PodStatus) -> PodStatus {
    status.phase = Some("Failed".into());
    status.reason = Some(REASON.into());
    status.message = Some(MESSAGE.into());
    status
}

impl PodWorker {
    /// Kills the pod's containers and reports it Failed past its deadline.
    pub(super) async fn fail_past_deadline(
        &mut self,
        containers: &[ContainerInfo],
    ) -> crate::error::Result<()> {
        tracing::info!(namespace = %self.pod_ref.namespace, pod = %self.pod_ref.name, "{MESSAGE}");
        self.past_deadline = true;
        let grace = self.grace();
        self.kill_all(containers, grace).await?;
        let containers = self.list().await?;
        self.report(&containers).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(deadline: Option<i64>, started: Option<&str>) -> Pod {
        serde_json::from_value(
            json!({"spec": {"containers": [], "activeDeadlineSeconds": deadline},
            "status": {"startTime": started}}),
        )
        .expect("pod")
    }

    #[test]
    fn the_deadline_counts_from_the_start_time() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:10Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            time_left(&pod(None, Some("2026-01-01T00:00:00Z")), now),
            None
        );
        assert_eq!(time_left(&pod(Some(5), None), now), None);
        assert_eq!(
            time_left(&pod(Some(30), Some("2026-01-01T00:00:00Z")), now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            time_left(&pod(Some(5), Some("2026-01-01T00:00:00Z")), now),
            Some(Duration::ZERO)
        );
        let status = failed(PodStatus::default());
        assert_eq!(status.reason.as_deref(), Some(REASON));
        assert_eq!(status.phase.as_deref(), Some("Failed"));
    }
}
