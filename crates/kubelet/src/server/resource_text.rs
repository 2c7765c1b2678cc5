//! The Prometheus text of `/metrics/resource`, in upstream's series names, help texts and
//! label order, each sample stamped with the time it was read (milliseconds).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::resource_metrics::ResourceSample;

/// Renders one scrape.
pub fn render(sample: &ResourceSample) -> String {
    let mut out = String::new();
    let container = |c: &super::resource_metrics::ContainerSample| {
        format!(
            "container=\"{}\",namespace=\"{}\",pod=\"{}\"",
            escape(&c.container),
            escape(&c.namespace),
            escape(&c.pod)
        )
    };
    header(
        &mut out,
        "container_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        "counter",
    );
    for c in &sample.containers {
        line(
            &mut out,
            "container_cpu_usage_seconds_total",
            &container(c),
            c.stats.cpu_usage_seconds,
            c.stats.timestamp,
        );
    }
    header(
        &mut out,
        "container_memory_working_set_bytes",
        "[STABLE] Current working set of the container in bytes",
        "gauge",
    );
    for c in &sample.containers {
        line(
            &mut out,
            "container_memory_working_set_bytes",
            &container(c),
            c.stats.memory_working_set_bytes as f64,
            c.stats.timestamp,
        );
    }
    header(
        &mut out,
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        "gauge",
    );
    for c in &sample.containers {
        if let Some(start) = c.started_at {
            let secs = start.timestamp_millis() as f64 / 1000.0;
            line(
                &mut out,
                "container_start_time_seconds",
                &container(c),
                secs,
                start,
            );
        }
    }
    if let Some((at, node)) = sample.node {
        header(
            &mut out,
            "node_cpu_usage_seconds_total",
            "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
            "counter",
        );
        line(
            &mut out,
            "node_cpu_usage_seconds_total",
            "",
            node.cpu_usage_seconds,
            at,
        );
        header(
            &mut out,
            "node_memory_working_set_bytes",
            "[STABLE] Current working set of the node in bytes",
            "gauge",
        );
        line(
            &mut out,
            "node_memory_working_set_bytes",
            "",
            node.memory_working_set_bytes as f64,
            at,
        );
    }
    pods(&mut out, sample);
    header(
        &mut out,
        "scrape_error",
        "[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    );
    let _ = writeln!(out, "scrape_error {}", u8::from(sample.error));
    out
}

/// `pod_*`: the sums of each pod's containers, stamped with the latest of their times.
fn pods(out: &mut String, sample: &ResourceSample) {
    let mut by_pod: BTreeMap<(&str, &str), (f64, f64, DateTime<Utc>)> = BTreeMap::new();
    for c in &sample.containers {
        let e = by_pod
            .entry((&c.namespace, &c.pod))
            .or_insert((0.0, 0.0, c.stats.timestamp));
        e.0 += c.stats.cpu_usage_seconds;
        e.1 += c.stats.memory_working_set_bytes as f64;
        e.2 = e.2.max(c.stats.timestamp);
    }
    let labels =
        |ns: &str, pod: &str| format!("namespace=\"{}\",pod=\"{}\"", escape(ns), escape(pod));
    header(
        out,
        "pod_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        "counter",
    );
    for ((ns, pod), (cpu, _, at)) in &by_pod {
        line(
            out,
            "pod_cpu_usage_seconds_total",
            &labels(ns, pod),
            *cpu,
            *at,
        );
    }
    header(
        out,
        "pod_memory_working_set_bytes",
        "[STABLE] Current working set of the pod in bytes",
        "gauge",
    );
    for ((ns, pod), (_, mem, at)) in &by_pod {
        line(
            out,
            "pod_memory_working_set_bytes",
            &labels(ns, pod),
            *mem,
            *at,
        );
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &str, value: f64, at: DateTime<Utc>) {
    let labels = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}{labels} {value} {}", at.timestamp_millis());
}

/// Prometheus label value escaping.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ContainerStats;
    use crate::server::node_usage::NodeUsage;
    use crate::server::resource_metrics::ContainerSample;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("time")
    }

    fn container(pod: &str, name: &str, cpu: f64, mem: u64) -> ContainerSample {
        ContainerSample {
            namespace: "default".into(),
            pod: pod.into(),
            container: name.into(),
            started_at: Some(at(1_000_000)),
            stats: ContainerStats {
                timestamp: at(2_000_000),
                cpu_usage_seconds: cpu,
                memory_working_set_bytes: mem,
            },
        }
    }

    #[test]
    fn renders_upstreams_series() {
        let sample = ResourceSample {
            node: Some((
                at(2_000_500),
                NodeUsage {
                    cpu_usage_seconds: 100.5,
                    memory_working_set_bytes: 4096,
                },
            )),
            containers: vec![
                container("web", "a", 1.5, 100),
                container("web", "b", 0.5, 50),
            ],
            error: false,
        };
        let text = render(&sample);
        for expected in [
            "container_cpu_usage_seconds_total{container=\"a\",namespace=\"default\",pod=\"web\"} 1.5 2000000",
            "container_memory_working_set_bytes{container=\"b\",namespace=\"default\",pod=\"web\"} 50 2000000",
            "container_start_time_seconds{container=\"a\",namespace=\"default\",pod=\"web\"} 1000 1000000",
            "node_cpu_usage_seconds_total 100.5 2000500",
            "node_memory_working_set_bytes 4096 2000500",
            "pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 2 2000000",
            "pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 150 2000000",
            "# TYPE container_cpu_usage_seconds_total counter",
            "scrape_error 0",
        ] {
            assert!(text.lines().any(|l| l == expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn a_failed_node_read_is_a_scrape_error() {
        let text = render(&ResourceSample {
            node: None,
            containers: vec![],
            error: true,
        });
        assert!(text.contains("scrape_error 1"));
        assert!(!text.contains("node_cpu_usage_seconds_total "));
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
