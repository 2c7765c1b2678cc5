//! Renders the proxy's whole nftables table as one `nft -f` script: the script first creates
//! and deletes the table, then defines it anew, so one transaction replaces every rule and no
//! stale rule survives a change.

use std::fmt::Write;

use super::model::{Backend, PortRule};

/// Packets marked with this bit are masqueraded on the way out (hairpin and node-port traffic).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// The script that replaces table `ip <table>` with rules for `rules`.
pub fn script(table: &str, rules: &[PortRule]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "table ip {table}\ndelete table ip {table}\ntable ip {table} {{"
    );
    base_chains(&mut s);
    let mut services = String::new();
    let mut rejects = String::new();
    for (i, rule) in rules.iter().enumerate() {
        let proto = rule.protocol.keyword();
        // No endpoint anywhere: refuse at once (upstream REJECTs). Endpoints elsewhere but a
        // Local policy leaving none here: upstream drops.
        let refuse = match (rule.has_endpoints, rule.protocol) {
            (true, _) => "drop",
            (false, super::model::Protocol::Tcp) => "reject with tcp reset",
            (false, super::model::Protocol::Udp) => "reject",
        };
        if let Some(ip) = rule.cluster_ip {
            let matcher = format!("ip daddr {ip} {proto} dport {}", rule.port);
            if rule.internal.is_empty() {
                let _ = writeln!(rejects, "\t\t{matcher} {refuse}");
            } else {
                let _ = writeln!(services, "\t\t{matcher} goto svc-{i}");
                balance(&mut s, &format!("svc-{i}"), rule, &rule.internal);
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
                let _ = writeln!(
                    s,
                    "\tchain ext-{i} {{\n\t\t{only_local}meta mark set meta mark | {MASQUERADE_MARK:#x}\n\t\tgoto ext-lb-{i}\n\t}}"
                );
                balance(&mut s, &format!("ext-lb-{i}"), rule, &rule.external);
            }
        }
    }
    let _ = writeln!(s, "\tchain services {{\n{services}\t}}");
    let _ = writeln!(s, "\tchain no-endpoints {{\n{rejects}\t}}");
    s.push_str("}\n");
    s
}

/// Hooks: DNAT before Docker's own NAT (priority -110 < dstnat), REJECT before Docker's filter.
fn base_chains(s: &mut String) {
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
        let _ = writeln!(
            s,
            "\tchain {name} {{\n\t\ttype {kind} hook {hook} priority {prio}; policy accept;\n\t\t{jump}\n\t}}"
        );
    }
    let _ = writeln!(
        s,
        "\tchain nat-postrouting {{\n\t\ttype nat hook postrouting priority 110; policy accept;\n\t\tmeta mark & {MASQUERADE_MARK:#x} == {MASQUERADE_MARK:#x} masquerade\n\t}}"
    );
}

/// A chain picking one backend at random (each with equal weight), plus one chain per backend.
/// With ClientIP affinity each backend also records its clients in a timed set, and a client
/// found in one of those sets goes straight back to that backend.
fn balance(s: &mut String, chain: &str, rule: &PortRule, backends: &[Backend]) {
    let targets: Vec<String> = (0..backends.len())
        .map(|j| format!("{j} : goto {chain}-ep-{j}"))
        .collect();
    let mut sticky = String::new();
    if let Some(timeout) = rule.affinity_timeout {
        for j in 0..backends.len() {
            let _ = writeln!(
                s,
                "\tset {chain}-aff-{j} {{\n\t\ttype ipv4_addr; flags dynamic,timeout; timeout {timeout}s;\n\t}}"
            );
            let _ = writeln!(sticky, "\t\tip saddr @{chain}-aff-{j} goto {chain}-ep-{j}");
        }
    }
    let _ = writeln!(
        s,
        "\tchain {chain} {{\n{sticky}\t\tnumgen random mod {} vmap {{ {} }}\n\t}}",
        backends.len(),
        targets.join(", ")
    );
    let proto = rule.protocol.keyword();
    for (j, b) in backends.iter().enumerate() {
        let remember = if rule.affinity_timeout.is_some() {
            format!("\t\tupdate @{chain}-aff-{j} {{ ip saddr }}\n")
        } else {
            String::new()
        };
        // A pod reaching itself through its Service must see the node as the peer, or its
        // reply would skip the conntrack entry that undoes the DNAT (hairpin).
        let _ = writeln!(
            s,
            "\tchain {chain}-ep-{j} {{\n\t\tip saddr {ip} meta mark set meta mark | {MASQUERADE_MARK:#x}\n{remember}\t\tmeta l4proto {proto} dnat to {ip}:{port}\n\t}}",
            ip = b.ip,
            port = b.port
        );
    }
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
        let s = script("t", &[r]);
        assert!(s.contains(
            "set svc-0-aff-1 {\n\t\ttype ipv4_addr; flags dynamic,timeout; timeout 60s;"
        ));
        assert!(s.contains(
            "chain svc-0 {\n\t\tip saddr @svc-0-aff-0 goto svc-0-ep-0\n\t\tip saddr @svc-0-aff-1 goto svc-0-ep-1\n\t\tnumgen random mod 2"
        ));
        assert!(s.contains(
            "update @svc-0-aff-1 { ip saddr }\n\t\tmeta l4proto tcp dnat to 172.17.0.4:8080"
        ));
        assert!(!script("t", &[rule(vec![be("172.17.0.3")], None)]).contains("aff"));
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
