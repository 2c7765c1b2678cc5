//! Validation helpers ported from upstream `util/validation`, `api/validation` (ObjectMeta)
//! and a table of per-kind checks; errors carry upstream's exact message shape.

mod api_service;
mod cron;
mod errors;
mod kinds;
mod names;
mod object_meta;
mod sysctls;

pub use api_service::validate_api_service;
pub use errors::{aggregate_message, go_map_literal, go_quote, BadValue, ErrorType, FieldError};
pub use kinds::*;
pub use names::{
    empty_error, is_config_map_key, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain,
    is_qualified_name, is_valid_label_value, is_valid_path_segment_name,
    is_valid_path_segment_prefix, is_valid_port_num, max_len_error, regex_error,
    DNS1035_LABEL_MAX_LENGTH, DNS1123_LABEL_MAX_LENGTH, DNS1123_SUBDOMAIN_MAX_LENGTH,
    LABEL_VALUE_MAX_LENGTH, QUALIFIED_NAME_MAX_LENGTH,
};
pub use object_meta::{
    generate_name, generate_name_with, validate_annotations, validate_labels, validate_object_meta,
    NameRule, TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
};
pub use sysctls::validate_sysctls;
