//! Sweep blocks: a `sweep:` in an experiment file expands into one variant per point, so every
//! command that runs variants (`sim run`, `sim compare`, `sim check`) runs the points.
//!
//! ```yaml
//! sweep:
//!   grid:                                   # cartesian product, the last path varying fastest
//!     platform.max_concurrency: [5, 10, 20]
//!     llm.latency_scale: {from: 1, to: 2, step: 0.5}
//!   zip:                                    # varied together: one axis of equal-length lists
//!     platform.memory: [1GiB, 2GiB]
//!     platform.max_instances: [10, 20]
//! ```
//!
//! A point is an overlay that sets each swept path to its value, merged onto the experiment
//! like a variant (so a point meets exactly the checks a file does), and named after its values
//! (`max_concurrency-5_latency_scale-1.5`). With `variants` too, every variant runs every
//! point (`<variant>-<point>`).

use serde_yaml::{Mapping, Value};

use super::merge;

/// Most points one sweep may expand to; each is a full run.
pub(super) const MAX_POINTS: usize = 10_000;

/// Why a sweep block cannot be expanded: the offending field below `sweep` and what is wrong.
#[derive(Debug, PartialEq)]
pub(super) struct SweepError {
    /// Dotted field, e.g. `sweep.grid.platform.max_concurrency`.
    pub(super) field: String,
    /// What is wrong with it.
    pub(super) message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> SweepError {
    SweepError {
        field: field.into(),
        message: message.into(),
    }
}

/// One swept setting and the values it takes.
struct Axis {
    /// Dotted paths set together (one for a grid axis, several for `zip`).
    paths: Vec<String>,
    /// For each step of the axis, one value per path.
    steps: Vec<Vec<Value>>,
}

/// One point of a sweep: the overlay that sets it and the values it sets.
#[derive(Debug)]
pub(super) struct SweepPoint {
    /// A variant overlay: a mapping with its `name` and each swept path set.
    pub(super) overlay: Value,
    /// Each swept path with its value here, in the sweep's order.
    pub(super) values: Vec<(String, Value)>,
}

/// Expands a `sweep` block (`grid` and `zip`) into its points.
pub(super) fn expand(sweep: &Value) -> Result<Vec<SweepPoint>, SweepError> {
    let Value::Mapping(block) = sweep else {
        return Err(error("sweep", "must be a mapping with `grid` and/or `zip`"));
    };
    let mut axes = Vec::new();
    for (key, value) in block {
        match key.as_str() {
            Some("grid") => axes.extend(grid(value)?),
            Some("zip") => axes.push(zip(value)?),
            _ => {
                return Err(error(
                    format!("sweep.{}", key.as_str().unwrap_or("?")),
                    "unknown key; a sweep has `grid` and `zip`",
                ));
            }
        }
    }
    if axes.is_empty() {
        return Err(error(
            "sweep",
            "needs at least one swept path in `grid` or `zip`",
        ));
    }
    let points = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.steps.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| error("sweep", format!("expands to more than {MAX_POINTS} points")))?;
    let mut overlays = Vec::with_capacity(points);
    for index in 0..points {
        // Mixed radix, the last axis fastest.
        let mut rest = index;
        let mut picks = vec![0; axes.len()];
        for (pick, axis) in picks.iter_mut().zip(&axes).rev() {
            *pick = rest % axis.steps.len();
            rest /= axis.steps.len();
        }
        let mut overlay = Value::Mapping(Mapping::new());
        let mut name = Vec::new();
        let mut values = Vec::new();
        for (axis, &pick) in axes.iter().zip(&picks) {
            for (path, value) in axis.paths.iter().zip(&axis.steps[pick]) {
                merge(&mut overlay, nested(path, value.clone()));
                let last = path.rsplit('.').next().unwrap_or(path);
                name.push(format!("{last}-{}", folder_safe(value)));
                values.push((path.clone(), value.clone()));
            }
        }
        if let Value::Mapping(m) = &mut overlay {
            m.insert("name".into(), name.join("_").into());
        }
        overlays.push(SweepPoint { overlay, values });
    }
    Ok(overlays)
}

/// `grid:` — one axis per path, in file order.
fn grid(value: &Value) -> Result<Vec<Axis>, SweepError> {
    let Value::Mapping(paths) = value else {
        return Err(error("sweep.grid", "maps dotted paths to lists or ranges"));
    };
    flatten("sweep.grid", "", paths)?
        .into_iter()
        .map(|(path, values)| {
            let field = format!("sweep.grid.{path}");
            let steps = values_of(&field, &values)?
                .into_iter()
                .map(|v| vec![v])
                .collect();
            Ok(Axis {
                paths: vec![path],
                steps,
            })
        })
        .collect()
}

/// `zip:` — paths varied together; their lists must have one length.
fn zip(value: &Value) -> Result<Axis, SweepError> {
    let Value::Mapping(paths) = value else {
        return Err(error(
            "sweep.zip",
            "maps dotted paths to lists of equal length",
        ));
    };
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for (path, values) in flatten("sweep.zip", "", paths)? {
        let field = format!("sweep.zip.{path}");
        columns.push(values_of(&field, &values)?);
        names.push(path);
    }
    let Some(len) = columns.first().map(Vec::len) else {
        return Err(error("sweep.zip", "needs at least one path"));
    };
    if let Some(i) = columns.iter().position(|c| c.len() != len) {
        return Err(error(
            format!("sweep.zip.{}", names[i]),
            format!(
                "has {} values where `{}` has {len}; zipped paths vary together, so their lists need one length",
                columns[i].len(),
                names[0]
            ),
        ));
    }
    let steps = (0..len)
        .map(|k| columns.iter().map(|c| c[k].clone()).collect())
        .collect();
    Ok(Axis {
        paths: names,
        steps,
    })
}

/// The swept paths of a `grid` or `zip` mapping with their values. Keys are dotted paths,
/// or nest like the settings they sweep (`platform: {max_concurrency: [5, 10]}`, which is how
/// `--set sweep.grid.platform.max_concurrency=[5,10]` arrives); a mapping with `from` is a
/// range, not a level of nesting.
fn flatten(at: &str, prefix: &str, paths: &Mapping) -> Result<Vec<(String, Value)>, SweepError> {
    let mut out = Vec::new();
    for (key, value) in paths {
        let path = format!("{prefix}{}", dotted(at, key)?);
        match value {
            Value::Mapping(inner) if !inner.contains_key("from") => {
                out.extend(flatten(at, &format!("{path}."), inner)?);
            }
            _ => out.push((path, value.clone())),
        }
    }
    Ok(out)
}

/// A swept path: dotted field names, none empty.
fn dotted(at: &str, key: &Value) -> Result<String, SweepError> {
    let path = key.as_str().unwrap_or_default();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(error(
            at,
            format!(
                "`{}` is not a dotted path of field names (e.g. platform.max_concurrency)",
                path
            ),
        ));
    }
    Ok(path.to_string())
}

/// The values of one path: a non-empty list, or `{from, to, step}`.
fn values_of(field: &str, values: &Value) -> Result<Vec<Value>, SweepError> {
    match values {
        Value::Sequence(list) if !list.is_empty() => Ok(list.clone()),
        Value::Sequence(_) => Err(error(field, "needs at least one value")),
        Value::Mapping(range) => range_values(field, range),
        _ => Err(error(field, "takes a list of values or {from, to, step}")),
    }
}

/// `{from, to, step}`: from, from + step, ... up to `to` inclusive. Whole numbers stay whole.
fn range_values(field: &str, range: &Mapping) -> Result<Vec<Value>, SweepError> {
    let number = |key: &str| -> Result<f64, SweepError> {
        range
            .get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                error(
                    format!("{field}.{key}"),
                    "a range needs finite `from`, `to` and `step`",
                )
            })
    };
    if let Some(extra) = range
        .keys()
        .find(|k| !matches!(k.as_str(), Some("from" | "to" | "step")))
    {
        return Err(error(
            format!("{field}.{}", extra.as_str().unwrap_or("?")),
            "unknown key; a range has `from`, `to` and `step`",
        ));
    }
    let (from, to, step) = (number("from")?, number("to")?, number("step")?);
    if step <= 0.0 || to < from {
        return Err(error(field, "a range needs step > 0 and to >= from"));
    }
    let count = ((to - from) / step + 1e-9).floor() + 1.0;
    if count > MAX_POINTS as f64 {
        return Err(error(
            field,
            format!("a range of more than {MAX_POINTS} values"),
        ));
    }
    let whole = [from, to, step].iter().all(|x| x.fract() == 0.0);
    Ok((0..count as usize)
        .map(|i| {
            let x = from + i as f64 * step;
            if whole {
                Value::from(x as i64)
            } else {
                // Twelve significant digits: 0.1 + 2 x 0.1 reads 0.3, not 0.30000000000000004.
                Value::from(format!("{x:.12e}").parse::<f64>().unwrap_or(x))
            }
        })
        .collect())
}

/// `value` at the dotted `path`, as nested mappings.
fn nested(path: &str, value: Value) -> Value {
    path.rsplit('.').fold(value, |inner, key| {
        let mut m = Mapping::new();
        m.insert(Value::from(key), inner);
        Value::Mapping(m)
    })
}

/// A value as it may appear in a folder name: letters, digits, `-`, `_` and `.`; anything
/// else becomes `_`.
fn folder_safe(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    };
    text.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("valid YAML")
    }

    fn names(points: &[SweepPoint]) -> Vec<String> {
        points
            .iter()
            .map(|p| {
                p.overlay
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_grid_is_the_cartesian_product_with_the_last_path_fastest() {
        let points = expand(&yaml(
            "grid:\n  platform.max_concurrency: [5, 10]\n  llm.latency_scale: {from: 1, to: 2, step: 0.5}\n",
        ))
        .unwrap();
        assert_eq!(
            names(&points),
            [
                "max_concurrency-5_latency_scale-1.0",
                "max_concurrency-5_latency_scale-1.5",
                "max_concurrency-5_latency_scale-2.0",
                "max_concurrency-10_latency_scale-1.0",
                "max_concurrency-10_latency_scale-1.5",
                "max_concurrency-10_latency_scale-2.0",
            ]
        );
        assert_eq!(points[4].overlay["platform"]["max_concurrency"], yaml("10"));
        assert_eq!(points[4].overlay["llm"]["latency_scale"], yaml("1.5"));
    }

    #[test]
    fn zipped_paths_vary_together_and_ranges_read_as_written() {
        let points = expand(&yaml(
            "zip:\n  platform.memory: [1GiB, 2GiB]\n  platform.max_concurrency: [10, 20]\ngrid:\n  llm.latency_scale: {from: 0.1, to: 0.3, step: 0.1}\n",
        ))
        .unwrap();
        assert_eq!(points.len(), 6);
        assert_eq!(points[0].overlay["platform"]["memory"], yaml("1GiB"));
        assert_eq!(points[0].overlay["platform"]["max_concurrency"], yaml("10"));
        assert_eq!(points[5].overlay["platform"]["memory"], yaml("2GiB"));
        assert_eq!(points[5].overlay["platform"]["max_concurrency"], yaml("20"));
        assert_eq!(
            names(&points)[2],
            "memory-1GiB_max_concurrency-10_latency_scale-0.3"
        );
        assert_eq!(points[2].overlay["llm"]["latency_scale"], yaml("0.3"));
    }

    #[test]
    fn bad_blocks_name_the_field() {
        for (text, field) in [
            (
                "grid: {platform.max_concurrency: []}",
                "sweep.grid.platform.max_concurrency",
            ),
            (
                "grid: {platform.max_concurrency: 5}",
                "sweep.grid.platform.max_concurrency",
            ),
            ("grid: {'platform..x': [1]}", "sweep.grid"),
            ("grid: {a.b: {from: 1, to: 0, step: 1}}", "sweep.grid.a.b"),
            ("grid: {a.b: {from: 1, to: 2, by: 1}}", "sweep.grid.a.b.by"),
            ("zip: {a.b: [1, 2], a.c: [1]}", "sweep.zip.a.c"),
            ("grids: {a.b: [1]}", "sweep.grids"),
            ("{}", "sweep"),
            ("grid: {a: {from: 0, to: 1000000, step: 1}}", "sweep.grid.a"),
        ] {
            let err = expand(&yaml(text)).expect_err(text);
            assert_eq!(err.field, field, "{text}: {}", err.message);
        }
        let big = "grid: {a: {from: 1, to: 200, step: 1}, b: {from: 1, to: 200, step: 1}}";
        assert!(
            expand(&yaml(big))
                .unwrap_err()
                .message
                .contains("more than 10000 points")
        );
    }

    #[test]
    fn values_become_folder_safe_names() {
        let points = expand(&yaml(
            "grid: {llm.default_model: [gemini-2.5-flash, 'a b/c']}",
        ))
        .unwrap();
        assert_eq!(
            names(&points),
            ["default_model-gemini-2.5-flash", "default_model-a_b_c"]
        );
    }
}
