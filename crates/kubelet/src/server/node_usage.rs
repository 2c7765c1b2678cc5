//! The node's own resource usage from the host's `/proc`, as cAdvisor reports it for the root
//! cgroup: cumulative CPU time of every non-idle state, and the memory working set (used memory
//! minus inactive file pages, which the kernel reclaims first).

/// The node's usage at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeUsage {
    /// CPU time consumed by the node since boot, in core-seconds.
    pub cpu_usage_seconds: f64,
    /// Memory working set in bytes.
    pub memory_working_set_bytes: u64,
}

/// Reads the host's usage now; None when `/proc` cannot tell (then the node series are left
/// out and `scrape_error` says so).
pub fn read() -> Option<NodeUsage> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    Some(NodeUsage {
        cpu_usage_seconds: cpu_seconds(&stat, clock_ticks())?,
        memory_working_set_bytes: working_set(&meminfo)?,
    })
}

/// `USER_HZ`, the unit of `/proc/stat`.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// Non-idle CPU time from the aggregate `cpu` line of `/proc/stat`: user, nice, system, irq,
/// softirq and steal (guest time is already inside user and nice; idle and iowait are idle).
pub fn cpu_seconds(stat: &str, ticks_per_second: f64) -> Option<f64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    if fields.len() < 4 {
        return None;
    }
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some(busy as f64 / ticks_per_second)
}

/// `MemTotal - MemFree - Inactive(file)` from `/proc/meminfo` (kB), in bytes.
pub fn working_set(meminfo: &str) -> Option<u64> {
    let kb = |key: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let used = kb("MemTotal")?.saturating_sub(kb("MemFree")?);
    Some(used.saturating_sub(kb("Inactive(file)").unwrap_or(0)) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_every_busy_state() {
        let stat = "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        // user+nice+system+irq+softirq+steal = 170 ticks.
        assert_eq!(cpu_seconds(stat, 100.0), Some(1.7));
        assert_eq!(cpu_seconds("intr 1 2", 100.0), None);
    }

    #[test]
    fn working_set_is_used_minus_inactive_file() {
        let meminfo = "MemTotal:       1000 kB\nMemFree:         200 kB\n\
            MemAvailable:    600 kB\nInactive(file):  300 kB\n";
        assert_eq!(working_set(meminfo), Some(500 * 1024));
        assert_eq!(working_set("MemFree: 1 kB\n"), None);
    }
}
