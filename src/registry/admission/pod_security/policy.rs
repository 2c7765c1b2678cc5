//! The namespace side of Pod Security: levels, versions and the `pod-security.kubernetes.io/*`
//! labels that choose them (upstream's `api.PolicyToEvaluate`), parsed with upstream's defaults
//! (warn follows a stricter enforce level) and errors.

use std::collections::BTreeMap;
use std::fmt;

use crate::status::Cause;

/// The newest policy version this server evaluates, i.e. what `latest` means: the Kubernetes
/// minor version the server reports.
pub const LATEST_MINOR: u32 = 33;

/// Label keys, as upstream names them.
pub const ENFORCE_LEVEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
pub const AUDIT_LEVEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
pub const WARN_LEVEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

/// A Pod Security Standards level, least to most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    fn parse(value: &str) -> Result<Level, String> {
        match value {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted".into()),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        })
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    Minor(u32),
}

impl Version {
    fn parse(value: &str) -> Result<Version, String> {
        if value == "latest" {
            return Ok(Version::Latest);
        }
        value
            .strip_prefix("v1.")
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|m| m.parse().ok())
            .map(Version::Minor)
            .ok_or_else(|| r#"must be "latest" or "v1.x""#.into())
    }

    /// The minor version whose checks apply (newer than the server's counts as latest).
    pub fn effective_minor(self) -> u32 {
        match self {
            Version::Latest => LATEST_MINOR,
            Version::Minor(m) => m.min(LATEST_MINOR),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Minor(m) => write!(f, "v1.{m}"),
        }
    }
}

/// A level at a version, printed `restricted:latest` as upstream's messages do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    /// Privileged at latest: what an unlabelled namespace gets by default.
    pub const PRIVILEGED: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::Latest,
    };
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// What a namespace enforces, audits and warns about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enforce: LevelVersion::PRIVILEGED,
            audit: LevelVersion::PRIVILEGED,
            warn: LevelVersion::PRIVILEGED,
        }
    }
}

impl Policy {
    /// Whether nothing is enforced, audited or warned about.
    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }

    /// The policy a namespace's labels select over `defaults`, with one invalid-value cause per
    /// bad label. As upstream: an invalid enforce level makes enforcement `restricted` (fail
    /// closed), invalid audit/warn levels make them privileged (fail open), and a warn level
    /// left unset follows an enforce level stricter than it.
    pub fn from_labels(
        labels: &BTreeMap<String, String>,
        defaults: Policy,
    ) -> (Policy, Vec<Cause>) {
        let mut p = defaults;
        let mut errs = Vec::new();
        let mut note = |key: &str, value: &str, err: String| {
            errs.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: \"{value}\": {err}"),
                field: format!("metadata.labels[{key}]"),
            })
        };
        let mut enforce_level_ok = false;
        if let Some(v) = labels.get(ENFORCE_LEVEL) {
            match Level::parse(v) {
                Ok(level) => {
                    p.enforce.level = level;
                    enforce_level_ok = true;
                }
                Err(e) => {
                    p.enforce.level = Level::Restricted;
                    note(ENFORCE_LEVEL, v, e);
                }
            }
        }
        if let Some(v) = labels.get(ENFORCE_VERSION) {
            p.enforce.version = Version::parse(v).unwrap_or_else(|e| {
                note(ENFORCE_VERSION, v, e);
                Version::Latest
            });
        }
        if let Some(v) = labels.get(AUDIT_LEVEL) {
            p.audit.level = Level::parse(v).unwrap_or_else(|e| {
                note(AUDIT_LEVEL, v, e);
                Level::Privileged
            });
        }
        if let Some(v) = labels.get(AUDIT_VERSION) {
            p.audit.version = Version::parse(v).unwrap_or_else(|e| {
                note(AUDIT_VERSION, v, e);
                Version::Latest
            });
        }
        let has_warn_level = labels.contains_key(WARN_LEVEL);
        let has_warn_version = labels.contains_key(WARN_VERSION);
        if let Some(v) = labels.get(WARN_LEVEL) {
            p.warn.level = Level::parse(v).unwrap_or_else(|e| {
                note(WARN_LEVEL, v, e);
                Level::Privileged
            });
        }
        if let Some(v) = labels.get(WARN_VERSION) {
            p.warn.version = Version::parse(v).unwrap_or_else(|e| {
                note(WARN_VERSION, v, e);
                Version::Latest
            });
        }
        if !has_warn_level && enforce_level_ok && p.enforce.level > p.warn.level {
            p.warn.level = p.enforce.level;
            if !has_warn_version {
                p.warn.version = p.enforce.version;
            }
        }
        (p, errs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unlabelled_namespaces_are_privileged() {
        let (p, errs) = Policy::from_labels(&BTreeMap::new(), Policy::default());
        assert!(p.fully_privileged() && errs.is_empty());
    }

    #[test]
    fn warn_follows_a_stricter_enforce_level_and_version() {
        let (p, _) = Policy::from_labels(
            &labels(&[(ENFORCE_LEVEL, "restricted"), (ENFORCE_VERSION, "v1.24")]),
            Policy::default(),
        );
        assert_eq!(p.enforce.to_string(), "restricted:v1.24");
        assert_eq!(p.warn.to_string(), "restricted:v1.24");
        assert_eq!(p.audit, LevelVersion::PRIVILEGED);
        let (p, _) = Policy::from_labels(
            &labels(&[(ENFORCE_LEVEL, "baseline"), (WARN_LEVEL, "privileged")]),
            Policy::default(),
        );
        assert_eq!(p.warn.level, Level::Privileged);
    }

    #[test]
    fn bad_values_fail_closed_for_enforce_and_open_for_warn() {
        let (p, errs) = Policy::from_labels(
            &labels(&[
                (ENFORCE_LEVEL, "strict"),
                (WARN_LEVEL, "x"),
                (WARN_VERSION, "1.2"),
            ]),
            Policy::default(),
        );
        assert_eq!(p.enforce.level, Level::Restricted);
        assert_eq!(p.warn.level, Level::Privileged);
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs[0].field,
            "metadata.labels[pod-security.kubernetes.io/enforce]"
        );
        assert_eq!(
            errs[0].message,
            "Invalid value: \"strict\": must be one of privileged, baseline, restricted"
        );
        assert_eq!(
            errs[2].message,
            "Invalid value: \"1.2\": must be \"latest\" or \"v1.x\""
        );
    }

    #[test]
    fn versions_newer_than_the_server_evaluate_as_latest() {
        assert_eq!(
            Version::parse("v1.99").unwrap().effective_minor(),
            LATEST_MINOR
        );
        assert_eq!(Version::parse("v1.22").unwrap().effective_minor(), 22);
        assert!(Version::parse("v2.1").is_err() && Version::parse("v1.").is_err());
    }
}
