//! API Priority and Fairness, simplified (upstream's `--enable-priority-and-fairness`): every
//! request that is not long-running is classified by the FlowSchemas into a priority level; an
//! `Exempt` level runs at once, a `Limited` level owns a share of the server's seats
//! (`--max-requests-inflight` + `--max-mutating-requests-inflight`, split by
//! `nominalConcurrencyShares`) and queues or rejects beyond them, so a flood from one class of
//! clients gets 429s while the system's own components, admins (`system:masters`, exempt) and
//! health probes still answer. The configuration is the served `flowcontrol.apiserver.k8s.io`
//! objects (bootstrapped as upstream's), followed live from the store.

pub mod bootstrap;
pub mod classify;
pub mod gate;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferrokube_auth::rbac::RequestInfo;
use ferrokube_auth::UserInfo;
use ferrokube_store::{KeyValue, Store};
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};

use gate::Gate;
pub use gate::{Rejection, Seat};

/// Where the two kinds live in the store.
const PREFIX: &str = "/flowcontrol.apiserver.k8s.io/";
/// How long a queued request may wait for a seat (upstream: a quarter of the 60 s request
/// timeout).
const QUEUE_WAIT_LIMIT: Duration = Duration::from_secs(15);

/// What a classified request runs under.
#[derive(Clone)]
pub struct Placement {
    pub flow_schema_uid: String,
    pub priority_level_uid: String,
    /// None for an exempt level.
    gate: Option<Arc<Gate>>,
}

impl Placement {
    /// Takes a seat at the level (exempt levels need none).
    pub async fn enter(&self) -> Result<Option<Seat>, Rejection> {
        match &self.gate {
            None => Ok(None),
            Some(gate) => gate.enter().await.map(Some),
        }
    }
}

/// A level as configured: its uid and, when limited, its gate.
struct Level {
    uid: String,
    gate: Option<Arc<Gate>>,
}

/// One consistent view of the configuration.
#[derive(Default)]
struct Config {
    schemas: Vec<FlowSchema>,
    levels: HashMap<String, Level>,
}

/// The dispatcher.
pub struct FlowControl {
    config: RwLock<Arc<Config>>,
    /// Seats shared by all limited levels.
    server_seats: usize,
}

impl FlowControl {
    /// Loads the configuration and follows it in the background.
    pub async fn start(store: Store, server_seats: usize) -> anyhow::Result<Arc<FlowControl>> {
        let fc = Arc::new(FlowControl {
            config: RwLock::new(Arc::default()),
            server_seats,
        });
        crate::registry::follow::start(&store, PREFIX, fc.clone()).await?;
        Ok(fc)
    }

    /// Where a request goes; None when no schema matches (upstream then uses catch-all, which
    /// the bootstrap objects always provide unless an operator deleted it: run unlimited).
    pub fn place(&self, user: &UserInfo, req: &RequestInfo) -> Option<Placement> {
        let config = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let schema = classify::classify(&config.schemas, user, req)?;
        let level_name = &schema.spec.as_ref()?.priority_level_configuration.name;
        let level = config.levels.get(level_name)?;
        Some(Placement {
            flow_schema_uid: schema.metadata.uid.clone().unwrap_or_default(),
            priority_level_uid: level.uid.clone(),
            gate: level.gate.clone(),
        })
    }

    /// Rebuilds the configuration; keeps the gates (and their held seats) of levels whose
    /// limits did not change.
    fn rebuild_config(&self, items: &[KeyValue]) {
        let (mut schemas, mut levels) = (Vec::new(), Vec::new());
        for kv in items {
            if kv.key.contains("/flowschemas/") {
                schemas.extend(serde_json::from_slice::<FlowSchema>(&kv.value).ok());
            } else if kv.key.contains("/prioritylevelconfigurations/") {
                levels.extend(serde_json::from_slice::<PriorityLevelConfiguration>(&kv.value).ok());
            }
        }
        let old = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let config = Config {
            schemas: classify::ordered(schemas),
            levels: self.levels(levels, &old),
        };
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    fn levels(
        &self,
        levels: Vec<PriorityLevelConfiguration>,
        old: &Config,
    ) -> HashMap<String, Level> {
        let limited = |l: &PriorityLevelConfiguration| {
            l.spec
                .as_ref()
                .and_then(|s| s.limited.clone())
                .filter(|_| l.spec.as_ref().is_some_and(|s| s.type_ == "Limited"))
        };
        let total_shares: i64 = levels
            .iter()
            .filter_map(limited)
            .map(|l| i64::from(l.nominal_concurrency_shares.unwrap_or(30)))
            .sum();
        let mut out = HashMap::new();
        for level in &levels {
            let name = level.metadata.name.clone().unwrap_or_default();
            let gate = limited(level).map(|l| {
                let shares = i64::from(l.nominal_concurrency_shares.unwrap_or(30));
                let seats = seats_for(self.server_seats, shares, total_shares);
                let capacity = queue_capacity(&l);
                match old.levels.get(&name).and_then(|o| o.gate.clone()) {
                    Some(g) if g.limit == seats.max(1) && g.queue_capacity() == capacity => g,
                    _ => Arc::new(Gate::new(seats, capacity, QUEUE_WAIT_LIMIT)),
                }
            });
            let uid = level.metadata.uid.clone().unwrap_or_default();
            out.insert(name, Level { uid, gate });
        }
        out
    }
}

impl crate::registry::follow::Rebuild for FlowControl {
    fn rebuild(&self, items: &[KeyValue]) {
        self.rebuild_config(items);
    }
}

/// Upstream's nominal concurrency limit: `ceil(server seats × shares / Σ shares)`.
fn seats_for(server_seats: usize, shares: i64, total_shares: i64) -> usize {
    if total_shares <= 0 {
        return server_seats;
    }
    let product = server_seats as i64 * shares;
    ((product + total_shares - 1) / total_shares).max(1) as usize
}

/// How many may wait at a level: `queues × queueLengthLimit` for `Queue`, none for `Reject`.
fn queue_capacity(
    limited: &k8s_openapi::api::flowcontrol::v1::LimitedPriorityLevelConfiguration,
) -> usize {
    let Some(response) = &limited.limit_response else {
        return 0;
    };
    if response.type_ != "Queue" {
        return 0;
    }
    let q = response.queuing.clone().unwrap_or_default();
    let queues = q.queues.unwrap_or(64).max(1) as usize;
    queues * q.queue_length_limit.unwrap_or(50).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_split_by_shares_as_upstream() {
        // Upstream's defaults: 600 seats over the bootstrap levels' 245 shares.
        let total: i64 = 5 + 30 + 40 + 10 + 40 + 100 + 20;
        assert_eq!(seats_for(600, 20, total), 49); // global-default
        assert_eq!(seats_for(600, 5, total), 13); // catch-all
        assert_eq!(seats_for(1, 5, total), 1); // never zero
    }
}
