//! ClusterIP and NodePort allocation for Services (upstream's service REST allocators).
//!
//! Every allocated address and port is one store key (`/ferrokube.io/serviceips/_/<ip>`,
//! `/ferrokube.io/servicenodeports/_/<port>`) written with a must-be-absent precondition in the
//! same transaction as the Service, and deleted in the transaction that deletes it: the
//! allocator's state survives restarts and nothing is ever handed out twice. A lost race on a
//! key fails the transaction and the write is retried with fresh picks.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use ferrokube_store::{Compare, RangeRequest};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::hooks::{HookContext, OnFail, StorageHooks, TxnExtras};
use super::Registry;
use crate::status::{ApiError, ApiResult, Cause};

const IP_PREFIX: &str = "/ferrokube.io/serviceips/_/";
const PORT_PREFIX: &str = "/ferrokube.io/servicenodeports/_/";

/// An IPv4 CIDR such as `10.96.0.0/12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    base: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    /// Parses `a.b.c.d/n` (host bits are masked off).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let prefix: u8 = prefix.parse().map_err(|e| format!("{s:?}: {e}"))?;
        if !(1..=30).contains(&prefix) {
            return Err(format!("{s:?}: the prefix length must be 1-30"));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Ipv4Cidr {
            base: u32::from(ip) & mask,
            prefix,
        })
    }

    fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    /// Whether `ip` is an assignable address: inside, and neither network nor broadcast address.
    pub fn assignable(&self, ip: Ipv4Addr) -> bool {
        let offset = u64::from(u32::from(ip).wrapping_sub(self.base));
        (u32::from(ip) & (u32::MAX << (32 - self.prefix))) == self.base
            && offset != 0
            && offset != self.size() - 1
    }

    /// The address `offset` into the range.
    pub fn nth(&self, offset: u64) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(offset as u32))
    }

    /// The first assignable address: the `kubernetes` Service's ClusterIP.
    pub fn first_host(&self) -> Ipv4Addr {
        self.nth(1)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// Where Service addresses and node ports come from (`--service-cidr`,
/// `--service-node-port-range`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRanges {
    /// The ClusterIP range.
    pub cidr: Ipv4Cidr,
    /// The NodePort range.
    pub node_ports: RangeInclusive<u16>,
}

impl Default for ServiceRanges {
    fn default() -> Self {
        ServiceRanges {
            cidr: Ipv4Cidr::parse("10.96.0.0/12").expect("valid default CIDR"),
            node_ports: 30000..=32767,
        }
    }
}

/// Parses a port range `30000-32767`.
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not a port range (low-high)"))?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?,
        b.trim().parse().map_err(|e| format!("{s:?}: {e}"))?,
    );
    if a == 0 || a > b {
        return Err(format!("{s:?}: need 0 < low <= high"));
    }
    Ok(a..=b)
}

/// The allocation keys a write claims (must be absent) and releases.
#[derive(Debug, Default)]
pub struct Claims {
    claim: Vec<String>,
    release: Vec<String>,
}

impl Claims {
    /// Adds the claims to the write's transaction: a lost race re-runs the write, which then
    /// picks other values (or refuses a requested one that is now taken).
    pub fn apply(self, txn: &mut TxnExtras) {
        for key in self.claim {
            txn.require(&key, Compare::Absent, OnFail::Retry);
            txn.put(&key, &json!({"metadata": {"name": key}}));
        }
        for key in self.release {
            txn.delete(&key);
        }
    }
}

/// The Service kind's storage hook: allocates and releases ClusterIPs and node ports inside
/// the Service's own store transaction.
pub struct ServiceAddresses;

impl StorageHooks for ServiceAddresses {
    fn before_create<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            ctx.registry
                .service_claims(Some(obj), None)
                .await?
                .apply(txn);
            Ok(())
        })
    }

    fn before_update<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        old: &'a Value,
        new: &'a mut Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            ctx.registry
                .service_claims(Some(new), Some(old))
                .await?
                .apply(txn);
            Ok(())
        })
    }

    fn before_delete<'a>(
        &'a self,
        ctx: &'a HookContext<'_>,
        obj: &'a Value,
        txn: &'a mut TxnExtras,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move {
            ctx.registry
                .service_claims(None, Some(obj))
                .await?
                .apply(txn);
            Ok(())
        })
    }
}

fn spec_type(svc: &Value) -> &str {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn wants_node_ports(svc: &Value) -> bool {
    matches!(spec_type(svc), "NodePort" | "LoadBalancer")
}

/// The ClusterIP a service holds (not `None`, not for ExternalName).
fn held_ip(svc: &Value) -> Option<String> {
    if spec_type(svc) == "ExternalName" {
        return None;
    }
    svc.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .map(str::to_string)
}

/// Node ports by (port, protocol).
fn held_ports(svc: &Value) -> Vec<(i64, String, u16)> {
    if !wants_node_ports(svc) {
        return Vec::new();
    }
    ports(svc)
        .iter()
        .filter_map(|p| {
            let np = p.get("nodePort").and_then(Value::as_u64)?;
            Some((
                p.get("port").and_then(Value::as_i64).unwrap_or(0),
                protocol(p),
                u16::try_from(np).ok()?,
            ))
        })
        .collect()
}

fn ports(svc: &Value) -> Vec<Value> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn protocol(port: &Value) -> String {
    port.get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP")
        .to_string()
}

fn held_keys(svc: &Value) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = held_ip(svc)
        .map(|ip| format!("{IP_PREFIX}{ip}"))
        .into_iter()
        .collect();
    keys.extend(
        held_ports(svc)
            .into_iter()
            .map(|(_, _, np)| format!("{PORT_PREFIX}{np}")),
    );
    keys
}

fn invalid(svc: &Value, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        super::meta::name(svc),
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.into(),
        }],
    )
}

fn forbidden(svc: &Value, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        "",
        "Service",
        super::meta::name(svc),
        vec![Cause {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {message}"),
            field: field.into(),
        }],
    )
}

impl Registry {
    /// For a Service write: fills in the ClusterIP and node ports `new` asks the server to pick
    /// (keeping `current`'s), checks requested ones, and returns the keys to claim and release.
    /// `new` None is a delete.
    pub async fn service_claims(
        &self,
        new: Option<&mut Value>,
        current: Option<&Value>,
    ) -> ApiResult<Claims> {
        let held = current.map(held_keys).unwrap_or_default();
        let wanted = match new {
            Some(new) => {
                self.assign_cluster_ip(new, current, &held).await?;
                self.assign_node_ports(new, current, &held).await?;
                held_keys(new)
            }
            None => BTreeSet::new(),
        };
        Ok(Claims {
            claim: wanted.difference(&held).cloned().collect(),
            release: held.difference(&wanted).cloned().collect(),
        })
    }

    async fn taken(&self, key: &str) -> ApiResult<bool> {
        Ok(self.store.get(key).await?.is_some())
    }

    /// Every allocated key's suffix under `prefix`.
    async fn allocated(&self, prefix: &str) -> ApiResult<BTreeSet<String>> {
        let resp = self
            .store
            .range(RangeRequest {
                prefix: prefix.to_string(),
                ..Default::default()
            })
            .await?;
        Ok(resp
            .items
            .into_iter()
            .map(|kv| kv.key[prefix.len()..].to_string())
            .collect())
    }

    async fn assign_cluster_ip(
        &self,
        new: &mut Value,
        current: Option<&Value>,
        held: &BTreeSet<String>,
    ) -> ApiResult<()> {
        let spec_type = spec_type(new).to_string();
        let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if spec_type == "ExternalName" {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(field);
            }
            return Ok(());
        }
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                spec.get("clusterIPs")
                    .and_then(|v| v.get(0))
                    .and_then(Value::as_str)
            })
            .unwrap_or("")
            .to_string();
        let old = current.and_then(|c| {
            (self::spec_type(c) != "ExternalName")
                .then(|| c.pointer("/spec/clusterIP").and_then(Value::as_str))
                .flatten()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
        let ip = match (old, requested.as_str()) {
            (Some(old), "") => old,
            (Some(old), req) if req != old => {
                let svc = new.clone();
                return Err(invalid(
                    &svc,
                    "spec.clusterIPs[0]",
                    format!("Invalid value: []string{{\"{req}\"}}: may not change once set"),
                ));
            }
            (_, "None") => "None".to_string(),
            (_, "") => self.pick_ip().await?,
            (_, req) => {
                let req = req.to_string();
                self.check_requested_ip(new, &req, held).await?;
                req
            }
        };
        let spec = new
            .get_mut("spec")
            .and_then(Value::as_object_mut)
            .expect("checked above");
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        Ok(())
    }

    async fn check_requested_ip(
        &self,
        svc: &Value,
        req: &str,
        held: &BTreeSet<String>,
    ) -> ApiResult<()> {
        let cidr = self.service_ranges.cidr;
        let fail = |why: String| {
            invalid(
                svc,
                "spec.clusterIPs",
                format!("Invalid value: []string{{\"{req}\"}}: failed to allocate IP {req}: {why}"),
            )
        };
        let Ok(ip) = req.parse::<Ipv4Addr>() else {
            return Err(invalid(
                svc,
                "spec.clusterIPs[0]",
                format!("Invalid value: \"{req}\": must be a valid IP address"),
            ));
        };
        if !cidr.assignable(ip) {
            return Err(fail(format!(
                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
            )));
        }
        let key = format!("{IP_PREFIX}{ip}");
        if !held.contains(&key) && self.taken(&key).await? {
            return Err(fail("provided IP is already allocated".into()));
        }
        Ok(())
    }

    /// A free address, from a random point of the range onwards; never the network address
    /// nor the first host (the `kubernetes` Service's) unless asked for by name.
    async fn pick_ip(&self) -> ApiResult<String> {
        let cidr = self.service_ranges.cidr;
        let taken = self.allocated(IP_PREFIX).await?;
        let usable = cidr.size() - 3; // network, kubernetes, broadcast
        let start = rand::random_range(0..usable);
        (0..usable)
            .map(|i| cidr.nth(2 + (start + i) % usable).to_string())
            .find(|ip| !taken.contains(ip))
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "failed to allocate a serviceIP: range is full ({cidr})"
                ))
            })
    }

    async fn assign_node_ports(
        &self,
        new: &mut Value,
        current: Option<&Value>,
        held: &BTreeSet<String>,
    ) -> ApiResult<()> {
        let range = self.service_ranges.node_ports.clone();
        let old_ports = current.map(held_ports).unwrap_or_default();
        let wants = wants_node_ports(new);
        let mut list = ports(new);
        let mut used: BTreeSet<u16> = BTreeSet::new();
        let mut taken: Option<BTreeSet<String>> = None;
        for (i, port) in list.iter_mut().enumerate() {
            let field = format!("spec.ports[{i}].nodePort");
            let requested = port.get("nodePort").and_then(Value::as_u64);
            let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
            let proto = protocol(port);
            let kept = old_ports
                .iter()
                .find(|(p, pr, _)| *p == number && *pr == proto)
                .map(|(_, _, np)| *np);
            let Some(map) = port.as_object_mut() else {
                continue;
            };
            if !wants {
                match requested {
                    // Leaving NodePort: the old node ports go with the type.
                    Some(np)
                        if current.is_some_and(|c| {
                            held_ports(c).iter().any(|h| u64::from(h.2) == np)
                        }) =>
                    {
                        map.remove("nodePort");
                    }
                    Some(_) => {
                        return Err(forbidden(
                            new,
                            &field,
                            &format!("may not be used when `type` is '{}'", spec_type(new)),
                        ))
                    }
                    None => {}
                }
                continue;
            }
            let np = match requested.or(kept.map(u64::from)) {
                Some(np) => {
                    let key = format!("{PORT_PREFIX}{np}");
                    let ok_range = u16::try_from(np).is_ok_and(|p| range.contains(&p));
                    if !ok_range {
                        return Err(invalid(new, &field, format!(
                            "Invalid value: {np}: provided port is not in the valid range. The range of valid ports is {}-{}",
                            range.start(), range.end()
                        )));
                    }
                    let np = np as u16;
                    if !held.contains(&key) && !used.contains(&np) && self.taken(&key).await? {
                        return Err(invalid(
                            new,
                            &field,
                            format!("Invalid value: {np}: provided port is already allocated"),
                        ));
                    }
                    np
                }
                None => {
                    if taken.is_none() {
                        taken = Some(self.allocated(PORT_PREFIX).await?);
                    }
                    let taken = taken.as_ref().expect("filled above");
                    pick_port(&range, taken, &used).ok_or_else(|| {
                        ApiError::internal(format!(
                            "failed to allocate a nodePort: range is full ({}-{})",
                            range.start(),
                            range.end()
                        ))
                    })?
                }
            };
            used.insert(np);
            map.insert("nodePort".into(), json!(np));
        }
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            if spec.contains_key("ports") {
                spec.insert("ports".into(), Value::Array(list));
            }
        }
        Ok(())
    }
}

fn pick_port(
    range: &RangeInclusive<u16>,
    taken: &BTreeSet<String>,
    used: &BTreeSet<u16>,
) -> Option<u16> {
    let size = u32::from(range.end() - range.start()) + 1;
    let start = rand::random_range(0..size);
    (0..size)
        .map(|i| range.start() + ((start + i) % size) as u16)
        .find(|p| !used.contains(p) && !taken.contains(&p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_bounds_assignable_addresses() {
        let c = Ipv4Cidr::parse("10.96.3.4/12").unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/12");
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 96, 0, 1));
        assert!(!c.assignable(Ipv4Addr::new(10, 96, 0, 0)));
        assert!(c.assignable(Ipv4Addr::new(10, 96, 0, 1)));
        assert!(c.assignable(Ipv4Addr::new(10, 111, 255, 254)));
        assert!(!c.assignable(Ipv4Addr::new(10, 111, 255, 255)));
        assert!(!c.assignable(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(Ipv4Cidr::parse("10.0.0.0").is_err());
        assert!(Ipv4Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("30000-32767").unwrap(), 30000..=32767);
        assert!(parse_port_range("3-1").is_err());
        assert!(parse_port_range("x").is_err());
    }

    #[test]
    fn picked_ports_skip_taken_and_used() {
        let taken: BTreeSet<String> = ["10".to_string(), "11".to_string()].into();
        let used: BTreeSet<u16> = [12].into();
        assert_eq!(pick_port(&(10..=13), &taken, &used), Some(13));
        let used: BTreeSet<u16> = [12, 13].into();
        assert_eq!(pick_port(&(10..=13), &taken, &used), None);
    }
}
