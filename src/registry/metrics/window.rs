//! Cumulative readings turned into usage, as metrics-server's `pkg/storage` does: each node
//! and container keeps its last two points; CPU usage is the rise of cumulative CPU time over
//! the time between them (that span is the `window`), memory the latest working set. Until a
//! container has two points its pod is absent — except a container that started within the
//! scrape resolution, whose start counts as a first point with no CPU used yet.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::parse::{ContainerKey, NodeScrape, Point};

/// A container started this recently can use its start as its first point.
const FRESH_CONTAINER_RESOLUTION: Duration = Duration::seconds(15);
/// ...but not one that started so recently the rate would be noise.
const FRESH_CONTAINER_MIN: Duration = Duration::seconds(1);

/// Usage over one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    /// End of the window.
    pub timestamp: DateTime<Utc>,
    /// Length of the window.
    pub window: Duration,
    /// CPU in cores (core-seconds per second).
    pub cpu_cores: f64,
    /// Working set, bytes.
    pub memory_bytes: u64,
}

/// Each container's usage by pod: (namespace, pod) → [(container, usage)].
pub type PodUsage = BTreeMap<(String, String), Vec<(String, Usage)>>;

/// The last two points of every node and container seen in the latest scrape.
#[derive(Debug, Default)]
pub struct Samples {
    nodes: HashMap<String, (Option<Point>, Point)>,
    containers: HashMap<ContainerKey, (Option<Point>, Point)>,
}

impl Samples {
    /// Takes one round of scrapes (node name → what it gave). Nodes and containers missing
    /// from it are forgotten, as a failed scrape makes them absent upstream.
    pub fn store(&mut self, round: BTreeMap<String, NodeScrape>) {
        let mut nodes = HashMap::new();
        let mut containers = HashMap::new();
        for (name, scrape) in round {
            if let Some(point) = scrape.node {
                let prev = previous(self.nodes.remove(&name), &point, false);
                nodes.insert(name, (prev, point));
            }
            for (key, point) in scrape.containers {
                let prev = previous(self.containers.remove(&key), &point, true)
                    .or_else(|| fresh_start(&point));
                containers.insert(key, (prev, point));
            }
        }
        self.nodes = nodes;
        self.containers = containers;
    }

    /// A node's usage, when it has two points.
    pub fn node(&self, name: &str) -> Option<Usage> {
        let (prev, last) = self.nodes.get(name)?;
        usage(prev.as_ref()?, last)
    }

    /// Every pod with all its containers' usage (namespace, pod) → [(container, usage)].
    pub fn pods(&self) -> PodUsage {
        // None: some container of the pod has no rate yet.
        let mut pods = BTreeMap::new();
        for (key, (prev, last)) in &self.containers {
            let entry = pods
                .entry((key.namespace.clone(), key.pod.clone()))
                .or_insert_with(|| Some(Vec::new()));
            let usage = prev.as_ref().and_then(|prev| usage(prev, last));
            match (entry.as_mut(), usage) {
                (Some(list), Some(u)) => list.push((key.container.clone(), u)),
                // One container without a rate makes the whole pod absent.
                _ => *entry = None,
            }
        }
        pods.into_iter()
            .filter_map(|(k, v)| {
                let mut v = v?;
                v.sort_by(|a, b| a.0.cmp(&b.0));
                Some((k, v))
            })
            .collect()
    }
}

/// The point that becomes `prev` when `new` arrives: the stored last one if `new` is later
/// (and, for a container, of the same start), else the stored previous one if still earlier.
fn previous(stored: Option<(Option<Point>, Point)>, new: &Point, container: bool) -> Option<Point> {
    let (prev, last) = stored?;
    if container && last.start_time != new.start_time {
        return None;
    }
    if new.timestamp > last.timestamp {
        return Some(last);
    }
    prev.filter(|p| p.timestamp < new.timestamp)
}

/// A just-started container's start as its first point (no CPU used yet).
fn fresh_start(point: &Point) -> Option<Point> {
    let start = point.start_time?;
    let age = point.timestamp - start;
    (age >= FRESH_CONTAINER_MIN && age < FRESH_CONTAINER_RESOLUTION).then(|| Point {
        timestamp: start,
        cpu_seconds: 0.0,
        ..point.clone()
    })
}

/// The usage between two points; None when time did not advance or the counter went down.
fn usage(prev: &Point, last: &Point) -> Option<Usage> {
    let window = last.timestamp - prev.timestamp;
    let seconds = window.num_milliseconds() as f64 / 1000.0;
    if seconds <= 0.0 || last.cpu_seconds < prev.cpu_seconds {
        return None;
    }
    Some(Usage {
        timestamp: last.timestamp,
        window,
        cpu_cores: (last.cpu_seconds - prev.cpu_seconds) / seconds,
        memory_bytes: last.memory_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time")
    }

    fn point(s: i64, cpu: f64, start: i64) -> Point {
        Point {
            timestamp: at(s),
            cpu_seconds: cpu,
            memory_bytes: 4096,
            start_time: Some(at(start)),
        }
    }

    fn key(pod: &str, c: &str) -> ContainerKey {
        ContainerKey {
            namespace: "default".into(),
            pod: pod.into(),
            container: c.into(),
        }
    }

    fn round(
        node: Option<Point>,
        containers: &[(ContainerKey, Point)],
    ) -> BTreeMap<String, NodeScrape> {
        let scrape = NodeScrape {
            node,
            containers: containers.iter().cloned().collect(),
        };
        BTreeMap::from([("n1".to_string(), scrape)])
    }

    #[test]
    fn cpu_is_a_rate_over_two_scrapes() {
        let mut s = Samples::default();
        s.store(round(
            Some(point(0, 100.0, -1000)),
            &[(key("burn", "c"), point(0, 50.0, -600))],
        ));
        assert!(s.node("n1").is_none(), "one point is no rate");
        assert!(s.pods().is_empty());
        s.store(round(
            Some(point(15, 115.0, -1000)),
            &[(key("burn", "c"), point(15, 65.0, -600))],
        ));
        let node = s.node("n1").expect("node usage");
        assert_eq!(node.cpu_cores, 1.0);
        assert_eq!(node.window, Duration::seconds(15));
        assert_eq!(node.timestamp, at(15));
        let pods = s.pods();
        let (name, usage) = &pods[&("default".to_string(), "burn".to_string())][0];
        assert_eq!(
            (name.as_str(), usage.cpu_cores, usage.memory_bytes),
            ("c", 1.0, 4096)
        );
    }

    #[test]
    fn a_restart_starts_over_and_a_pod_needs_every_container() {
        let mut s = Samples::default();
        s.store(round(
            None,
            &[
                (key("p", "a"), point(0, 50.0, -600)),
                (key("p", "b"), point(0, 5.0, -600)),
            ],
        ));
        // `b` restarted just now: its counter began again, so the pod has no usage this round.
        s.store(round(
            None,
            &[
                (key("p", "a"), point(15, 60.0, -600)),
                (key("p", "b"), point(15, 0.5, 15)),
            ],
        ));
        assert!(s.pods().is_empty());
        s.store(round(
            None,
            &[
                (key("p", "a"), point(30, 70.0, -600)),
                (key("p", "b"), point(30, 2.0, 15)),
            ],
        ));
        assert_eq!(s.pods().values().next().map(Vec::len), Some(2));
    }

    #[test]
    fn a_fresh_container_counts_from_its_start_and_vanished_ones_are_forgotten() {
        let mut s = Samples::default();
        s.store(round(None, &[(key("new", "c"), point(10, 2.5, 5))]));
        let pods = s.pods();
        let usage = &pods[&("default".to_string(), "new".to_string())][0].1;
        assert_eq!((usage.cpu_cores, usage.window), (0.5, Duration::seconds(5)));
        s.store(BTreeMap::new());
        assert!(s.pods().is_empty());
    }
}
