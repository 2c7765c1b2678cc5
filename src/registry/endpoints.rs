//! Where a Service's traffic goes, as the callers that dial a Service themselves need it
//! (webhooks, conversion webhooks, the aggregator): the name of the Service port a port number
//! refers to, and the ready EndpointSlice addresses serving that port name.

use serde_json::Value;

/// The name (possibly empty) of `service`'s port numbered `port`; None when it has no such port.
pub fn port_name(service: &Value, port: i32) -> Option<String> {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)?
        .iter()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(i64::from(port)))
        .map(|p| {
            p.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
}

/// Whether `slice` belongs to the Service `name` (label `kubernetes.io/service-name`).
pub fn serves(slice: &Value, name: &str) -> bool {
    slice
        .pointer("/metadata/labels/kubernetes.io~1service-name")
        .and_then(Value::as_str)
        == Some(name)
}

/// `host:port` of every ready endpoint address serving the port named `port_name`.
pub fn ready_addresses(slices: &[Value], port_name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for slice in slices {
        let port = slice
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
            .and_then(|p| p.get("port").and_then(Value::as_i64));
        let Some(port) = port else { continue };
        let endpoints = slice.get("endpoints").and_then(Value::as_array);
        for ep in endpoints.into_iter().flatten() {
            // Upstream counts an endpoint whose readiness is unknown as ready.
            let ready = ep.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false);
            let addresses = ep.get("addresses").and_then(Value::as_array);
            for addr in addresses.into_iter().flatten().filter_map(Value::as_str) {
                if ready {
                    let host = if addr.contains(':') {
                        format!("[{addr}]")
                    } else {
                        addr.to_string()
                    };
                    out.push(format!("{host}:{port}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ready_addresses_of_the_named_port() {
        let slices = vec![json!({
            "ports": [{"name": "https", "port": 8443}, {"name": "", "port": 9}],
            "endpoints": [
                {"addresses": ["10.0.0.1"]},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["fd00::3"], "conditions": {"ready": true}},
            ],
        })];
        assert_eq!(
            ready_addresses(&slices, "https"),
            vec!["10.0.0.1:8443", "[fd00::3]:8443"]
        );
        assert_eq!(ready_addresses(&slices, "")[0], "10.0.0.1:9");
        assert!(ready_addresses(&slices, "other").is_empty());
    }

    #[test]
    fn port_names_by_number() {
        let svc = json!({"spec": {"ports": [{"name": "https", "port": 443}, {"port": 80}]}});
        assert_eq!(port_name(&svc, 443).as_deref(), Some("https"));
        assert_eq!(port_name(&svc, 80).as_deref(), Some(""));
        assert_eq!(port_name(&svc, 8080), None);
    }
}
