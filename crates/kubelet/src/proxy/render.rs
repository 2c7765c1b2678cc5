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
        let reject = match rule.protocol {
            super::model::Protocol::Tcp => "reject with tcp reset",
            super::model::Protocol::Udp => "reject",
        };
        if let Some(ip) = rule.cluster_ip {
            let matcher = format!("ip daddr {ip} {proto} dport {}", rule.port);
            if rule.internal.is_empty() {
                let _ = writeln!(rejects, "\t\t{matcher} {reject}");
            } else {
                let _ = writeln!(services, "\t\t{matcher} goto svc-{i}");
                balance(&mut s, &format!("svc-{i}"), rule, &rule.internal);
            }
        }
        if let Some(node_port) = rule.node_port {
            let matcher = format!("fib daddr type local {proto} dport {node_port}");
            if rule.external.is_empty() {
                let _ = writeln!(rejects, "\t\t{matcher} {reject}");
            } else {
                let _ = writeln!(services, "\t\t{matcher} goto ext-{i}");
                let _ = writeln!(
                    s,
                    "\tchain ext-{i} {{\n\t\tmeta mark set meta mark | {MASQUERADE_MARK:#x}\n\t\tgoto ext-lb-{i}\n\t}}"
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
fn balance(s: &mut String, chain: &str, rule: &PortRule, backends: &[Backend]) {
    let targets: Vec<String> = (0..backends.len())
        .map(|j| format!("{j} : goto {chain}-ep-{j}"))
        .collect();
    let _ = writeln!(
        s,
        "\tchain {chain} {{\n\t\tnumgen random mod {} vmap {{ {} }}\n\t}}",
        backends.len(),
        targets.join(", ")
    );
    let proto = rule.protocol.keyword();
    for (j, b) in backends.iter().enumerate() {
        // A pod reaching itself through its Service must see the node as the peer, or its
        // reply would skip the conntrack entry that undoes the DNAT (hairpin).
        let _ = writeln!(
            s,
            "\tchain {chain}-ep-{j} {{\n\t\tip saddr {ip} meta mark set meta mark | {MASQUERADE_MARK:#x}\n\t\tmeta l4proto {proto} dnat to {ip}:{port}\n\t}}",
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
            external: internal.clone(),
            internal,
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
}
