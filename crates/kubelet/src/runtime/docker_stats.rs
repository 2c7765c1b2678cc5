//! One sample of a container's resource usage from the Docker engine's stats endpoint
//! (`stream=false`, `one-shot=true`: no two-reads-a-second-apart wait for `precpu_stats`).

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use bollard::Docker;
use chrono::Utc;
use futures::StreamExt;

use super::ContainerStats;
use crate::error::{KubeletError, Result};

/// Reads one stats sample of container `id`.
pub async fn fetch(docker: &Docker, id: &str) -> Result<ContainerStats> {
    let options = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    let mut stream = docker.stats(id, Some(options));
    let resp = match stream.next().await {
        Some(r) => r?,
        None => {
            return Err(KubeletError::Runtime(format!(
                "no stats for container {id}"
            )))
        }
    };
    stats_of(&resp)
        .ok_or_else(|| KubeletError::Runtime(format!("container {id} reports no CPU usage")))
}

/// The sample in a stats response, None when it carries no CPU figure (a stopped container).
pub fn stats_of(resp: &ContainerStatsResponse) -> Option<ContainerStats> {
    let cpu_ns = resp.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage?;
    let memory = resp.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    let inactive = memory
        .and_then(|m| m.stats.as_ref())
        .map(inactive_file)
        .unwrap_or(0);
    Some(ContainerStats {
        timestamp: Utc::now(),
        cpu_usage_seconds: cpu_ns as f64 / 1e9,
        memory_working_set_bytes: working_set(usage, inactive),
    })
}

/// Inactive file pages: cgroup v1 names them `total_inactive_file` (the hierarchy's total),
/// cgroup v2 `inactive_file`.
fn inactive_file(stats: &std::collections::HashMap<String, u64>) -> u64 {
    stats
        .get("total_inactive_file")
        .or_else(|| stats.get("inactive_file"))
        .copied()
        .unwrap_or(0)
}

/// cAdvisor's working set: usage minus inactive file pages (reclaimable page cache), never
/// below zero.
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(json: serde_json::Value) -> ContainerStatsResponse {
        serde_json::from_value(json).expect("stats response")
    }

    #[test]
    fn cgroup_v1_working_set_subtracts_total_inactive_file() {
        let resp = response(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000u64}},
            "memory_stats": {"usage": 10_000_000, "stats": {
                "total_inactive_file": 4_000_000, "inactive_file": 1_000_000}}
        }));
        let s = stats_of(&resp).expect("sample");
        assert_eq!(s.cpu_usage_seconds, 2.5);
        assert_eq!(s.memory_working_set_bytes, 6_000_000);
    }

    #[test]
    fn cgroup_v2_working_set_subtracts_inactive_file() {
        let resp = response(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 1_000}},
            "memory_stats": {"usage": 5_000, "stats": {"inactive_file": 2_000}}
        }));
        assert_eq!(
            stats_of(&resp).expect("sample").memory_working_set_bytes,
            3_000
        );
    }

    #[test]
    fn a_stopped_container_has_no_sample() {
        // What the engine answers for a container that is not running.
        let resp = response(serde_json::json!({"cpu_stats": {"cpu_usage": {}},
            "memory_stats": {}}));
        assert!(stats_of(&resp).is_none());
        assert_eq!(working_set(100, 200), 0);
    }
}
