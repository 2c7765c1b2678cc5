//! Custom resources: upstream's `customResourceStrategy`. Generation starts at 1 and rises on
//! every change outside `metadata` (and outside `status` when the status subresource is on,
//! where the main resource cannot change status anyway).

use serde_json::Value;

use super::Strategy;

/// The custom-resource strategy; `status_subresource` says whether status counts.
pub struct CustomResource {
    status_subresource: bool,
}

/// Custom resources without the status subresource.
pub static CUSTOM_RESOURCE: CustomResource = CustomResource {
    status_subresource: false,
};
/// Custom resources with the status subresource.
pub static CUSTOM_RESOURCE_WITH_STATUS: CustomResource = CustomResource {
    status_subresource: true,
};

impl Strategy for CustomResource {
    fn tracks_generation(&self) -> bool {
        true
    }

    fn prepare_create(&self, obj: &mut Value) {
        // With the status subresource, create cannot set status (upstream's PrepareForCreate).
        if self.status_subresource {
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
    }

    fn generation_changed(&self, new: &Value, old: &Value) -> bool {
        let content = |obj: &Value| {
            let mut copy = obj.clone();
            if let Some(map) = copy.as_object_mut() {
                map.remove("metadata");
                if self.status_subresource {
                    map.remove("status");
                }
            }
            copy
        };
        content(new) != content(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_cannot_set_status_with_the_subresource() {
        let mut obj = json!({"spec": {}, "status": {"ready": true}});
        CUSTOM_RESOURCE.prepare_create(&mut obj);
        assert!(obj.get("status").is_some());
        CUSTOM_RESOURCE_WITH_STATUS.prepare_create(&mut obj);
        assert!(obj.get("status").is_none());
    }

    #[test]
    fn generation_counts_everything_but_metadata_and_subresource_status() {
        let old = json!({"metadata": {"labels": {}}, "spec": {"a": 1}, "status": {"b": 1}});
        let label =
            json!({"metadata": {"labels": {"x": "y"}}, "spec": {"a": 1}, "status": {"b": 1}});
        let status = json!({"metadata": {"labels": {}}, "spec": {"a": 1}, "status": {"b": 2}});
        let top =
            json!({"metadata": {"labels": {}}, "spec": {"a": 1}, "status": {"b": 1}, "data": 1});
        assert!(!CUSTOM_RESOURCE.generation_changed(&label, &old));
        assert!(CUSTOM_RESOURCE.generation_changed(&status, &old));
        assert!(!CUSTOM_RESOURCE_WITH_STATUS.generation_changed(&status, &old));
        assert!(CUSTOM_RESOURCE_WITH_STATUS.generation_changed(&top, &old));
    }
}
