//! List and watch filtering: label and field selectors, parsed once per request.

use ferrokube_apimachinery::{fields, labels};
use serde_json::Value;

use super::descriptor::ResourceDescriptor;
use crate::status::{ApiError, ApiResult};

/// The selectors of one list or watch request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    label: Option<labels::Selector>,
    field: Option<fields::FieldSelector>,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector`; errors are upstream's 400s.
    pub fn parse(
        d: &ResourceDescriptor,
        label: Option<&str>,
        field: Option<&str>,
    ) -> ApiResult<Self> {
        let wrap = |err: String| {
            ApiError::bad_request(format!(
                "Unable to find {:?} that match label selector {:?}, field selector {:?}: {err}",
                d.qualified(),
                label.unwrap_or(""),
                field.unwrap_or("")
            ))
        };
        let label = match label.filter(|s| !s.is_empty()) {
            Some(s) => Some(labels::Selector::parse(s).map_err(|e| wrap(e.to_string()))?),
            None => None,
        };
        let field = match field.filter(|s| !s.is_empty()) {
            Some(s) => {
                let sel = fields::FieldSelector::parse(s).map_err(|e| wrap(e.to_string()))?;
                d.field_attrs
                    .validate(&sel)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Some(sel)
            }
            None => None,
        };
        Ok(Filter { label, field })
    }

    /// A filter naming one object by `metadata.name` (watch on a single object).
    pub fn with_name(mut self, name: &str) -> Self {
        let by_name =
            fields::FieldSelector::parse(&format!("metadata.name={}", fields::escape_value(name)))
                .expect("a metadata.name selector always parses");
        self.field = Some(match self.field.take() {
            None => by_name,
            Some(existing) => {
                let joined = format!("{existing},{by_name}");
                fields::FieldSelector::parse(&joined).unwrap_or(by_name)
            }
        });
        self
    }

    /// True when the filter selects everything (no parsing of objects needed).
    pub fn is_everything(&self) -> bool {
        self.label.as_ref().is_none_or(|l| l.is_empty())
            && self.field.as_ref().is_none_or(|f| f.is_empty())
    }

    /// This filter without its field selector (labels are the same in every version).
    pub fn labels_only(&self) -> Filter {
        Filter {
            label: self.label.clone(),
            field: None,
        }
    }

    /// Whether `obj`, already in the served version, passes the field selector.
    pub fn fields_match(&self, d: &ResourceDescriptor, obj: &Value) -> bool {
        self.field
            .as_ref()
            .is_none_or(|f| fields::matches(f, &d.field_attrs, obj))
    }

    /// Whether the field selector must see objects in the served version, which only a network
    /// call can produce (a CRD's conversion webhook): the caller then filters by labels on the
    /// stored objects and by fields after converting them.
    pub fn needs_served_fields(&self, d: &ResourceDescriptor) -> bool {
        self.field.as_ref().is_some_and(|f| !f.is_empty())
            && d.custom().is_some_and(|c| c.webhook.is_some())
    }

    /// Whether the stored `obj` passes both selectors. Field selectors name the served
    /// version's fields, so a kind served converted from another version's storage is matched
    /// in its served form (upstream converts the field labels instead; the result is the same).
    pub fn matches(&self, d: &ResourceDescriptor, obj: &Value) -> bool {
        if !self.label.as_ref().is_none_or(|l| l.matches_object(obj)) {
            return false;
        }
        let Some(field) = self.field.as_ref() else {
            return true;
        };
        match &d.conversion {
            Some(conv)
                if obj.get("apiVersion").and_then(Value::as_str)
                    == Some(conv.storage_api_version) =>
            {
                fields::matches(field, &d.field_attrs, &(conv.from_storage)(obj))
            }
            _ => fields::matches(field, &d.field_attrs, obj),
        }
    }
}
