//! Smoke runs of `ferrokube bench` modes: each runs the real benchmark program (the binary the
//! tests were built with) in a short mode and must finish and print its table. Nothing timed is
//! asserted: the figures depend on the machine.

mod support;

use std::process::{Command, Stdio};

use support::{output_within, stdout_ok, COMMAND_TIMEOUT};

fn bench(args: &[&str]) -> std::process::Output {
    let child = Command::new(env!("CARGO_BIN_EXE_ferrokube"))
        .arg("bench")
        .args(args)
        .env("FERROKUBE_NO_IMAGE_PULL", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting ferrokube bench");
    output_within(&format!("bench {args:?}"), child, COMMAND_TIMEOUT)
}

/// Both halves of the side-by-side table when an etcd is on PATH (CI installs Debian's
/// etcd-server), ferrokube's half alone with a clear note otherwise.
#[test]
fn api_against_etcd_prints_the_side_by_side_table() {
    let out = bench(&["api", "--against-etcd", "--creates", "64"]);
    let stdout = stdout_ok("bench api --against-etcd", &out);
    assert!(stdout.contains("binary "), "{stdout}");
    assert!(stdout.contains("idle RSS after start"), "{stdout}");
    let etcd_on_path = Command::new("sh")
        .args(["-c", "command -v etcd"])
        .output()
        .is_ok_and(|o| o.status.success());
    for clients in ["  1 ", "  64 "] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(clients) && l.contains('|'))
            .unwrap_or_else(|| panic!("no row for{clients}clients:\n{stdout}"));
        if etcd_on_path {
            assert!(row.contains('×'), "etcd on PATH but no ratio: {row}");
        } else {
            assert!(row.contains("(no etcd)"), "{row}");
            assert!(stdout.contains("no `etcd` binary on PATH"), "{stdout}");
        }
    }
}

/// A benchmark target off this machine's loopback is refused before anything is written.
#[test]
fn api_refuses_a_non_loopback_etcd() {
    let out = bench(&[
        "api",
        "--against-etcd",
        "--etcd-endpoint",
        "http://192.0.2.7:2379",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing non-loopback benchmark target http://192.0.2.7:2379"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("start-up"));
}

/// The whole single node (server + embedded agent) reports its resident set split into
/// anonymous and file pages, and the binary's size.
#[test]
fn rss_reports_the_single_node_at_idle() {
    let out = bench(&["rss", "--settle", "1"]);
    let stdout = stdout_ok("bench rss", &out);
    assert!(stdout.contains("ferrokube bench rss  (binary "), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("idle RSS, server + embedded agent"))
        .unwrap_or_else(|| panic!("no idle RSS line:\n{stdout}"));
    assert!(line.contains("anon ") && line.contains("file "), "{line}");
}

/// `bench ha` in its short mode: the single server and the 3-server cluster at 1/16/64 clients,
/// etcd's own 3-member/1-member ratio on the same cores beside them (when etcd is on PATH), one
/// leader kill.
#[test]
fn ha_compares_three_servers_with_one_and_with_etcd() {
    let out = bench(&[
        "ha",
        "--against-etcd",
        "--creates",
        "64",
        "--kills",
        "1",
        "--catchup-objects",
        "0",
    ]);
    let stdout = stdout_ok("bench ha --against-etcd", &out);
    assert!(stdout.contains("single server:"), "{stdout}");
    assert!(
        stdout.contains("3 servers (clients spread over all three):"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("creates, 64 clients:").count(),
        2,
        "{stdout}"
    );
    let etcd_on_path = Command::new("sh")
        .args(["-c", "command -v etcd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if etcd_on_path {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("64 clients: 1 member"))
            .unwrap_or_else(|| panic!("no etcd row:\n{stdout}"));
        assert!(row.contains("3/1 = "), "{row}");
    } else {
        assert!(stdout.contains("no `etcd` binary on PATH"), "{stdout}");
    }
    assert!(stdout.contains("failover"), "{stdout}");
}
