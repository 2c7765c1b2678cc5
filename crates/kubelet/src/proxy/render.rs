//! Renders the proxy's whole nftables table for one `nft -f` transaction. The first script of
//! a proxy deletes whatever table a previous run left and defines it anew; later ones flush
//! every rule, delete the chains and sets no longer wanted and define the rest again. Either
//! way no stale rule survives a change, while the ClientIP affinity sets (named after their
//! service port and backend) keep the clients they remember across rewrites.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::fmt::Write;
use std::hash::{Hash, Hasher};

use super::model::{Backend, PortRule, Protocol};

/// Packets marked with this bit are masqueraded on the way out (hairpin and node-port traffic).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// A rendered table: its definition and the names of the chains and sets it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    body: String,
    chains: BTreeSet<String>,
    sets: BTreeSet<String>,
}

impl Rendered {
    /// The script replacing any existing table `ip <table>` with this one.
    pub fn replace_script(&self, table: &str) -> String {
        format!("table ip {table}\ndelete table ip {table}\n{}", self.body)
    }

    /// The script turning `previous` (what the kernel holds) into this table, keeping the
    /// elements of affinity sets both have.
    pub fn update_script(&self, table: &str, previous: &Rendered) -> String {
        let mut s = format!("table ip {table} {{}}\nflush table ip {table}\n");
        for chain in previous.chains.difference(&self.chains) {
            let _ = writeln!(s, "delete chain ip {table} {chain}");
        }
        for set in previous.sets.difference(&self.sets) {
            let _ = writeln!(s, "delete set ip {table} {set}");
        }
        s.push_str(&self.body);
        s
    }
}

/// The script that replaces table `ip <table>` with rules for `rules`.
pub fn script(table: &str, rules: &[PortRule]) -> String {
    render(table, rules).replace_script(table)
}

/// Renders table `ip <table>` for `rules`.
pub fn render(table: &str, rules: &[PortRule]) -> Rendered {
    let mut t = Rendered::default();
    base_chains(&mut t);
    let mut services = String::new();
    let mut rejects = String::new();
    for (i, rule) in rules.iter().enumerate() {
        let proto = rule.protocol.keyword();
        // No endpoint anywhere: refuse at once (upstream REJECTs). Endpoints elsewhere but a
        // Local policy leaving none here: upstream drops.
        let refuse = match (rule.has_endpoints, rule.protocol) {
            (true, _) => "drop",
            (false, Protocol::Tcp) => "reject with tcp reset",
            (false, Protocol::Udp) => "reject",
        };
        if let Some(ip) = rule.cluster_ip {
            let matcher = format!("ip daddr {ip} {proto} dport {}", rule.port);
            if rule.internal.is_empty() {
                let _ = writeln!(rejects, "\t\t{matcher} {refuse}");
            } else {
                let _ = writeln!(services, "\t\t{matcher} goto svc-{i}");
                balance(&mut t, &format!("svc-{i}"), rule, &rule.internal);
            }
        }
        if let Some(node_port) = rule.node_port {
            let matcher = format!("fib daddr type local {proto} dport {node_port}");
            if rule.external.is_empty() {
                let _ = writeln!(rejects, "\t\t{matcher} {refuse}");
            } else {
                let _ = writeln!(services, "\t\t{matcher} goto ext-{i}");
                // With externalTrafficPolicy Local the client's address is kept; only the
                // node's own connections (127.0.0.1 cannot be a reply address) are masqueraded.
                let only_local = if rule.external_local {
                    "fib saddr type local "
                } else {
                    ""
                };
                t.chain(
                    &format!("ext-{i}"),
                    &format!(
                        "\t\t{only_local}meta mark set meta mark | {MASQUERADE_MARK:#x}\n\t\tgoto ext-lb-{i}\n"
                    ),
                );
                balance(&mut t, &format!("ext-lb-{i}"), rule, &rule.external);
            }
        }
    }
    t.chain("services", &services);
    t.chain("no-endpoints", &rejects);
    t.body = format!("table ip {table} {{\n{}}}\n", t.body);
    t
}

impl Rendered {
    fn chain(&mut self, name: &str, rules: &str) {
        let _ = writeln!(self.body, "\tchain {name} {{\n{rules}\t}}");
        self.chains.insert(name.to_string());
    }

    fn timed_set(&mut self, name: &str, timeout: u32) {
        let _ = writeln!(
            self.body,
            "\tset {name} {{\n\t\ttype ipv4_addr; flags dynamic,timeout; timeout {timeout}s;\n\t}}"
        );
        self.sets.insert(name.to_string());
    }
}

/// Hooks: DNAT before Docker's own NAT (priority -110 < dstnat), REJECT before Docker's filter.
fn base_chains(t: &mut Rendered) {
    for (name, kind, hook, prio, jump) in [
        ("nat-prerouting", "nat", "prerouting", -110, "jump services"),
        ("nat-output", "nat", "output", -110, "jump services"),
        ("filter-input", "filter", "input", -10, "jump no-endpoints"),
        (
            "filter-forward",
            "filter",
            "forward",
            -10,
            "jump no-endpoints",
        ),
        (
            "filter-output",
            "filter",
            "output",
            -10,
            "jump no-endpoints",
        ),
    ] {
        t.chain(
            name,
            &format!("\t\ttype {kind} hook {hook} priority {prio}; policy accept;\n\t\t{jump}\n"),
        );
    }
    t.chain(
        "nat-postrouting",
        &format!("\t\ttype nat hook postrouting priority 110; policy accept;\n\t\tmeta mark & {MASQUERADE_MARK:#x} == {MASQUERADE_MARK:#x} masquerade\n"),
    );
}

/// A chain picking one backend at random (each with equal weight), plus one chain per backend.
/// With ClientIP affinity each backend also records its clients in a timed set, and a client
/// found in one of those sets goes straight back to that backend.
fn balance(t: &mut Rendered, chain: &str, rule: &PortRule, backends: &[Backend]) {
    let targets: Vec<String> = (0..backends.len())
        .map(|j| format!("{j} : goto {chain}-ep-{j}"))
        .collect();
    let mut sticky = String::new();
    let mut sets = Vec::new();
    if let Some(timeout) = rule.affinity_timeout {
        for (j, b) in backends.iter().enumerate() {
            let set = affinity_set(rule, chain.starts_with("ext"), b, timeout);
            t.timed_set(&set, timeout);
            let _ = writeln!(sticky, "\t\tip saddr @{set} goto {chain}-ep-{j}");
            sets.push(set);
        }
    }
    t.chain(
        chain,
        &format!(
            "{sticky}\t\tnumgen random mod {} vmap {{ {} }}\n",
            backends.len(),
            targets.join(", ")
        ),
    );
    let proto = rule.protocol.keyword();
    for (j, b) in backends.iter().enumerate() {
        let remember = sets
            .get(j)
            .map(|set| format!("\t\tupdate @{set} {{ ip saddr }}\n"))
            .unwrap_or_default();
        // A pod reaching itself through its Service must see the node as the peer, or its
        // reply would skip the conntrack entry that undoes the DNAT (hairpin).
        t.chain(
            &format!("{chain}-ep-{j}"),
            &format!(
                "\t\tip saddr {ip} meta mark set meta mark | {MASQUERADE_MARK:#x}\n{remember}\t\tmeta l4proto {proto} dnat to {ip}:{port}\n",
                ip = b.ip,
                port = b.port
            ),
        );
    }
}

/// The affinity set of one backend of one service port (ClusterIP or node-port side), named
/// after what it remembers so it outlives rewrites; the timeout is part of the name because an
/// existing set cannot change it.
fn affinity_set(rule: &PortRule, external: bool, backend: &Backend, timeout: u32) -> String {
    let mut h = DefaultHasher::new();
    (&rule.id, rule.protocol, external, backend, timeout).hash(&mut h);
    format!("aff-{:016x}", h.finish())
}

/// The script removing the table (ignored by nft when absent thanks to the leading `table`).
pub fn removal(table: &str) -> String {
    format!("table ip {table}\ndelete table ip {table}\n")
}

/// An nft table name for a node: `ferrokube-` and the node name with anything but
/// `[A-Za-z0-9_-]` replaced, so each cluster node owns exactly one table.
pub fn table_name(node: &str) -> String {
    let safe: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("ferrokube-{safe}")
}

#[cfg(test)]
mod tests {
    use super::super::model::{Backend, PortRule, Protocol};
    use super::*;

    fn rule(internal: Vec<Backend>, node_port: Option<u16>) -> PortRule {
        PortRule {
            id: "default/web:http".into(),
            protocol: Protocol::Tcp,
            cluster_ip: Some("10.0.0.10".parse().unwrap()),
            port: 80,
            node_port,
            has_endpoints: !internal.is_empty(),
            external: internal.clone(),
            internal,
            external_local: false,
            affinity_timeout: None,
        }
    }

    fn be(ip: &str) -> Backend {
        Backend {
            ip: ip.parse().unwrap(),
            port: 8080,
        }
    }

    #[test]
    fn cluster_ip_balances_over_every_backend() {
        let s = script(
            "ferrokube-n1",
            &[rule(vec![be("172.17.0.3"), be("172.17.0.4")], None)],
        );
        assert!(s.starts_with("table ip ferrokube-n1\ndelete table ip ferrokube-n1\n"));
        assert!(s.contains("ip daddr 10.0.0.10 tcp dport 80 goto svc-0"));
        assert!(s.contains("numgen random mod 2 vmap { 0 : goto svc-0-ep-0, 1 : goto svc-0-ep-1 }"));
        assert!(s.contains("meta l4proto tcp dnat to 172.17.0.4:8080"));
        assert!(s.contains("ip saddr 172.17.0.3 meta mark set meta mark | 0x4000"));
        assert!(!s.contains("reject"));
    }

    #[test]
    fn node_port_is_masqueraded_and_empty_services_reject() {
        let s = script("t", &[rule(vec![be("172.17.0.3")], Some(30080))]);
        assert!(s.contains("fib daddr type local tcp dport 30080 goto ext-0"));
        assert!(
            s.contains("chain ext-0 {\n\t\tmeta mark set meta mark | 0x4000\n\t\tgoto ext-lb-0")
        );
        let empty = script("t", &[rule(vec![], Some(30080))]);
        assert!(empty.contains("ip daddr 10.0.0.10 tcp dport 80 reject with tcp reset"));
        assert!(empty.contains("fib daddr type local tcp dport 30080 reject with tcp reset"));
        assert!(!empty.contains("goto svc-0"));
    }

    #[test]
    fn udp_rejects_with_icmp_and_names_are_safe() {
        let mut r = rule(vec![], None);
        r.protocol = Protocol::Udp;
        assert!(script("t", &[r]).contains("udp dport 80 reject\n"));
        assert_eq!(table_name("node.a/b"), "ferrokube-node_a_b");
    }

    #[test]
    fn client_ip_affinity_remembers_each_client_per_backend() {
        let mut r = rule(vec![be("172.17.0.3"), be("172.17.0.4")], None);
        r.affinity_timeout = Some(60);
        let t = render("t", std::slice::from_ref(&r));
        let sets: Vec<&String> = t.sets.iter().collect();
        assert_eq!(sets.len(), 2);
        let set_of = |b: &Backend| affinity_set(&r, false, b, 60);
        let (a, b) = (set_of(&be("172.17.0.3")), set_of(&be("172.17.0.4")));
        let s = t.replace_script("t");
        assert!(s.contains(&format!(
            "set {b} {{\n\t\ttype ipv4_addr; flags dynamic,timeout; timeout 60s;"
        )));
        assert!(s.contains(&format!(
            "chain svc-0 {{\n\t\tip saddr @{a} goto svc-0-ep-0\n\t\tip saddr @{b} goto svc-0-ep-1\n\t\tnumgen random mod 2"
        )));
        assert!(s.contains(&format!(
            "update @{b} {{ ip saddr }}\n\t\tmeta l4proto tcp dnat to 172.17.0.4:8080"
        )));
        assert!(!script("t", &[rule(vec![be("172.17.0.3")], None)]).contains("aff-"));
    }

    #[test]
    fn updates_keep_affinity_sets_and_drop_what_is_gone() {
        let mut two = rule(vec![be("172.17.0.3"), be("172.17.0.4")], Some(30080));
        two.affinity_timeout = Some(60);
        let mut one = two.clone();
        one.internal = vec![be("172.17.0.4")];
        one.external = vec![];
        let (before, after) = (render("t", &[two.clone()]), render("t", &[one]));
        let s = after.update_script("t", &before);
        assert!(s.starts_with("table ip t {}\nflush table ip t\n"));
        assert!(!s.contains("delete table"));
        // The survivor's set keeps its name (and elements); the others go with their chains.
        let kept = affinity_set(&two, false, &be("172.17.0.4"), 60);
        let gone = affinity_set(&two, false, &be("172.17.0.3"), 60);
        assert!(s.contains(&format!("set {kept} {{")));
        assert!(s.contains(&format!("delete set ip t {gone}\n")));
        for chain in [
            "svc-0-ep-1",
            "ext-0",
            "ext-lb-0",
            "ext-lb-0-ep-0",
            "ext-lb-0-ep-1",
        ] {
            assert!(
                s.contains(&format!("delete chain ip t {chain}\n")),
                "{chain}: {s}"
            );
        }
        assert!(!s.contains("delete chain ip t svc-0\n"));
        assert_eq!(
            after.update_script("t", &after).matches("delete").count(),
            0
        );
    }

    #[test]
    fn local_policies_drop_without_local_endpoints_and_keep_client_addresses() {
        let mut r = rule(vec![], Some(30080));
        r.has_endpoints = true;
        let s = script("t", &[r]);
        assert!(s.contains("ip daddr 10.0.0.10 tcp dport 80 drop"));
        assert!(s.contains("fib daddr type local tcp dport 30080 drop"));
        assert!(!s.contains("reject"));
        let mut r = rule(vec![be("172.17.0.3")], Some(30080));
        r.external_local = true;
        let s = script("t", &[r]);
        assert!(s.contains(
            "chain ext-0 {\n\t\tfib saddr type local meta mark set meta mark | 0x4000\n\t\tgoto ext-lb-0"
        ));
    }
}
