//! A pod's `/etc/resolv.conf` and `/etc/hosts`, as upstream's kubelet writes them: resolv.conf
//! from `dnsPolicy` (ClusterFirst → the cluster DNS with the pod's search path and `ndots:5`;
//! Default → the node's resolver; None → only `dnsConfig`) merged with `dnsConfig`, and a
//! kubelet-managed hosts file with the pod's own name (`<hostname>.<subdomain>.<ns>.svc.<domain>`
//! when it has a subdomain) and its `hostAliases`. Both are files in the pod's directory,
//! bind-mounted into every container, so what the pod sees does not depend on the engine's own
//! DNS handling. Pure functions except [`write_files`], so every rule is unit-tested.

use std::net::IpAddr;
use std::path::Path;

use k8s_openapi::api::core::v1::{Pod, PodDNSConfig, PodSpec};

use crate::runtime::BindMount;

/// Upstream's limits: resolvers read at most 3 nameservers; search paths are capped too.
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;
/// The node resolver configuration the `Default` policy copies (upstream `--resolv-conf`).
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of real upstream servers, used when the node's file names only its
/// loopback stub (as Docker does; a pod's loopback is not the node's).
const RESOLVED_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";

/// The node's DNS settings for pods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDnsConfig {
    /// The cluster DNS server(s) (`--cluster-dns`); empty makes ClusterFirst pods use the
    /// node's resolver, as upstream does.
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// The node's own resolver configuration.
    pub host: ResolvConf,
}

impl PodDnsConfig {
    /// Settings for `cluster_dns` and `cluster_domain`, with the node's `/etc/resolv.conf`.
    pub fn new(cluster_dns: Vec<IpAddr>, cluster_domain: &str) -> Self {
        let read = |path| ResolvConf::parse(&std::fs::read_to_string(path).unwrap_or_default());
        let mut host = read(HOST_RESOLV_CONF);
        if host.nameservers.is_empty() {
            host.nameservers = read(RESOLVED_UPSTREAMS).nameservers;
        }
        Self {
            cluster_dns,
            cluster_domain: cluster_domain.trim_end_matches('.').to_string(),
            host,
        }
    }
}

/// The parts of a resolv.conf a pod's is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The `search` list.
    pub searches: Vec<String>,
    /// `options`, each `name` or `name:value`.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Reads a resolv.conf (the last `search` line wins, as in the resolver). Loopback
    /// nameservers are left out: inside a pod they would be the pod itself (Docker does the
    /// same with the host's file).
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let loopback = |ip: &IpAddr| ip.is_loopback();
                    if let Some(ns) = words.next() {
                        if !ns.parse::<IpAddr>().is_ok_and(|ip| loopback(&ip)) {
                            out.nameservers.push(ns.to_string());
                        }
                    }
                }
                Some("search" | "domain") => out.searches = words.map(str::to_string).collect(),
                Some("options") => out.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        out
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            text.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }
}

/// Where a pod's resolver configuration starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cluster,
    Host,
    Nothing,
}

fn source(spec: &PodSpec, dns: &PodDnsConfig) -> Source {
    let host_network = spec.host_network.unwrap_or(false);
    let policy = match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "None" => Source::Nothing,
        "ClusterFirstWithHostNet" => Source::Cluster,
        // A host-network pod asking for ClusterFirst gets the node's resolver (upstream).
        "ClusterFirst" if !host_network => Source::Cluster,
        _ => Source::Host,
    };
    if policy == Source::Cluster && dns.cluster_dns.is_empty() {
        return Source::Host;
    }
    policy
}

/// The pod's resolver configuration.
pub fn resolv_conf(pod: &Pod, dns: &PodDnsConfig) -> ResolvConf {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut conf = match source(&spec, dns) {
        Source::Nothing => ResolvConf::default(),
        Source::Host => dns.host.clone(),
        Source::Cluster => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let domain = &dns.cluster_domain;
            let mut searches = vec![
                format!("{ns}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.clone(),
            ];
            searches.extend(dns.host.searches.iter().cloned());
            ResolvConf {
                nameservers: dns.cluster_dns.iter().map(IpAddr::to_string).collect(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
    };
    if let Some(extra) = &spec.dns_config {
        merge(&mut conf, extra);
    }
    conf.nameservers = dedup(conf.nameservers);
    conf.nameservers.truncate(MAX_NAMESERVERS);
    conf.searches = limit_searches(dedup(conf.searches));
    conf
}

/// Adds `dnsConfig` to a policy's configuration: nameservers and searches appended, options
/// replaced by name (upstream's appendDNSConfig/mergeDNSOptions).
fn merge(conf: &mut ResolvConf, extra: &PodDNSConfig) {
    conf.nameservers
        .extend(extra.nameservers.iter().flatten().cloned());
    conf.searches
        .extend(extra.searches.iter().flatten().cloned());
    for opt in extra.options.iter().flatten() {
        let Some(name) = opt.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        let rendered = match opt.value.as_deref() {
            Some(v) => format!("{name}:{v}"),
            None => name.to_string(),
        };
        let same = |o: &String| o.split(':').next() == Some(name);
        match conf.options.iter().position(same) {
            Some(i) => conf.options[i] = rendered,
            None => conf.options.push(rendered),
        }
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim_end_matches('.').to_string();
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn limit_searches(mut searches: Vec<String>) -> Vec<String> {
    searches.truncate(MAX_SEARCHES);
    while searches.iter().map(|s| s.len() + 1).sum::<usize>() > MAX_SEARCH_CHARS {
        searches.pop();
    }
    searches
}

/// The pod's hostname: `spec.hostname`, else its name cut to one DNS label.
pub fn pod_hostname(pod: &Pod) -> String {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            name.chars().take(63).collect()
        })
}

/// The kubelet-managed hosts file: localhost lines, the pod's own address and name, then
/// `hostAliases`. A host-network pod gets the node's hosts file instead of its own lines.
pub fn hosts_file(pod: &Pod, pod_ip: Option<&str>, dns: &PodDnsConfig, host_hosts: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let mut text = if spec.host_network.unwrap_or(false) {
        format!("# Kubernetes-managed hosts file (host network).\n{host_hosts}")
    } else {
        let mut text = String::from(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
        );
        if let Some(ip) = pod_ip.filter(|ip| !ip.is_empty()) {
            let hostname = pod_hostname(pod);
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            match spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => {
                    let fqdn = format!("{hostname}.{sub}.{ns}.svc.{}", dns.cluster_domain);
                    text.push_str(&format!("{ip}\t{fqdn}\t{hostname}\n"));
                }
                None => text.push_str(&format!("{ip}\t{hostname}\n")),
            }
        }
        text
    };
    let aliases = spec.host_aliases.unwrap_or_default();
    if !aliases.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names = alias.hostnames.unwrap_or_default().join("\t");
            text.push_str(&format!("{}\t{names}\n", alias.ip));
        }
    }
    text
}

/// Writes the pod's `resolv.conf` and `etc-hosts` into `pod_dir` and returns the mounts that
/// put them at `/etc/resolv.conf` and `/etc/hosts` of a container.
pub fn write_files(
    pod_dir: &Path,
    pod: &Pod,
    pod_ip: Option<&str>,
    dns: &PodDnsConfig,
) -> std::io::Result<Vec<BindMount>> {
    std::fs::create_dir_all(pod_dir)?;
    let resolv = pod_dir.join("resolv.conf");
    std::fs::write(&resolv, resolv_conf(pod, dns).render())?;
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let hosts = pod_dir.join("etc-hosts");
    std::fs::write(&hosts, hosts_file(pod, pod_ip, dns, &host_hosts))?;
    let mount = |host: &Path, at: &str| BindMount {
        host_path: host.to_string_lossy().into_owned(),
        container_path: at.to_string(),
        read_only: false,
    };
    Ok(vec![
        mount(&resolv, "/etc/resolv.conf"),
        mount(&hosts, "/etc/hosts"),
    ])
}

#[cfg(test)]
#[path = "pod_dns_tests.rs"]
mod tests;
