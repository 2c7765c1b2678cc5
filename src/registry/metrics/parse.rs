//! Reading a kubelet's `/metrics/resource` answer (Prometheus text) into points, as
//! metrics-server's `pkg/scraper/client/resource` decoder does: only the node and container
//! series matter; a sample without its timestamp is ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// One cumulative reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// When the kubelet read it.
    pub timestamp: DateTime<Utc>,
    /// Cumulative CPU time, core-seconds.
    pub cpu_seconds: f64,
    /// Memory working set, bytes.
    pub memory_bytes: u64,
    /// When the container started (containers only): a new start time is a restart.
    pub start_time: Option<DateTime<Utc>>,
}

/// A container, by pod and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container's name.
    pub container: String,
}

/// Everything one scrape of one kubelet gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeScrape {
    /// The node's own point, when both its series were present.
    pub node: Option<Point>,
    /// Each container with both a CPU and a memory sample.
    pub containers: BTreeMap<ContainerKey, Point>,
}

#[derive(Default)]
struct Partial {
    cpu: Option<(f64, DateTime<Utc>)>,
    memory: Option<(f64, DateTime<Utc>)>,
    start: Option<DateTime<Utc>>,
}

impl Partial {
    fn point(self) -> Option<Point> {
        let (cpu, cpu_at) = self.cpu?;
        let (memory, memory_at) = self.memory?;
        Some(Point {
            timestamp: cpu_at.max(memory_at),
            cpu_seconds: cpu,
            memory_bytes: memory.max(0.0) as u64,
            start_time: self.start,
        })
    }
}

/// Decodes one answer.
pub fn decode(text: &str) -> NodeScrape {
    let mut node = Partial::default();
    let mut containers: BTreeMap<ContainerKey, Partial> = BTreeMap::new();
    for (name, labels, value, at) in text.lines().filter_map(sample) {
        let key = || ContainerKey {
            namespace: label(&labels, "namespace"),
            pod: label(&labels, "pod"),
            container: label(&labels, "container"),
        };
        match name {
            "node_cpu_usage_seconds_total" => node.cpu = Some((value, at)),
            "node_memory_working_set_bytes" => node.memory = Some((value, at)),
            "container_cpu_usage_seconds_total" => {
                containers.entry(key()).or_default().cpu = Some((value, at))
            }
            "container_memory_working_set_bytes" => {
                containers.entry(key()).or_default().memory = Some((value, at))
            }
            "container_start_time_seconds" => {
                let start = DateTime::from_timestamp_millis((value * 1000.0) as i64);
                containers.entry(key()).or_default().start = start;
            }
            _ => {}
        }
    }
    NodeScrape {
        node: node.point(),
        containers: containers
            .into_iter()
            .filter_map(|(k, p)| Some((k, p.point()?)))
            .collect(),
    }
}

fn label(labels: &[(String, String)], key: &str) -> String {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

type Sample<'a> = (&'a str, Vec<(String, String)>, f64, DateTime<Utc>);

/// `name{labels} value timestamp_ms`; None for comments, malformed lines and samples without
/// a timestamp.
fn sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, rest) = labels_of(&line[open + 1..])?;
            (&line[..open], labels, rest)
        }
        None => {
            let (name, rest) = line.split_once(char::is_whitespace)?;
            (name, Vec::new(), rest)
        }
    };
    let mut fields = rest.split_whitespace();
    let value: f64 = fields.next()?.parse().ok()?;
    let at = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
    Some((name, labels, value, at))
}

/// The label pairs up to the closing brace, and the rest of the line after it.
fn labels_of(s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars
            .next_if(|(_, c)| *c == ',' || c.is_whitespace())
            .is_some()
        {}
        let (start, c) = chars.next()?;
        if c == '}' {
            return Some((labels, &s[start + 1..]));
        }
        let eq = s[start..].find('=')? + start;
        while chars.next_if(|(i, _)| *i <= eq).is_some() {}
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '"' => break,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                other => value.push(other),
            }
        }
        labels.push((s[start..eq].trim().to_string(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="busy",namespace="default",pod="burn"} 12.5 1700000010000
container_cpu_usage_seconds_total{container="lonely",namespace="default",pod="half"} 1 1700000010000
container_memory_working_set_bytes{container="busy",namespace="default",pod="burn"} 1.048576e+06 1700000010000
container_start_time_seconds{container="busy",namespace="default",pod="burn"} 1700000000.5 1700000000500
node_cpu_usage_seconds_total 5000.25 1700000011000
node_memory_working_set_bytes 2048 1700000011000
pod_cpu_usage_seconds_total{namespace="default",pod="burn"} 12.5 1700000010000
scrape_error 0
"#;

    #[test]
    fn decodes_node_and_container_points() {
        let scrape = decode(TEXT);
        let node = scrape.node.expect("node point");
        assert_eq!(node.cpu_seconds, 5000.25);
        assert_eq!(node.memory_bytes, 2048);
        assert_eq!(node.timestamp.timestamp_millis(), 1_700_000_011_000);
        // The container without a memory sample is left out.
        assert_eq!(scrape.containers.len(), 1);
        let (key, point) = scrape.containers.iter().next().expect("container");
        assert_eq!((key.pod.as_str(), key.container.as_str()), ("burn", "busy"));
        assert_eq!(point.memory_bytes, 1_048_576);
        assert_eq!(
            point.start_time.map(|t| t.timestamp_millis()),
            Some(1_700_000_000_500)
        );
    }

    #[test]
    fn escaped_labels_and_untimed_samples() {
        let line =
            r#"container_cpu_usage_seconds_total{container="a\"b",namespace="n",pod="p"} 1 5"#;
        let (_, labels, value, _) = sample(line).expect("sample");
        assert_eq!(labels[0], ("container".to_string(), "a\"b".to_string()));
        assert_eq!(value, 1.0);
        assert!(sample("scrape_error 0").is_none());
        assert!(decode("garbage{ 1 2").node.is_none());
    }
}
