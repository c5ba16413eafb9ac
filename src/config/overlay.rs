//! Command-line overlays: `--set PATH=VALUE` and its shorthands (`--seed`, `--replications`,
//! `--horizon`).
//!
//! An overlay is a YAML value placed at a dotted path and merged onto the experiment exactly
//! like one more level of `extends` (mappings key by key, anything else replaced, `null`
//! removes), after the file's `extends` and each variant, before the experiment is parsed and
//! validated: an override meets exactly the checks a file does. Settings an overlay sets are
//! sourced to [`COMMAND_LINE`], so errors name that "file", the field and the overlay as typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::{ConfigError, Warmup, merge, record_provenance};

/// The "file" named by errors in, and sources of, settings given on the command line.
pub const COMMAND_LINE: &str = "<command line>";

/// Share of a shortened horizon that becomes the warm-up when `--horizon` is not longer than
/// the file's fixed warm-up (the experiment's intent: discard the start of the run).
const SHORTENED_WARMUP_SHARE: f64 = 0.2;

/// One setting changed from the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlay {
    /// Keys of the dotted path, outermost first.
    path: Vec<String>,
    /// The value placed there.
    value: Value,
    /// The overlay as the user typed it, quoted in errors (`--set workload.users=300`).
    origin: String,
    /// `--horizon`: a fixed warm-up not shorter than the new horizon becomes 20 % of it.
    shortens_warmup: bool,
}

impl Overlay {
    /// Parses `PATH=VALUE` (`platform.max_concurrency=40`); VALUE is read as YAML.
    pub fn parse_set(text: &str) -> Result<Overlay, String> {
        let (path, value) = text.split_once('=').ok_or_else(|| {
            format!("expected PATH=VALUE (e.g. workload.users=300), got `{text}`")
        })?;
        let keys: Vec<String> = path.trim().split('.').map(str::to_string).collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(format!(
                "`{path}` is not a dotted path of field names (e.g. platform.max_concurrency)"
            ));
        }
        if super::nesting::too_deep(value).is_some() {
            return Err(format!(
                "the value of `{path}` nests brackets deeper than {} levels",
                super::nesting::MAX_FLOW_DEPTH
            ));
        }
        let value: Value = serde_yaml::from_str(value)
            .map_err(|e| format!("the value of `{path}` is not valid YAML: {e}"))?;
        Ok(Overlay {
            path: keys,
            value,
            origin: format!("--set {text}"),
            shortens_warmup: false,
        })
    }

    /// `--seed N`: the master seed.
    pub fn seed(seed: u64) -> Overlay {
        Overlay::shorthand("seed", Value::from(seed), format!("--seed {seed}"))
    }

    /// `--replications N`.
    pub fn replications(n: u32) -> Overlay {
        Overlay::shorthand(
            "replications",
            Value::from(n),
            format!("--replications {n}"),
        )
    }

    /// `--horizon`: the horizon in seconds; a fixed warm-up not shorter than it becomes 20 %
    /// of it, so a shortened run still discards the same share of its start.
    pub fn horizon(seconds: f64) -> Overlay {
        Overlay {
            shortens_warmup: true,
            ..Overlay::shorthand(
                "horizon",
                Value::from(format!("{seconds}s")),
                format!("--horizon {seconds}s"),
            )
        }
    }

    fn shorthand(key: &str, value: Value, origin: String) -> Overlay {
        Overlay {
            path: vec![key.to_string()],
            value,
            origin,
            shortens_warmup: false,
        }
    }

    /// The value nested in mappings along the path, ready to merge at the top level.
    fn nested(&self) -> Value {
        self.path.iter().rev().fold(self.value.clone(), |v, key| {
            let mut m = Mapping::new();
            m.insert(Value::from(key.as_str()), v);
            Value::Mapping(m)
        })
    }

    /// Whether it changes which experiments a file defines (`sweep...`, `variants...`) rather
    /// than a setting of each: such overlays apply before the file is expanded.
    pub(super) fn shapes_the_study(&self) -> bool {
        matches!(self.path[0].as_str(), "sweep" | "variants")
    }

    /// Whether the dotted `field` of an error is this overlay's path, above or below it.
    fn touches(&self, field: &str) -> bool {
        let path = self.path.join(".");
        field == path
            || field.starts_with(&format!("{path}."))
            || path.starts_with(&format!("{field}."))
    }
}

/// Merges `overlays` onto the merged experiment tree in order, sourcing what they set to
/// [`COMMAND_LINE`].
pub(super) fn apply(
    tree: &mut Value,
    overlays: &[Overlay],
    provenance: &mut BTreeMap<String, PathBuf>,
) {
    let source = Path::new(COMMAND_LINE);
    for overlay in overlays {
        let nested = overlay.nested();
        record_provenance(&nested, "", source, provenance);
        merge(tree, nested);
        if overlay.shortens_warmup {
            shorten_warmup(tree, provenance);
        }
    }
}

/// Sets a fixed warm-up that is not shorter than the horizon to 20 % of the horizon.
fn shorten_warmup(tree: &mut Value, provenance: &mut BTreeMap<String, PathBuf>) {
    let seconds = |key: &str| -> Option<Warmup> {
        let json = serde_json::to_value(tree.get(key)?).ok()?;
        serde_json::from_value(json).ok()
    };
    let (Some(Warmup::Fixed(warmup)), Some(Warmup::Fixed(horizon))) =
        (seconds("warmup"), seconds("horizon"))
    else {
        return;
    };
    if warmup.0 >= horizon.0
        && let Value::Mapping(m) = tree
    {
        let shortened = horizon.0 * SHORTENED_WARMUP_SHARE;
        m.insert("warmup".into(), Value::from(format!("{shortened}s")));
        provenance.insert("warmup".into(), PathBuf::from(COMMAND_LINE));
    }
}

/// Adds the overlays behind an error in a command-line setting, as the user typed them.
pub(super) fn explain(error: ConfigError, overlays: &[Overlay]) -> ConfigError {
    match error {
        ConfigError::Field {
            file,
            line,
            field,
            message,
        } if file == Path::new(COMMAND_LINE) => {
            let matching: Vec<&Overlay> = overlays.iter().filter(|o| o.touches(&field)).collect();
            let blamed = if matching.is_empty() {
                overlays.iter().collect()
            } else {
                matching
            };
            let origins: Vec<String> = blamed.iter().map(|o| format!("`{}`", o.origin)).collect();
            ConfigError::Field {
                file,
                line,
                field,
                message: format!("{message} (from {})", origins.join(", ")),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_nests_its_value_at_the_path() {
        let o = Overlay::parse_set("platform.max_concurrency=40").expect("parses");
        assert_eq!(
            o.nested(),
            serde_yaml::from_str::<Value>("platform: { max_concurrency: 40 }").unwrap()
        );
        let o = Overlay::parse_set("workload.users={ from: 5, to: 10, over: 5m }").unwrap();
        assert_eq!(o.value["over"], Value::from("5m"), "VALUE is YAML");
    }

    #[test]
    fn malformed_sets_are_refused() {
        assert!(
            Overlay::parse_set("workload.users")
                .unwrap_err()
                .contains("PATH=VALUE")
        );
        assert!(
            Overlay::parse_set("workload..users=3")
                .unwrap_err()
                .contains("dotted path")
        );
        assert!(
            Overlay::parse_set("seed=[1")
                .unwrap_err()
                .contains("not valid YAML")
        );
    }
}
