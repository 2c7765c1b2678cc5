//! End-to-end behaviour of the store through its public API: raft, WAL, snapshots and watches.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrokube_store::{
    Compare, EventKind, Op, RangeRequest, Store, StoreConfig, StoreError, Txn, TxnOutcome,
};
use futures::StreamExt;

fn obj(name: &str) -> Vec<u8> {
    format!(r#"{{"kind":"Pod","metadata":{{"name":"{name}"}}}}"#).into_bytes()
}

fn put(key: &str) -> Txn {
    Txn {
        compares: vec![],
        ops: vec![Op::Put {
            key: key.into(),
            value: obj(key),
        }],
    }
}

fn create(key: &str) -> Txn {
    Txn {
        compares: vec![(key.into(), Compare::Absent)],
        ..put(key)
    }
}

fn rev_of(o: &TxnOutcome) -> u64 {
    match o {
        TxnOutcome::Applied { revision, .. } => *revision,
        TxnOutcome::Failed { .. } => panic!("txn failed: {o:?}"),
    }
}

async fn open(dir: &std::path::Path, history: usize) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.history_events = history;
    Store::open(cfg).await.expect("open store")
}

#[tokio::test]
async fn txn_revisions_and_stamping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1000).await;
    assert_eq!(store.current_revision(), 0);
    let r1 = rev_of(
        &store
            .txn(create("/core/pods/default/a"))
            .await
            .expect("txn"),
    );
    assert_eq!(r1, 1);
    let kv = store
        .get("/core/pods/default/a")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        &kv.value[..],
        br#"{"kind":"Pod","metadata":{"name":"/core/pods/default/a","resourceVersion":"1"}}"#
    );
    // Create again: AlreadyExists-style failure, with the current value, no revision consumed.
    match store
        .txn(create("/core/pods/default/a"))
        .await
        .expect("txn")
    {
        TxnOutcome::Failed {
            failed_compare,
            current,
        } => {
            assert_eq!(failed_compare, 0);
            assert_eq!(current.map(|c| c.mod_revision), Some(1));
        }
        o => panic!("expected failure, got {o:?}"),
    }
    assert_eq!(store.current_revision(), 1);
    // Optimistic-concurrency update.
    let update = |rev| Txn {
        compares: vec![("/core/pods/default/a".into(), Compare::ModRevision(rev))],
        ops: put("/core/pods/default/a").ops,
    };
    assert!(matches!(
        store.txn(update(7)).await,
        Ok(TxnOutcome::Failed { .. })
    ));
    assert_eq!(rev_of(&store.txn(update(1)).await.expect("txn")), 2);
    let kv = store.get("/core/pods/default/a").await.ok().flatten();
    assert_eq!(
        kv.map(|k| (k.create_revision, k.mod_revision)),
        Some((1, 2))
    );
    // Delete returns the old object stamped with the delete's revision.
    let del = Txn {
        compares: vec![],
        ops: vec![Op::Delete {
            key: "/core/pods/default/a".into(),
        }],
    };
    match store.txn(del).await.expect("txn") {
        TxnOutcome::Applied { revision, values } => {
            assert_eq!(revision, 3);
            let v = values.into_iter().next().flatten().expect("deleted value");
            assert!(String::from_utf8_lossy(&v.value).contains(r#""resourceVersion":"3""#));
        }
        o => panic!("{o:?}"),
    }
    assert!(store
        .get("/core/pods/default/a")
        .await
        .expect("get")
        .is_none());
    assert_eq!(
        store
            .get_at("/core/pods/default/a", 2)
            .await
            .ok()
            .flatten()
            .map(|k| k.mod_revision),
        Some(2)
    );
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn range_at_latest_and_older_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1000).await;
    for name in ["a", "b", "c", "d", "e"] {
        store
            .txn(put(&format!("/core/pods/ns1/{name}")))
            .await
            .expect("txn");
    }
    store.txn(put("/core/pods/ns2/x")).await.expect("txn");
    store.txn(put("/core/services/ns1/a")).await.expect("txn");
    let at = store.current_revision(); // 7
    store
        .txn(Txn {
            compares: vec![],
            ops: vec![Op::Delete {
                key: "/core/pods/ns1/b".into(),
            }],
        })
        .await
        .expect("txn");
    let names = |r: &ferrokube_store::RangeResponse| {
        r.items
            .iter()
            .map(|k| k.key.rsplit('/').next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let req = |prefix: &str, start: &str, limit: usize, revision: u64| RangeRequest {
        prefix: prefix.into(),
        start: start.into(),
        limit,
        revision,
    };
    let r = store
        .range(req("/core/pods/ns1/", "", 2, 0))
        .await
        .expect("range");
    assert_eq!(
        (names(&r), r.remaining, r.revision),
        (vec!["a".into(), "c".into()], 2, 8)
    );
    // Continue from after the last key, at the revision of the first page.
    let r = store
        .range(req("/core/pods/ns1/", "/core/pods/ns1/c\0", 2, r.revision))
        .await
        .expect("range");
    assert_eq!((names(&r), r.remaining), (vec!["d".into(), "e".into()], 0));
    let r = store
        .range(req("/core/pods/ns1/", "", 0, at))
        .await
        .expect("range");
    assert_eq!(
        names(&r).len(),
        5,
        "the deleted key is visible before its delete"
    );
    assert_eq!(r.revision, at);
    let r = store
        .range(req("/core/pods/", "", 0, 3))
        .await
        .expect("range");
    assert_eq!(
        (names(&r), r.remaining),
        (vec!["a".into(), "b".into(), "c".into()], 0)
    );
    assert!(matches!(
        store.range(req("/", "", 0, 99)).await,
        Err(StoreError::FutureRevision { requested: 99, .. })
    ));
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn compaction_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 10).await;
    for i in 0..30 {
        store.txn(put(&format!("/k/{}", i % 3))).await.expect("txn");
    }
    assert_eq!(store.compacted_revision(), 20);
    let old = RangeRequest {
        prefix: "/k/".into(),
        revision: 5,
        ..Default::default()
    };
    assert!(matches!(
        store.range(old).await,
        Err(StoreError::Compacted {
            requested: 5,
            compacted: 20
        })
    ));
    assert!(matches!(
        store.watch("/k/", 19),
        Err(StoreError::Compacted { .. })
    ));
    let mut w = store
        .watch("/k/", 20)
        .expect("watch from compacted revision");
    let first = w.next().await.and_then(|r| r.ok()).map(|e| e.revision);
    assert_eq!(first, Some(21));
    let at20 = RangeRequest {
        prefix: "/k/".into(),
        revision: 20,
        ..Default::default()
    };
    assert_eq!(store.range(at20).await.map(|r| r.items.len()).ok(), Some(3));
    store.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_replay_then_live_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 100_000).await;
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 60;
    let total = (WRITERS * PER_WRITER) as u64;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let s = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                s.txn(put(&format!("/w/{w}/{i}"))).await.expect("txn");
            }
        }));
    }
    // Start watchers while the writes are in flight, each from whatever revision is current.
    let mut watchers = Vec::new();
    for n in 0..20 {
        let after = store.current_revision();
        let mut stream = store.watch("/w/", after).expect("watch");
        watchers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            if after >= total {
                return (after, seen);
            }
            while let Some(item) = stream.next().await {
                let e = item.expect("watch item");
                assert_eq!(e.kind, EventKind::Added);
                seen.push(e.revision);
                if e.revision == total {
                    break;
                }
            }
            (after, seen)
        }));
        tokio::time::sleep(Duration::from_millis(1 + n / 4)).await;
    }
    for w in writers {
        w.await.expect("writer");
    }
    let mut started_mid_stream = 0;
    for w in watchers {
        let (after, seen) = tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("watcher finished")
            .expect("watcher");
        let want: Vec<u64> = (after + 1..=total).collect();
        assert_eq!(seen, want, "watch after {after}");
        if after > 0 && after < total {
            started_mid_stream += 1;
        }
    }
    assert!(
        started_mid_stream > 0,
        "some watchers started while writes were in flight"
    );
    // A watch on another prefix sees nothing of these.
    let mut other = store.watch("/other/", 0).expect("watch");
    store.txn(put("/other/x")).await.expect("txn");
    let e = other.next().await.and_then(|r| r.ok()).expect("event");
    assert_eq!((e.key.as_str(), e.revision), ("/other/x", total + 1));
    store.shutdown().await.expect("shutdown");
    assert!(matches!(
        other.next().await,
        Some(Err(StoreError::Unavailable(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_everything_including_after_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1000).await;
    let mut tasks = Vec::new();
    for w in 0..32 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..200 {
                let key = format!("/r/{w}/{i}");
                let rev = rev_of(&s.txn(put(&key)).await.expect("txn"));
                revs.push((key, rev));
            }
            revs
        }));
    }
    let mut expect = BTreeMap::new();
    for t in tasks {
        expect.extend(t.await.expect("writer"));
    }
    // Snapshot (and purge the log) now, then write more so restart = snapshot + log replay.
    store
        .raft()
        .trigger()
        .snapshot()
        .await
        .expect("trigger snapshot");
    store
        .raft()
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.snapshot.is_some(), "snapshot built")
        .await
        .expect("snapshot");
    for i in 0..100 {
        let key = format!("/r/after/{i}");
        let rev = rev_of(&store.txn(put(&key)).await.expect("txn"));
        expect.insert(key, rev);
    }
    let last = store.current_revision();
    assert_eq!(last, 6500);
    store.shutdown().await.expect("shutdown");
    drop(store);
    assert!(
        dir.path().join("raft/snapshot").exists(),
        "a snapshot was taken"
    );

    let started = Instant::now();
    let store = open(dir.path(), 1000).await;
    println!("reopen with 6500 keys took {:?}", started.elapsed());
    assert_eq!(store.current_revision(), last);
    let all = store
        .range(RangeRequest {
            prefix: "/r/".into(),
            ..Default::default()
        })
        .await
        .expect("range");
    let got: BTreeMap<String, u64> = all
        .items
        .iter()
        .map(|k| (k.key.clone(), k.mod_revision))
        .collect();
    assert_eq!(got, expect);
    // History survives the restart too.
    let mut w = store.watch("/r/", last - 5).expect("watch");
    assert_eq!(
        w.next().await.and_then(|r| r.ok()).map(|e| e.revision),
        Some(last - 4)
    );
    let next = rev_of(&store.txn(put("/r/new")).await.expect("txn"));
    assert_eq!(next, last + 1);
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_data_dir_is_used_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1000).await;
    let second = Store::open(StoreConfig::new(dir.path())).await;
    assert!(matches!(second, Err(StoreError::Unavailable(_))));
    store.txn(put("/a")).await.expect("txn");
    store.shutdown().await.expect("shutdown");
    // Released by shutdown even while a handle is still alive.
    let again = open(dir.path(), 1000).await;
    assert_eq!(again.current_revision(), 1);
    assert!(matches!(
        store.txn(put("/b")).await,
        Err(StoreError::Unavailable(_))
    ));
    again.shutdown().await.expect("shutdown");
}

/// Child half of `acknowledged_writes_survive_kill_9`: writes forever, printing each ack.
#[tokio::test]
#[ignore = "run only as the child process of acknowledged_writes_survive_kill_9"]
async fn crash_child() {
    let Ok(dir) = std::env::var("FERROKUBE_STORE_CRASH_DIR") else {
        return;
    };
    let store = open(std::path::Path::new(&dir), 1000).await;
    let mut i = 0u64;
    loop {
        let key = format!("/crash/{i}");
        let rev = rev_of(&store.txn(put(&key)).await.expect("txn"));
        println!("ACK {key} {rev}");
        i += 1;
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERROKUBE_STORE_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(rest) = line.strip_prefix("ACK ") {
            let mut parts = rest.split(' ');
            let (Some(k), Some(r)) = (parts.next(), parts.next()) else {
                continue;
            };
            acked.push((k.to_string(), r.parse::<u64>().expect("rev")));
            if acked.len() >= 300 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL child");
    let _ = child.wait();
    assert_eq!(acked.len(), 300);
    let store = open(dir.path(), 1000).await;
    for (key, rev) in &acked {
        let kv = store.get(key).await.expect("get");
        assert_eq!(kv.map(|k| k.mod_revision), Some(*rev), "{key}");
    }
    assert!(store.current_revision() >= acked.last().map(|a| a.1).unwrap_or(0));
    store.shutdown().await.expect("shutdown");
}

/// Throughput at 1/16/64 concurrent writers; prints, never asserts.
/// `cargo test -p ferrokube-store --release --test store -- --ignored --nocapture throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn throughput() {
    for writers in [1usize, 16, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opened = Instant::now();
        let store = open(dir.path(), 100_000).await;
        println!(
            "fresh open (bootstrap + election) took {:?}",
            opened.elapsed()
        );
        let per = if writers == 1 { 500 } else { 8000 / writers };
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..writers {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    s.txn(put(&format!("/bench/{w}/{i}"))).await.expect("txn");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        let n = writers * per;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{writers:>3} writers: {n} txns in {secs:.2}s = {:.0} txn/s",
            n as f64 / secs
        );
        store.shutdown().await.expect("shutdown");
    }
}

/// Fan-out latency: 1,000 watchers, time from txn ack to the last watcher receiving the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn watch_fanout_latency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 100_000).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    for _ in 0..1000 {
        let mut w = store
            .watch("/fan/", store.current_revision())
            .expect("watch");
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(e)) = w.next().await {
                let _ = tx.send((e.revision, Instant::now()));
            }
        });
    }
    drop(tx);
    let mut lat = Vec::new();
    for i in 0..200 {
        let start = Instant::now();
        let rev = rev_of(&store.txn(put(&format!("/fan/{i}"))).await.expect("txn"));
        let mut last = start;
        for _ in 0..1000 {
            let (r, t) = rx.recv().await.expect("event");
            assert_eq!(r, rev);
            last = last.max(t);
        }
        lat.push(last - start);
    }
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "write->last of 1000 watchers: p50 {:?} p99 {:?}",
        p(0.5),
        p(0.99)
    );
    store.shutdown().await.expect("shutdown");
}
