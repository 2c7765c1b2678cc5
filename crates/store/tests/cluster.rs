//! Three stores in one process joined through an in-memory [`PeerTransport`]: the consensus
//! side of HA (forwarding, read index, membership) without sockets or TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube_store::raft::transport::BoxFuture;
use ferrokube_store::{
    Op, PeerConfig, PeerTransport, Role, Store, StoreConfig, StoreError, TransportError, Txn,
    TxnOutcome,
};

/// Delivers a call straight to the addressed store's `serve_peer`.
#[derive(Default)]
struct Mem(Mutex<HashMap<String, Store>>);

/// The transport handle each store holds.
struct MemTransport(Arc<Mem>);

impl PeerTransport for MemTransport {
    fn call(
        &self,
        addr: &str,
        route: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<Result<Vec<u8>, TransportError>> {
        let target = self.0 .0.lock().unwrap().get(addr).cloned();
        let route = route.to_string();
        Box::pin(async move {
            let store = target.ok_or_else(|| TransportError::Unreachable("down".into()))?;
            match tokio::time::timeout(timeout, store.serve_peer(&route, &body)).await {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => Err(TransportError::Refused(e)),
                Err(_) => Err(TransportError::NoAnswer("timeout".into())),
            }
        })
    }
}

async fn open(dir: &std::path::Path, mem: &Arc<Mem>, id: u64, bootstrap: bool) -> Store {
    let addr = format!("n{id}");
    let store = Store::open(StoreConfig {
        node_id: id,
        peer: Some(PeerConfig {
            address: addr.clone(),
            transport: Arc::new(MemTransport(mem.clone())),
            bootstrap,
        }),
        ..StoreConfig::new(dir.join(&addr))
    })
    .await
    .expect("open");
    mem.0.lock().unwrap().insert(addr, store.clone());
    store
}

fn put(key: &str) -> Txn {
    Txn {
        compares: vec![],
        ops: vec![Op::Put {
            key: key.into(),
            value: format!(r#"{{"metadata":{{"name":"{key}"}}}}"#).into_bytes(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_forward_read_and_change_membership() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mem = Arc::new(Mem::default());
    let a = open(dir.path(), &mem, 1, true).await;
    a.txn(put("/x/before"))
        .await
        .expect("write on the first member");
    let b = open(dir.path(), &mem, 2, false).await;
    b.join("n1", "n2").await.expect("join b");
    let c = open(dir.path(), &mem, 3, false).await;
    c.join("n2", "n3").await.expect("join c through a follower");
    c.wait_ready().await.expect("c ready");

    // A write on a follower is forwarded and readable at once everywhere.
    let out = c.txn(put("/x/k")).await.expect("forwarded write");
    let TxnOutcome::Applied { revision, .. } = out else {
        panic!("{out:?}")
    };
    for s in [&a, &b, &c] {
        let kv = s.get("/x/k").await.expect("read").expect("present");
        assert_eq!(kv.mod_revision, revision);
        assert!(s.get("/x/before").await.expect("read").is_some());
    }

    let members = b.members().await.expect("members");
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m.role == Role::Leader).count(), 1);

    // Remove c; the last voter can never be removed.
    c.remove_member(3).await.expect("remove c");
    assert_eq!(a.members().await.expect("members").len(), 2);
    assert!(matches!(
        a.remove_member(42).await,
        Err(StoreError::NotFound(_))
    ));
    b.remove_member(2).await.expect("remove b");
    assert!(matches!(
        a.remove_member(1).await,
        Err(StoreError::Refused(_))
    ));
    a.txn(put("/x/after")).await.expect("a alone still writes");
}
