//! Separate "hosts" for HA tests: one network namespace per server, each with its own address
//! on a private bridge in the host (which the test's clients use), so that a member can be cut
//! off from its peers for real — its packets dropped inside its namespace while the process
//! keeps running and keeps answering the clients on the bridge. Everything is removed on drop.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A bridge and `n` namespaces `<prefix>-<i>` at `10.<a>.<b>.(10 + i)`.
pub struct Hosts {
    prefix: String,
    bridge: String,
    subnet: String,
    count: usize,
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("running a network command");
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_quietly(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

impl Hosts {
    /// Creates the bridge (with an ACCEPT past Docker's forward policy) and `n` namespaces.
    pub fn create(n: usize) -> Hosts {
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tag = format!("{}{k}", pid % 10_000);
        let hosts = Hosts {
            prefix: format!("fkha{tag}"),
            bridge: format!("fkhb{tag}"),
            // 10.240.0.0/12, a /24 per fixture: distinct across the tests of one run.
            subnet: format!("10.{}.{}", 240 + (pid % 16), (k * 7 + pid / 16) % 250),
            count: n,
        };
        let gateway = format!("{}.1/24", hosts.subnet);
        run(&["ip", "link", "add", &hosts.bridge, "type", "bridge"]);
        run(&["ip", "addr", "add", &gateway, "dev", &hosts.bridge]);
        run(&["ip", "link", "set", &hosts.bridge, "up"]);
        run(&[
            "iptables",
            "-I",
            "FORWARD",
            "-i",
            &hosts.bridge,
            "-o",
            &hosts.bridge,
            "-j",
            "ACCEPT",
        ]);
        for i in 0..n {
            let ns = hosts.namespace(i);
            let veth = format!("{}v{i}", hosts.bridge);
            let address = format!("{}/24", hosts.address(i));
            run(&["ip", "netns", "add", &ns]);
            run(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            run(&["ip", "link", "set", &veth, "master", &hosts.bridge, "up"]);
            run(&["ip", "-n", &ns, "addr", "add", &address, "dev", "eth0"]);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    /// Namespace of host `i`.
    pub fn namespace(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    /// Address of host `i`.
    pub fn address(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// Drops every packet between host `i` and the other hosts (both ways, inside `i`'s
    /// namespace); the bridge's own address (the test's clients) still gets through.
    pub fn isolate(&self, i: usize) {
        let ns = self.namespace(i);
        let others: Vec<String> = (0..self.count)
            .filter(|j| *j != i)
            .map(|j| self.address(j))
            .collect();
        let set = others.join(", ");
        let rules = format!(
            "table inet partition {{\n\
             \tchain input {{ type filter hook input priority 0; ip saddr {{ {set} }} drop; }}\n\
             \tchain output {{ type filter hook output priority 0; ip daddr {{ {set} }} drop; }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!("{ns}-partition.nft"));
        std::fs::write(&path, rules).expect("nft rules");
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "nft",
            "-f",
            path.to_str().expect("path"),
        ]);
    }

    /// Lets host `i` reach the others again.
    pub fn heal(&self, i: usize) {
        let ns = self.namespace(i);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "nft",
            "delete",
            "table",
            "inet",
            "partition",
        ]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.count {
            run_quietly(&["ip", "netns", "del", &self.namespace(i)]);
        }
        run_quietly(&["ip", "link", "del", &self.bridge]);
        run_quietly(&[
            "iptables",
            "-D",
            "FORWARD",
            "-i",
            &self.bridge,
            "-o",
            &self.bridge,
            "-j",
            "ACCEPT",
        ]);
    }
}
