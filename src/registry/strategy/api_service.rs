//! APIServices: upstream's `SetDefaults_ServiceReference` gives a service reference port 443.

use serde_json::{json, Value};

use super::Strategy;

/// The strategy of `apiregistration.k8s.io` APIServices.
pub struct ApiServiceStrategy;
/// The shared instance.
pub static API_SERVICE: ApiServiceStrategy = ApiServiceStrategy;

impl Strategy for ApiServiceStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(service) = obj
            .pointer_mut("/spec/service")
            .and_then(Value::as_object_mut)
        {
            service.entry("port").or_insert(json!(443));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_port_defaults_to_443() {
        let mut obj = json!({"spec": {"service": {"namespace": "n", "name": "s"}}});
        API_SERVICE.default(&mut obj);
        assert_eq!(obj["spec"]["service"]["port"], 443);
        let mut local = json!({"spec": {"group": "g"}});
        API_SERVICE.default(&mut local);
        assert!(local["spec"].get("service").is_none());
    }
}
