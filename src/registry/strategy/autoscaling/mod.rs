//! HorizontalPodAutoscaler (upstream `pkg/registry/autoscaling/horizontalpodautoscaler` and
//! `pkg/apis/autoscaling`): served as autoscaling/v2 (the storage version) and autoscaling/v1,
//! converted through annotations as upstream does; defaults and validation of the v2 shape.

pub mod conversion;
mod defaults;
mod validation;

use ferrokube_apimachinery::validation::FieldError;
use serde_json::Value;

use super::Strategy;
use crate::registry::descriptor::VersionConversion;

pub use defaults::default_v2;
pub use validation::validate_v2;

/// Which served version a strategy instance handles.
pub struct Hpa {
    v1: bool,
}

/// The autoscaling/v2 strategy.
pub static HPA_V2: Hpa = Hpa { v1: false };
/// The autoscaling/v1 strategy.
pub static HPA_V1: Hpa = Hpa { v1: true };

/// How autoscaling/v1 objects reach the v2 storage version and back.
pub const HPA_V1_CONVERSION: VersionConversion = VersionConversion {
    storage_api_version: "autoscaling/v2",
    to_storage: |v1| {
        let mut v2 = conversion::v1_to_v2(v1);
        default_v2(&mut v2);
        v2
    },
    from_storage: conversion::v2_to_v1,
};

impl Strategy for Hpa {
    fn default(&self, obj: &mut Value) {
        if self.v1 {
            super::set_default(obj, &["spec", "minReplicas"], serde_json::json!(1));
        } else {
            default_v2(obj);
        }
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    /// Upstream validates the internal (v2-shaped) object whatever version was sent.
    fn validate(&self, new: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        if self.v1 {
            validate_v2(&conversion::v1_to_v2(new))
        } else {
            validate_v2(new)
        }
    }
}
