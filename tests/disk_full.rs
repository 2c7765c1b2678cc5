//! A full disk pauses writes instead of breaking the server: while the raft log cannot grow,
//! writes fail with a clear 503 and `/readyz` reports the store, reads keep working, and once
//! space is freed writes resume without a restart. What was written before and after survives a
//! kill -9 (the append that hit the full disk was cut back, not left torn in the log).
//!
//! The raft directory is moved onto a small tmpfs, so the test needs root (as CI has).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{eventually, stdout_ok, TestCluster};

/// Unmounts the tmpfs when the test ends (lazily: the server may still hold files open).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Moves `dir`'s contents onto a fresh tmpfs of `size` mounted at `dir`.
    fn replace(dir: &Path, size: &str) -> Tmpfs {
        let saved = dir.with_extension("on-disk");
        std::fs::rename(dir, &saved).expect("move the raft dir aside");
        std::fs::create_dir(dir).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(mounted.success(), "mounting a tmpfs needs root");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(saved.join("."))
            .arg(dir)
            .status()
            .expect("run cp");
        assert!(copied.success(), "copy the raft dir onto the tmpfs");
        Tmpfs(dir.to_path_buf())
    }

    /// Writes zeros to `name` until the tmpfs is full.
    fn fill(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 << 10];
        while file.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn kubectl_err(cluster: &TestCluster, args: &[&str]) -> String {
    let out = cluster.kubectl(args);
    assert!(
        !out.status.success(),
        "kubectl {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn readyz(cluster: &TestCluster) -> (u16, String) {
    let resp = cluster
        .http()
        .get(format!("{}/readyz?verbose", cluster.base_url()))
        .send()
        .await
        .expect("readyz");
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_pause_while_the_disk_is_full_and_resume_without_a_restart() {
    let mut cluster = TestCluster::start().await;
    stdout_ok(
        "create ns",
        &cluster.kubectl(&["create", "namespace", "full"]),
    );
    stdout_ok(
        "create before",
        &cluster.kubectl(&["create", "configmap", "before", "-n", "full"]),
    );
    cluster.kill9();
    let tmpfs = Tmpfs::replace(&cluster.data_dir().join("store").join("raft"), "32m");
    cluster.restart().await;
    let (code, text) = readyz(&cluster).await;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("[+]etcd ok"), "{text}");

    let filler = tmpfs.fill("filler");
    // The next write finds the disk full and waits for space (its client gives up); so may a
    // controller's lease renewal that comes first, and then this one is refused at once.
    let mut trigger = cluster
        .kubectl_command(
            Path::new("kubectl"),
            &[
                "create",
                "configmap",
                "trigger",
                "-n",
                "full",
                "--request-timeout=3s",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl");
    let not_ready = eventually(Duration::from_secs(30), || async {
        let (code, text) = readyz(&cluster).await;
        (code == 500).then_some(text)
    })
    .await
    .expect("/readyz reports the full disk");
    assert!(
        not_ready.contains("[-]etcd failed: reason withheld"),
        "{not_ready}"
    );
    let _ = trigger.wait();

    // New writes are refused at once, with the reason; reads still work.
    let refused = kubectl_err(&cluster, &["create", "configmap", "refused", "-n", "full"]);
    assert!(
        refused.contains("ServiceUnavailable") || refused.contains("No space left on device"),
        "{refused}"
    );
    assert!(refused.contains("No space left on device"), "{refused}");
    let listed = stdout_ok(
        "get while full",
        &cluster.kubectl(&["get", "configmap", "before", "-n", "full", "-o", "name"]),
    );
    assert_eq!(listed.trim(), "configmap/before");

    // Space comes back: writes go through again, without a restart.
    std::fs::remove_file(&filler).expect("free space");
    eventually(Duration::from_secs(30), || async {
        (readyz(&cluster).await.0 == 200).then_some(())
    })
    .await
    .expect("/readyz recovers once space is freed");
    stdout_ok(
        "create after",
        &cluster.kubectl(&["create", "configmap", "after", "-n", "full"]),
    );
    let names = stdout_ok(
        "list",
        &cluster.kubectl(&["get", "configmap", "-n", "full", "-o", "name"]),
    );
    for name in ["before", "after"] {
        assert!(names.contains(&format!("configmap/{name}\n")), "{names}");
    }
    assert!(!names.contains("configmap/refused"), "{names}");

    // The log holds no torn record: everything survives kill -9 and a replay.
    cluster.kill9();
    cluster.restart().await;
    let again = stdout_ok(
        "list after restart",
        &cluster.kubectl(&["get", "configmap", "-n", "full", "-o", "name"]),
    );
    assert_eq!(again, names);
    drop(cluster);
    drop(tmpfs);
}
