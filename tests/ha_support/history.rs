//! A write/read history recorded by concurrent clients, and its checks: no acknowledged write
//! lost, no resourceVersion reused or going backwards for a client, and no stale read of a
//! register (each worker owns one ConfigMap "register" whose value only grows; a read that
//! starts after a write of value v was acknowledged must see v or later).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

/// Namespace the load writes in.
pub const NS: &str = "default";

/// One acknowledged create.
#[derive(Clone, Debug)]
pub struct Created {
    pub name: String,
    pub rv: u64,
}

/// One acknowledged register write (value) and when the ack came.
#[derive(Clone, Debug)]
pub struct RegWrite {
    pub value: u64,
    pub acked: Instant,
}

/// One register read: when it started and what it saw.
#[derive(Clone, Debug)]
pub struct RegRead {
    pub started: Instant,
    pub value: u64,
}

/// Everything one worker saw.
#[derive(Default, Debug)]
pub struct WorkerHistory {
    pub creates: Vec<Created>,
    pub reg_writes: Vec<RegWrite>,
    pub reg_reads: Vec<RegRead>,
    /// Acks in order (creates and register writes): must strictly increase.
    pub acked_rvs: Vec<u64>,
    pub failures: usize,
    /// The register's name.
    pub reg: String,
    /// When the worker's last ack came.
    pub last_ack: Option<Instant>,
}

/// A running load: workers rotating over the clients on error.
pub struct Load {
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<WorkerHistory>>,
    pub histories: Arc<Mutex<Vec<Arc<Mutex<WorkerHistory>>>>>,
}

fn rv_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .expect("numeric resourceVersion")
}

fn cm(name: &str, value: u64) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_string(), value.to_string())])),
        ..Default::default()
    }
}

fn value_of(c: &ConfigMap) -> u64 {
    c.data
        .as_ref()
        .and_then(|d| d.get("v"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Load {
    /// Starts `workers` workers; worker i starts on client i % n and moves on after an error.
    pub fn start(clients: Vec<kube::Client>, workers: usize, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let histories = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for w in 0..workers {
            let (clients, stop) = (clients.clone(), stop.clone());
            let hist = Arc::new(Mutex::new(WorkerHistory::default()));
            histories.lock().unwrap().push(hist.clone());
            let prefix = format!("{prefix}-w{w}");
            handles.push(tokio::spawn(async move {
                worker(clients, w, &prefix, stop, hist.clone()).await;
                std::mem::take(&mut *hist.lock().unwrap())
            }));
        }
        Load {
            stop,
            handles,
            histories,
        }
    }

    /// Total acknowledged creates so far.
    pub fn acked(&self) -> usize {
        self.histories
            .lock()
            .unwrap()
            .iter()
            .map(|h| h.lock().unwrap().creates.len())
            .sum()
    }

    /// Latest ack of any worker.
    pub fn last_ack(&self) -> Option<Instant> {
        self.histories
            .lock()
            .unwrap()
            .iter()
            .filter_map(|h| h.lock().unwrap().last_ack)
            .max()
    }

    /// Stops the workers and returns their histories.
    pub async fn stop(self) -> Vec<WorkerHistory> {
        self.stop.store(true, Ordering::Release);
        let mut out = Vec::new();
        for h in self.handles {
            out.push(h.await.expect("worker"));
        }
        out
    }
}

async fn worker(
    clients: Vec<kube::Client>,
    w: usize,
    prefix: &str,
    stop: Arc<AtomicBool>,
    hist: Arc<Mutex<WorkerHistory>>,
) {
    let n = clients.len();
    let mut at = w % n;
    let reg = format!("{prefix}-reg");
    hist.lock().unwrap().reg = reg.clone();
    let mut seq = 0u64;
    let mut reg_value = 0u64;
    let mut reg_obj: Option<ConfigMap> = None;
    while !stop.load(Ordering::Acquire) {
        let api: Api<ConfigMap> = Api::namespaced(clients[at].clone(), NS);
        seq += 1;
        let name = format!("{prefix}-{seq}");
        let ok = match api.create(&PostParams::default(), &cm(&name, seq)).await {
            Ok(c) => {
                let mut h = hist.lock().unwrap();
                let rv = rv_of(&c.metadata);
                h.creates.push(Created { name, rv });
                h.acked_rvs.push(rv);
                h.last_ack = Some(Instant::now());
                true
            }
            Err(_) => false,
        };
        // The register: create once, then replace with a growing value (RV precondition).
        let next = reg_value + 1;
        let res = match &reg_obj {
            None => api.create(&PostParams::default(), &cm(&reg, next)).await,
            Some(prev) => {
                let mut upd = cm(&reg, next);
                upd.metadata.resource_version = prev.metadata.resource_version.clone();
                api.replace(&reg, &PostParams::default(), &upd).await
            }
        };
        let ok2 = match res {
            Ok(c) => {
                reg_value = next;
                let mut h = hist.lock().unwrap();
                h.acked_rvs.push(rv_of(&c.metadata));
                h.reg_writes.push(RegWrite {
                    value: next,
                    acked: Instant::now(),
                });
                h.last_ack = Some(Instant::now());
                reg_obj = Some(c);
                true
            }
            Err(_) => {
                // Unknown outcome: re-read the register before the next replace.
                reg_obj = api.get_opt(&reg).await.ok().flatten();
                if let Some(c) = &reg_obj {
                    reg_value = value_of(c);
                }
                false
            }
        };
        // Read the register through another server.
        let other: Api<ConfigMap> = Api::namespaced(clients[(at + 1) % n].clone(), NS);
        let started = Instant::now();
        if let Ok(Some(c)) = other.get_opt(&reg).await {
            hist.lock().unwrap().reg_reads.push(RegRead {
                started,
                value: value_of(&c),
            });
        }
        if !(ok && ok2) {
            hist.lock().unwrap().failures += 1;
            at = (at + 1) % n;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Checks the histories against the final state read through `client`.
pub async fn check(histories: &[WorkerHistory], client: kube::Client) {
    let api: Api<ConfigMap> = Api::namespaced(client, NS);
    let all = api.list(&ListParams::default()).await.expect("final list");
    let present: BTreeMap<String, u64> = all
        .items
        .iter()
        .map(|c| (c.metadata.name.clone().unwrap_or_default(), value_of(c)))
        .collect();
    let mut seen_rvs = HashSet::new();
    for (w, h) in histories.iter().enumerate() {
        for c in &h.creates {
            assert!(
                present.contains_key(&c.name),
                "acknowledged create {} lost",
                c.name
            );
            assert!(
                seen_rvs.insert(c.rv),
                "resourceVersion {} acknowledged twice",
                c.rv
            );
        }
        for pair in h.acked_rvs.windows(2) {
            assert!(
                pair[0] < pair[1],
                "worker {w}: resourceVersion went backwards: {pair:?}"
            );
        }
        for r in &h.reg_reads {
            let floor = h
                .reg_writes
                .iter()
                .filter(|wr| wr.acked < r.started)
                .map(|wr| wr.value)
                .max()
                .unwrap_or(0);
            assert!(
                r.value >= floor,
                "worker {w}: stale read {} < {floor}",
                r.value
            );
        }
        if let Some(last) = h.reg_writes.last() {
            let final_value = present.get(&h.reg).copied().unwrap_or(0);
            assert!(
                final_value >= last.value,
                "worker {w}: register lost its last write"
            );
        }
    }
}

/// Totals for a report line.
pub fn summary(histories: &[WorkerHistory]) -> String {
    let creates: usize = histories.iter().map(|h| h.creates.len()).sum();
    let regs: usize = histories.iter().map(|h| h.reg_writes.len()).sum();
    let reads: usize = histories.iter().map(|h| h.reg_reads.len()).sum();
    let fails: usize = histories.iter().map(|h| h.failures).sum();
    format!("{creates} creates, {regs} register writes, {reads} reads acknowledged; {fails} failed rounds")
}
