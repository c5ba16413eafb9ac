//! Loading experiment files: `extends` resolution, deep merge, typed parsing and validation.
//!
//! An experiment file may name parent files in `extends` (a path or a list, relative to the
//! file). Parents are merged in order, then the file itself on top: mappings merge key by key,
//! anything else (scalars, lists) is replaced; `null` removes an inherited key. The merged tree
//! is parsed into [`Experiment`] with unknown fields rejected, then checked by [`validate`].
//! Every error names the file, the field and, where it can be found, the line.
//!
//! One exception to key-by-key merging: a one-key mapping whose key names a variant (a
//! distribution family, latency model, autoscaling policy, arrival profile or deadline rule)
//! over a one-key mapping naming another variant replaces it, so a child can switch
//! `lognormal:` to `uniform:` without nulling the parent's choice first.

mod error;
mod model;
mod nesting;
mod overlay;
mod sweep;
mod validate;
mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

pub use error::{ConfigError, FieldError, Reason};
pub use model::*;
pub use overlay::{COMMAND_LINE, Overlay};

/// An experiment with where each of its settings came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved, validated experiment.
    pub experiment: Experiment,
    /// Dotted field path of every leaf setting, mapped to the file that set it.
    pub provenance: BTreeMap<String, PathBuf>,
}

/// The resolved experiment as YAML, in the same form the files use (what `sim check` prints).
pub fn to_yaml(e: &Experiment) -> Result<String, ConfigError> {
    let fail = |m: String| ConfigError::Field {
        file: PathBuf::from(&e.name),
        line: None,
        field: "(top level)".into(),
        message: m,
    };
    let json = serde_json::to_value(e).map_err(|x| fail(x.to_string()))?;
    serde_yaml::to_string(&json).map_err(|x| fail(x.to_string()))
}

/// Reads, merges, parses and validates an experiment file that has no `variants`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    load_with(path, &[])
}

/// [`load`] with command-line overlays; see [`Overlay`].
pub fn load_with(path: &Path, overlays: &[Overlay]) -> Result<Loaded, ConfigError> {
    let mut all = load_all_with(path, overlays)?;
    if all.len() != 1 {
        return Err(ConfigError::Field {
            file: path.to_path_buf(),
            line: find_line(path, "variants"),
            field: "variants".into(),
            message: "this command takes a single experiment; the file defines variants".into(),
        });
    }
    Ok(all.remove(0))
}

/// Reads an experiment file and returns one experiment per variant (or the file's own
/// experiment when it has no `variants`). Each variant is a named overlay merged onto the
/// file, like one more level of `extends`; its experiment is named `<name>-<variant>`.
pub fn load_all(path: &Path) -> Result<Vec<Loaded>, ConfigError> {
    load_all_with(path, &[])
}

/// [`load_all`] with command-line overlays merged onto each experiment (after its variant)
/// before it is parsed and validated; see [`Overlay`].
pub fn load_all_with(path: &Path, overlays: &[Overlay]) -> Result<Vec<Loaded>, ConfigError> {
    load_variants(path, overlays).map_err(|e| overlay::explain(e, overlays))
}

fn load_variants(path: &Path, overlays: &[Overlay]) -> Result<Vec<Loaded>, ConfigError> {
    let mut provenance = BTreeMap::new();
    let mut chain = Vec::new();
    let mut merged = load_merged(path, &mut provenance, &mut chain, 0)?;
    let (study, overlays): (Vec<Overlay>, Vec<Overlay>) = overlays
        .iter()
        .cloned()
        .partition(Overlay::shapes_the_study);
    let overlays = overlays.as_slice();
    overlay::apply(&mut merged, &study, &mut provenance);
    let (variants, sweep) = match &mut merged {
        Value::Mapping(m) => {
            m.remove("extends");
            (m.remove("variants"), m.remove("sweep"))
        }
        _ => (None, None),
    };
    let (variants, mut points) = match sweep {
        None => (variants, Vec::new()),
        Some(block) => {
            let (variants, points) = with_sweep(path, variants, block)?;
            (Some(variants), points)
        }
    };
    // Drop sources of settings a child replaced wholesale (a switch of variant) and of the
    // `variants` list itself, which is not a setting.
    provenance.retain(|k, _| exists(&merged, k));
    overlay::apply(&mut merged, overlays, &mut provenance);
    let Some(variants) = variants else {
        return Ok(vec![parse(merged, provenance, &chain, path)?]);
    };
    let bad = |message: &str| ConfigError::Field {
        file: path.to_path_buf(),
        line: find_line(path, "variants"),
        field: "variants".into(),
        message: message.into(),
    };
    let Value::Sequence(list) = variants else {
        return Err(bad(
            "`variants` takes a list of overlays, each with a `name`",
        ));
    };
    if list.is_empty() {
        return Err(bad("`variants` needs at least one entry"));
    }
    let base_name = merged
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut seen = std::collections::BTreeSet::new();
    points.resize(list.len(), Point::default());
    list.into_iter()
        .zip(points)
        .map(|(overlay, mut point)| {
            let Value::Mapping(mut overlay) = overlay else {
                return Err(bad("each variant is a mapping with a `name`"));
            };
            let variant = match overlay.remove("name") {
                Some(Value::String(s)) => s,
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(bad("each variant needs a `name`")),
            };
            if !seen.insert(variant.clone()) {
                return Err(bad(&format!(
                    "two variants are named `{variant}`; each names an output folder, so names must be unique"
                )));
            }
            let (mut value, mut sources) = match overlay.remove("extends") {
                None => (merged.clone(), provenance.clone()),
                Some(parents) => rebased(path, &parents, &variant)?,
            };
            let overlay = Value::Mapping(overlay);
            record_provenance(&overlay, "", path, &mut sources);
            merge(&mut value, overlay);
            sources.retain(|k, _| exists(&value, k));
            // The command line wins over the variant too.
            overlay::apply(&mut value, overlays, &mut sources);
            if let Value::Mapping(m) = &mut value {
                m.insert("name".into(), format!("{base_name}-{variant}").into());
            }
            let mut loaded = parse(value, sources, &chain, path)?;
            if point.swept.is_empty() {
                point.scenario = Some(variant.clone());
            }
            point.suffix = Some(variant);
            loaded.experiment.point = point;
            Ok(loaded)
        })
        .collect()
}

/// The variants of a file with a `sweep` block and where each sits: one per point, or, with
/// scenarios (`sweep.scenarios`, or the file's `variants`), every scenario at every point
/// (`<scenario>-<point>`).
fn with_sweep(
    path: &Path,
    variants: Option<Value>,
    mut block: Value,
) -> Result<(Value, Vec<Point>), ConfigError> {
    let fail = |field: String, message: String| ConfigError::Field {
        file: path.to_path_buf(),
        line: find_line(path, &field).or_else(|| find_line(path, "sweep")),
        field,
        message,
    };
    let scenarios = match &mut block {
        Value::Mapping(m) => m.remove("scenarios"),
        _ => None,
    };
    let scenarios = match (variants, scenarios) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "sweep.scenarios".into(),
                "the file has `variants` too; list them in one place (scenarios are variants run at every point)".into(),
            ));
        }
        (variants, None) => variants,
        (None, scenarios) => scenarios,
    };
    let points = sweep::expand(&block).map_err(|e| fail(e.field, e.message))?;
    let swept = |p: &sweep::SweepPoint| -> Vec<SweptValue> {
        p.values
            .iter()
            .map(|(path, value)| SweptValue {
                path: path.clone(),
                value: serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
            })
            .collect()
    };
    let Some(Value::Sequence(scenarios)) = scenarios else {
        // No scenarios (or a malformed list, which the variant code then reports).
        let places = points
            .iter()
            .map(|p| Point {
                swept: swept(p),
                ..Point::default()
            })
            .collect();
        let overlays = points.into_iter().map(|p| p.overlay).collect();
        return Ok((scenarios.unwrap_or(Value::Sequence(overlays)), places));
    };
    let name_of = |v: &Value| match v.get("name") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut combined = Vec::with_capacity(scenarios.len() * points.len());
    let mut places = Vec::with_capacity(combined.capacity());
    for scenario in &scenarios {
        for point in &points {
            let mut overlay = scenario.clone();
            merge(&mut overlay, point.overlay.clone());
            if let (Value::Mapping(m), Some(v), Some(p)) =
                (&mut overlay, name_of(scenario), name_of(&point.overlay))
            {
                m.insert("name".into(), format!("{v}-{p}").into());
            }
            combined.push(overlay);
            places.push(Point {
                scenario: name_of(scenario),
                swept: swept(point),
                ..Point::default()
            });
        }
    }
    Ok((Value::Sequence(combined), places))
}

fn parse(
    value: Value,
    provenance: BTreeMap<String, PathBuf>,
    chain: &[PathBuf],
    path: &Path,
) -> Result<Loaded, ConfigError> {
    if let Some((field, got)) = non_finite(&value, "") {
        return Err(locate(
            &field,
            &provenance,
            chain,
            path,
            format!("must be a finite number (got {got})"),
        ));
    }
    if let Some((section, got)) = section_not_a_mapping(&value) {
        return Err(locate(
            section,
            &provenance,
            chain,
            path,
            format!("must be a mapping of settings (got {got})"),
        ));
    }
    // serde_yaml reads enums only from `!tags`; going through JSON's data model accepts the
    // one-key-map form (`autoscaler: {cloud_run: {...}}`) that the files use.
    let json = serde_json::to_value(&value).map_err(|e| ConfigError::Field {
        file: path.to_path_buf(),
        line: None,
        field: "(top level)".into(),
        message: format!("unsupported YAML construct: {e}"),
    })?;
    let experiment: Experiment = serde_path_to_error::deserialize(json).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { "" } else { at.as_str() };
        let e = words::explain(at, &e.inner().to_string(), &value, VARIANT_TAGS);
        locate_key(&e.field, e.missing, &provenance, chain, path, e.message)
    })?;
    validate::validate(&experiment)
        .map_err(|e| locate(&e.field, &provenance, chain, path, e.reason.to_string()))?;
    Ok(Loaded {
        experiment,
        provenance,
    })
}

/// Top-level sections that hold settings by name. serde would read a list (`slo: []`) as the
/// section's fields in order, so an empty list would silently mean "no settings".
const SECTIONS: [&str; 6] = ["platform", "llm", "datastore", "app", "workload", "slo"];

/// The first top-level section of `value` that is not a mapping, and what it is instead.
fn section_not_a_mapping(value: &Value) -> Option<(&'static str, &'static str)> {
    SECTIONS.iter().find_map(|&name| {
        let kind = match value.get(name)? {
            Value::Mapping(_) => return None,
            Value::Sequence(_) => "a list",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "nothing",
            Value::Tagged(_) => "a tagged value",
        };
        Some((name, kind))
    })
}

/// The dotted path and YAML spelling of the first NaN or infinity in `value`. JSON cannot hold
/// them, so past this point they would read as `null` and silently switch a setting off.
fn non_finite(value: &Value, prefix: &str) -> Option<(String, &'static str)> {
    match value {
        Value::Number(n) => n.as_f64().filter(|x| !x.is_finite()).map(|x| {
            let got = match x {
                x if x.is_nan() => ".nan",
                x if x > 0.0 => ".inf",
                _ => "-.inf",
            };
            (prefix.to_string(), got)
        }),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| non_finite(v, &format!("{prefix}[{i}]"))),
        Value::Mapping(m) => m.iter().find_map(|(k, v)| {
            let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
            let path = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            non_finite(v, &path)
        }),
        Value::Tagged(t) => non_finite(&t.value, prefix),
        Value::Null | Value::Bool(_) | Value::String(_) => None,
    }
}

/// Builds an error for `field`, pointing at the file (and line) that set it.
fn locate(
    field: &str,
    provenance: &BTreeMap<String, PathBuf>,
    chain: &[PathBuf],
    root: &Path,
    message: String,
) -> ConfigError {
    locate_key(field, false, provenance, chain, root, message)
}

/// [`locate`] for a key that is set (`missing` false) or should have been (`missing` true).
fn locate_key(
    field: &str,
    missing: bool,
    provenance: &BTreeMap<String, PathBuf>,
    chain: &[PathBuf],
    root: &Path,
    message: String,
) -> ConfigError {
    let file = provenance
        .iter()
        .filter(|(k, _)| field.is_empty() || *k == field || k.starts_with(&format!("{field}.")))
        .map(|(_, f)| f.clone())
        .next()
        .or_else(|| {
            // Inside a setting recorded whole (a list): blame the file that set it.
            provenance
                .iter()
                .filter(|(k, _)| {
                    field
                        .strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
                })
                .max_by_key(|(k, _)| k.len())
                .map(|(_, f)| f.clone())
        })
        .or_else(|| {
            // A missing field: blame the file that set most of the deepest existing parent
            // (the one that defines it, not one that overrides a setting in it), else the
            // root file.
            let mut parent = field.to_string();
            while let Some(i) = parent.rfind('.') {
                parent.truncate(i);
                let below = format!("{parent}.");
                let mut counts: BTreeMap<&PathBuf, usize> = BTreeMap::new();
                for (_, f) in provenance.iter().filter(|(k, _)| k.starts_with(&below)) {
                    *counts.entry(f).or_default() += 1;
                }
                // On a tie, the file further down the `extends` chain: the one extended.
                let depth = |f: &PathBuf| chain.iter().position(|c| c == f);
                if let Some((f, _)) = counts.into_iter().max_by_key(|(f, n)| (*n, depth(f))) {
                    return Some(f.clone());
                }
            }
            None
        })
        .unwrap_or_else(|| root.to_path_buf());
    // A missing key has no line of its own: point at the mapping that lacks it.
    let written = if missing {
        field.rsplit_once('.').map_or("", |(parent, _)| parent)
    } else {
        field
    };
    let line = find_line(&file, written);
    ConfigError::Field {
        file,
        line,
        field: if field.is_empty() || field == "." {
            "(top level)".into()
        } else {
            field.into()
        },
        message,
    }
}

/// Finds the line of the deepest key of `field` that appears in `file`, following the path's
/// keys (and block-list items, `stages[1]`) in order through the text (good enough for
/// block-style YAML).
fn find_line(file: &Path, field: &str) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let mut best = None;
    let mut start = 0;
    for part in field
        .split('.')
        .filter(|k| !k.is_empty() && k.parse::<usize>().is_err())
    {
        let mut pieces = part.split('[');
        let key = pieces.next().unwrap_or(part);
        if !key.is_empty() {
            let found = lines.iter().enumerate().skip(start).find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with(&format!("{key}:"))
                    || l.contains(&format!("{{{key}:"))
                    || l.contains(&format!(" {key}:"))
            });
            let Some((i, _)) = found else { break };
            best = Some(i + 1);
            start = i + 1;
        }
        for index in pieces {
            let Some(n) = index.trim_end_matches(']').parse::<usize>().ok() else {
                return best;
            };
            let Some(item) = best.and_then(|line| nth_item(&lines, line - 1, n)) else {
                return best;
            };
            best = Some(item + 1);
            // The item's line may hold its first key (`- at: 0s`).
            start = item;
        }
    }
    best
}

/// The 0-based line of item `n` of the block list under the key on line `key` (0-based),
/// if the list is written one `- ` item per line.
fn nth_item(lines: &[&str], key: usize, n: usize) -> Option<usize> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let key_indent = indent(lines[key]);
    let mut item_indent = None;
    let mut seen = 0;
    for (i, l) in lines.iter().enumerate().skip(key + 1) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let is_item = t == "-" || t.starts_with("- ");
        if indent(l) < key_indent || (indent(l) == key_indent && !is_item) {
            return None;
        }
        if is_item && *item_indent.get_or_insert(indent(l)) == indent(l) {
            if seen == n {
                return Some(i);
            }
            seen += 1;
        }
    }
    None
}

/// The file at `path` merged onto `parents` (a variant's `extends`, relative to the file)
/// instead of its own `extends`: the tree a variant with `extends` starts from, and its
/// sources.
fn rebased(
    path: &Path,
    parents: &Value,
    variant: &str,
) -> Result<(Value, BTreeMap<String, PathBuf>), ConfigError> {
    let list = match parents {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    if list.is_empty() {
        return Err(ConfigError::Field {
            file: path.to_path_buf(),
            line: find_line(path, "extends"),
            field: format!("variant `{variant}`.extends"),
            message: "`extends` takes a path or a non-empty list of paths".into(),
        });
    }
    let mut provenance = BTreeMap::new();
    let mut value = load_merged_onto(path, &mut provenance, &mut Vec::new(), 0, Some(&list))?;
    if let Value::Mapping(m) = &mut value {
        for key in ["extends", "variants", "sweep"] {
            m.remove(key);
        }
    }
    provenance.retain(|k, _| exists(&value, k));
    Ok((value, provenance))
}

fn load_merged(
    path: &Path,
    provenance: &mut BTreeMap<String, PathBuf>,
    chain: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<Value, ConfigError> {
    load_merged_onto(path, provenance, chain, depth, None)
}

/// [`load_merged`], with `parents` in place of the file's own `extends` when given.
fn load_merged_onto(
    path: &Path,
    provenance: &mut BTreeMap<String, PathBuf>,
    chain: &mut Vec<PathBuf>,
    depth: usize,
    parents: Option<&[String]>,
) -> Result<Value, ConfigError> {
    if depth > 16 {
        return Err(ConfigError::Io {
            file: path.to_path_buf(),
            message: "`extends` nests deeper than 16 files (a cycle?)".into(),
        });
    }
    let text = read_bounded(path)?;
    if let Some(line) = nesting::too_deep(&text) {
        return Err(ConfigError::Syntax {
            file: path.to_path_buf(),
            line: Some(line),
            message: format!(
                "brackets nest deeper than {} levels",
                nesting::MAX_FLOW_DEPTH
            ),
        });
    }
    let own: Value = serde_yaml::from_str(&text).map_err(|e| {
        let message = e.to_string();
        ConfigError::Syntax {
            file: path.to_path_buf(),
            line: duplicate_key_line(&text, &message).or(e.location().map(|l| l.line())),
            message,
        }
    })?;
    let Value::Mapping(own) = own else {
        return Err(ConfigError::Field {
            file: path.to_path_buf(),
            line: Some(1),
            field: "(top level)".into(),
            message: "an experiment or model file must be a mapping of fields".into(),
        });
    };
    chain.push(path.to_path_buf());
    let parents: Vec<String> = match parents {
        Some(replaced) => replaced.to_vec(),
        None => match own.get("extends") {
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| ConfigError::Field {
                    file: path.to_path_buf(),
                    line: find_line(path, "extends"),
                    field: "extends".into(),
                    message: "`extends` takes a path or a list of paths".into(),
                })?,
            Some(_) => {
                return Err(ConfigError::Field {
                    file: path.to_path_buf(),
                    line: find_line(path, "extends"),
                    field: "extends".into(),
                    message: "`extends` takes a path or a list of paths".into(),
                });
            }
        },
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut merged = Value::Mapping(Mapping::new());
    for parent in parents {
        let parent_path = dir.join(&parent);
        if !parent_path.is_file() {
            return Err(ConfigError::Field {
                file: path.to_path_buf(),
                line: find_line(path, "extends"),
                field: "extends".into(),
                message: format!("cannot read `{parent}` ({})", parent_path.display()),
            });
        }
        let parent_value = load_merged(&parent_path, provenance, chain, depth + 1)?;
        merge(&mut merged, parent_value);
    }
    record_provenance(&Value::Mapping(own.clone()), "", path, provenance);
    merge(&mut merged, Value::Mapping(own));
    Ok(merged)
}

/// Largest experiment or model file capsim reads (the shipped ones are a few KiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a file that is a regular file of at most [`MAX_FILE_BYTES`]: a FIFO or a device
/// would block or never end, a huge file would only waste time.
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let io = |message: String| ConfigError::Io {
        file: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
    if !meta.is_file() {
        return Err(io(
            "not a regular file (a FIFO, device or folder cannot be an experiment)".into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(io(format!(
            "{} bytes; experiment and model files may be at most {MAX_FILE_BYTES} bytes (1 MiB)",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| io(e.to_string()))
}

/// serde_yaml reports a duplicate key at the start of its mapping; find the repeated key's
/// second occurrence instead.
fn duplicate_key_line(text: &str, message: &str) -> Option<usize> {
    let key = message
        .split("duplicate entry with key \"")
        .nth(1)?
        .split('"')
        .next()?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:"))
        })
        .nth(1)
        .map(|(i, _)| i + 1)
}

/// Deep-merges `top` onto `base`: mappings key by key, everything else replaced, null deletes.
fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Mapping(b), Value::Mapping(t)) => {
            for (k, v) in t {
                if v.is_null() {
                    b.remove(&k);
                    continue;
                }
                match b.get_mut(&k) {
                    Some(existing)
                        if existing.is_mapping()
                            && v.is_mapping()
                            && !switches_variant(existing, &v) =>
                    {
                        merge(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

/// Whether the dotted `path` names a setting present in `value` (after merging, a parent's
/// setting may have been replaced by a child's switch of variant).
fn exists(value: &Value, path: &str) -> bool {
    let mut v = value;
    for key in path.split('.') {
        match v.get(key) {
            Some(next) => v = next,
            None => return false,
        }
    }
    true
}

/// Keys that name a variant of a choice (a distribution family, a latency model, a policy, an
/// arrival profile, a deadline rule) rather than a field of a struct.
const VARIANT_TAGS: &[&str] = &[
    "constant",
    "uniform",
    "exponential",
    "normal",
    "lognormal",
    "gamma",
    "weibull",
    "pareto",
    "empirical",
    "discrete",
    "mixture",
    "shifted",
    "tokens",
    "end_to_end",
    "fixed",
    "startup_multiple",
    "threshold",
    "cloud_run",
    "per_second",
    "per_day",
    "piecewise",
    "stages",
];

/// A one-key mapping replacing a one-key mapping with another variant tag is a switch of
/// variant (`lognormal:` to `uniform:`, `threshold:` to `cloud_run:`), not an addition:
/// replace it. Struct fields (`timeout:` over `steps:`) still merge.
fn switches_variant(base: &Value, top: &Value) -> bool {
    fn tag(m: &Mapping) -> Option<&str> {
        (m.len() == 1)
            .then(|| m.keys().next().and_then(Value::as_str))
            .flatten()
            .filter(|k| VARIANT_TAGS.contains(k))
    }
    match (base, top) {
        (Value::Mapping(b), Value::Mapping(t)) => match (tag(b), tag(t)) {
            (Some(x), Some(y)) => x != y,
            _ => false,
        },
        _ => false,
    }
}

fn record_provenance(
    value: &Value,
    prefix: &str,
    file: &Path,
    provenance: &mut BTreeMap<String, PathBuf>,
) {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                if prefix.is_empty() && key == "extends" {
                    continue;
                }
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                if v.is_mapping() {
                    // A child replacing or extending a section overrides everything below it
                    // that it sets; keys it leaves alone keep their parent's source.
                    record_provenance(v, &path, file, provenance);
                } else {
                    let below = format!("{path}.");
                    let replaced: Vec<String> = provenance
                        .range(below.clone()..)
                        .take_while(|(k, _)| k.starts_with(&below))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in replaced {
                        provenance.remove(&k);
                    }
                    provenance.insert(path, file.to_path_buf());
                }
            }
        }
        _ => {
            provenance.insert(prefix.to_string(), file.to_path_buf());
        }
    }
}

#[cfg(test)]
mod tests;
