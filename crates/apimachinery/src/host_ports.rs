//! A pod's host ports as upstream's NodePorts plugin reads them; the scheduler's filter and the
//! kubelet's admission both decide with these, so a pod the scheduler would never place on a
//! node is also refused when it names the node itself.

use k8s_openapi::api::core::v1::Pod;

/// One host port a container asks for: (protocol, hostIP, port); no hostIP is `0.0.0.0`.
pub type HostPort = (String, String, i32);

/// The host ports of the pod's containers.
pub fn of(pod: &Pod) -> Vec<HostPort> {
    let mut out = Vec::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|p| *p > 0) {
                let ip = p
                    .host_ip
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into());
                out.push((p.protocol.clone().unwrap_or_else(|| "TCP".into()), ip, hp));
            }
        }
    }
    out
}

/// Whether one of `wanted` is taken by `used`: same port and protocol on the same IP, where
/// `0.0.0.0` clashes with every IP.
pub fn clash(wanted: &[HostPort], used: &[HostPort]) -> bool {
    wanted.iter().any(|(wp, wip, wport)| {
        used.iter().any(|(proto, ip, port)| {
            wport == port && wp == proto && (wip == ip || wip == "0.0.0.0" || ip == "0.0.0.0")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ports: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"spec": {"containers": [
            {"name": "c", "ports": ports}]}}))
        .expect("pod")
    }

    #[test]
    fn ports_clash_on_the_same_ip_or_any_ip() {
        let any = of(&pod(
            serde_json::json!([{"containerPort": 80, "hostPort": 8080}]),
        ));
        assert_eq!(any, [("TCP".to_string(), "0.0.0.0".to_string(), 8080)]);
        let one_ip = of(&pod(serde_json::json!([
            {"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}])));
        let udp = of(&pod(serde_json::json!([
            {"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}])));
        let other_ip = of(&pod(serde_json::json!([
            {"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}])));
        assert!(clash(&any, &one_ip) && clash(&one_ip, &any));
        assert!(!clash(&one_ip, &other_ip));
        assert!(!clash(&any, &udp));
        assert!(of(&pod(serde_json::json!([{"containerPort": 80}]))).is_empty());
    }
}
