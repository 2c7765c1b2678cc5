//! `ferrokube bench rss`: the whole single node (server + embedded agent) at idle — resident set
//! split into anonymous memory (heaps, stacks) and file pages (mostly the binary's own code and
//! read-only data), threads, and the size of the binary that ran.

use std::time::Duration;

use anyhow::Context;

use super::{pods_bench, BenchArgs, ServerProcess};

/// The memory lines of `/proc/<pid>/status`, in KiB.
pub(super) struct Memory {
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
    pub threads: u64,
}

impl Memory {
    pub(super) fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Memory {
            rss: field("VmRSS:")?,
            anon: field("RssAnon:")?,
            file: field("RssFile:")? + field("RssShmem:")?,
            threads: field("Threads:")?,
        })
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        write!(
            f,
            "{:.1} MiB (anon {:.1} MiB, file {:.1} MiB; {} threads)",
            mib(self.rss),
            mib(self.anon),
            mib(self.file),
            self.threads
        )
    }
}

/// The size of the running `ferrokube` binary, for the tables beside the RSS figures.
pub(super) fn binary_size() -> String {
    match std::env::current_exe().and_then(std::fs::metadata) {
        Ok(m) => format!("{:.1} MB", m.len() as f64 / 1e6),
        Err(e) => format!("unknown ({e})"),
    }
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ferrokube-bench-rss-{}", std::process::id()));
    let node = format!("bench-rss-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "ferrokube bench rss  (binary {}, settle {} s)",
        binary_size(),
        args.settle
    );
    let result = measure(&dir, &node, args.settle).await;
    pods_bench::sweep(&node);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(dir: &std::path::Path, node: &str, settle: u64) -> anyhow::Result<()> {
    let (server, ready) = ServerProcess::start_with(dir, &["--node-name", node])?;
    println!("start-up to /readyz: {}", super::ms(ready));
    let client = server.client().await?;
    let registered = pods_bench::wait_node_ready(&client, node).await?;
    println!("node {node} Ready after {}", super::ms(registered));
    drop(client);
    tokio::time::sleep(Duration::from_secs(settle)).await;
    println!(
        "idle RSS, server + embedded agent, {settle} s after start: {}",
        Memory::of(server.child.id())?
    );
    Ok(())
}
