//! The output folder of a sweep: `sweep.csv` and `sweep.json` (the tidy table, see
//! `columns`), `points/<point>/summary.json` for every point, and the charts: turn p95 and
//! cost per session against the first numeric swept setting (one line per remaining
//! combination), or per configuration as bars when nothing numeric was swept; and for a grid
//! of two settings, a heat map of turn p95.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::OutputWriter;
use super::columns::{RowObject, Table, table};
use super::format::{money, secs};
use super::study_plot::{
    Bar, Curve, CurveChart, HeatMap, SideBySide, bars, curves, heat_map, side_by_side,
};
use crate::config::{Experiment, Loaded};
use crate::results::{Inputs, Summary};
use crate::stats::Estimate;

/// The study's name: the file's `name`, i.e. every experiment's name without its suffix.
pub fn name_of(all: &[Loaded]) -> String {
    let Some(first) = all.first() else {
        return "sweep".into();
    };
    let e = &first.experiment;
    match &e.point.suffix {
        Some(suffix) => e
            .name
            .strip_suffix(suffix.as_str())
            .and_then(|s| s.strip_suffix('-'))
            .unwrap_or(&e.name)
            .to_string(),
        None => e.name.clone(),
    }
}

/// A finished sweep, ready to write.
pub struct SweepReport<'a> {
    /// The study's name (the file's `name`).
    pub study: &'a str,
    /// The points' experiments, in order.
    pub experiments: &'a [Experiment],
    /// Their summaries, in the same order.
    pub summaries: &'a [Summary],
}

#[derive(Serialize)]
struct SweepJson<'a> {
    capsim_version: &'static str,
    study: &'a str,
    seed: u64,
    points: Vec<PointJson<'a>>,
}

#[derive(Serialize)]
struct PointJson<'a> {
    results: RowObject<'a>,
    inputs: &'a Inputs,
    settings: &'a Experiment,
}

impl SweepReport<'_> {
    /// `sweep.json`: each point's row of `sweep.csv`, its inputs and its resolved settings.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let t = table(self.summaries);
        self.json_of(&t)
    }

    fn json_of(&self, t: &Table) -> anyhow::Result<String> {
        let doc = SweepJson {
            capsim_version: env!("CARGO_PKG_VERSION"),
            study: self.study,
            seed: self.experiments.first().map_or(0, |e| e.seed),
            points: (0..t.rows.len())
                .map(|i| PointJson {
                    results: t.row_object(i),
                    inputs: &self.summaries[i].inputs,
                    settings: &self.experiments[i],
                })
                .collect(),
        };
        Ok(serde_json::to_string_pretty(&doc)?)
    }

    /// Writes the folder atomically through `writer`; returns the files written.
    pub fn write(&self, writer: &OutputWriter, dir: &Path) -> anyhow::Result<Vec<String>> {
        let seed = self.experiments.first().map_or(0, |e| e.seed);
        writer.write_with(dir, (self.study, seed), &|staging| self.fill(staging))
    }

    fn fill(&self, staging: &Path) -> anyhow::Result<Vec<String>> {
        let t = table(self.summaries);
        let write = |name: &str, text: String| -> anyhow::Result<String> {
            let path = staging.join(name);
            std::fs::write(&path, text).with_context(|| format!("could not write {name}"))?;
            Ok(name.to_string())
        };
        let mut files = vec![
            write("sweep.csv", t.to_csv())?,
            write("sweep.json", self.json_of(&t)? + "\n")?,
        ];
        std::fs::create_dir(staging.join("points")).context("could not create points/")?;
        for (e, s) in self.experiments.iter().zip(self.summaries) {
            let folder = e.point.suffix.as_deref().unwrap_or(&e.name);
            std::fs::create_dir(staging.join("points").join(folder))
                .with_context(|| format!("could not create points/{folder}"))?;
            files.push(write(
                &format!("points/{folder}/summary.json"),
                serde_json::to_string_pretty(s)? + "\n",
            )?);
        }
        files.extend(self.charts(staging)?);
        Ok(files)
    }

    /// The charts, drawn in parallel (each is independent, and drawing a PNG is most of the
    /// time a sweep spends after its last replication); their names.
    fn charts(&self, staging: &Path) -> anyhow::Result<Vec<String>> {
        use rayon::prelude::*;
        type Draw<'a> = Box<dyn Fn(&Path) -> anyhow::Result<()> + Send + Sync + 'a>;
        let p95 = |s: &Summary| s.turn_latency_s.p95;
        let cost = |s: &Summary| {
            s.cost_usd.per_session.unwrap_or(Estimate {
                value: f64::NAN,
                ci95: [f64::NAN; 2],
            })
        };
        let bounds_p95 =
            super::study_plot::distinct_bounds(self.summaries.iter(), "turn_p95", |t| {
                (t, format!("SLO p95 ≤ {}", secs(t)))
            });
        let mut jobs: Vec<(&str, Draw)> = Vec::new();
        match numeric_axis(self.summaries) {
            Some(axis) => {
                let axis = std::sync::Arc::new(axis);
                let curve_chart = |title: &'static str,
                                   y_desc: &'static str,
                                   bounds: Vec<(f64, String)>,
                                   get: fn(&Summary) -> Estimate,
                                   dollars: bool|
                 -> Draw {
                    let axis = axis.clone();
                    Box::new(move |path| {
                        curves(
                            &CurveChart {
                                title: &format!("{title} against {axis}"),
                                x_desc: &axis,
                                y_desc,
                                bounds: bounds.clone(),
                                curves: &group_curves(self.summaries, &axis, get),
                                dollars,
                            },
                            path,
                        )
                    })
                };
                jobs.push((
                    "sweep.png",
                    curve_chart(
                        "Turn p95",
                        "turn latency p95 (s)",
                        bounds_p95.clone(),
                        p95,
                        false,
                    ),
                ));
                jobs.push((
                    "sweep_cost.png",
                    curve_chart(
                        "Cost per session",
                        "cost per completed session (USD)",
                        Vec::new(),
                        cost,
                        true,
                    ),
                ));
            }
            None => {
                let bar_chart = |title: &'static str,
                                 y_desc: &'static str,
                                 get: fn(&Summary) -> Estimate,
                                 note: fn(f64) -> String|
                 -> Draw {
                    Box::new(move |path| {
                        let of: Vec<Bar> = self
                            .summaries
                            .iter()
                            .zip(self.experiments)
                            .map(|(s, e)| {
                                let v = get(s);
                                Bar {
                                    label: e.point.suffix.clone().unwrap_or_else(|| e.name.clone()),
                                    value: [v.value, v.ci95[0], v.ci95[1]],
                                    note: note(v.value),
                                }
                            })
                            .collect();
                        bars(title, y_desc, &of, path)
                    })
                };
                jobs.push((
                    "sweep.png",
                    bar_chart(
                        "Turn p95 per configuration",
                        "turn latency p95 (s)",
                        p95,
                        secs,
                    ),
                ));
                jobs.push((
                    "sweep_cost.png",
                    bar_chart(
                        "Cost per session per configuration",
                        "cost per completed session (USD)",
                        cost,
                        money,
                    ),
                ));
            }
        }
        if self
            .summaries
            .iter()
            .any(|s| s.inputs.point.scenario.is_some())
        {
            jobs.push((
                SIDE_BY_SIDE,
                Box::new(|path| {
                    let labels = self
                        .experiments
                        .iter()
                        .map(|e| e.point.suffix.clone().unwrap_or_else(|| e.name.clone()));
                    side_by_side_chart(
                        "Turn p95 and cost per session, per configuration",
                        labels.zip(self.summaries),
                        path,
                    )
                }),
            ));
        }
        let bound = bounds_p95.first().map(|b| b.0);
        if self.heat_map(bound).is_some() {
            jobs.push((
                "sweep_heatmap.png",
                Box::new(move |path| match self.heat_map(bound) {
                    Some(map) => heat_map(&map, path),
                    None => Ok(()),
                }),
            ));
        }
        jobs.par_iter()
            .try_for_each(|(name, draw)| draw(&staging.join(name)))?;
        Ok(jobs.iter().map(|(name, _)| name.to_string()).collect())
    }

    /// Turn p95 over a grid of exactly two swept settings (and no scenarios).
    fn heat_map(&self, bound: Option<f64>) -> Option<HeatMap<'_>> {
        let first = &self.summaries.first()?.inputs.point;
        if first.swept.len() != 2
            || self
                .summaries
                .iter()
                .any(|s| s.inputs.point.scenario.is_some())
        {
            return None;
        }
        let (px, py) = (&first.swept[0].path, &first.swept[1].path);
        let value_at = |s: &Summary, path: &str| {
            s.inputs
                .point
                .swept
                .iter()
                .find(|v| v.path == path)
                .map(|v| match &v.value {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                })
        };
        let mut xs: Vec<String> = Vec::new();
        let mut ys: Vec<String> = Vec::new();
        for s in self.summaries {
            let (x, y) = (value_at(s, px)?, value_at(s, py)?);
            if !xs.contains(&x) {
                xs.push(x);
            }
            if !ys.contains(&y) {
                ys.push(y);
            }
        }
        let mut cells = vec![vec![f64::NAN; xs.len()]; ys.len()];
        for s in self.summaries {
            let col = xs
                .iter()
                .position(|x| Some(x) == value_at(s, px).as_ref())?;
            let row = ys
                .iter()
                .position(|y| Some(y) == value_at(s, py).as_ref())?;
            cells[row][col] = s.turn_latency_s.p95.value;
        }
        Some(HeatMap {
            title: "Turn p95 by setting (outlined: above the SLO bound)",
            x: (px, xs),
            y: (py, ys),
            cells,
            bound,
            text: secs,
        })
    }
}

/// The side-by-side chart of a sweep over scenarios.
const SIDE_BY_SIDE: &str = "sweep_side_by_side.png";

/// Draws turn p95 (with the SLO's p95 bound, when all runs share one) and cost per session of
/// each labelled run side by side.
fn side_by_side_chart<'s>(
    title: &str,
    runs: impl Iterator<Item = (String, &'s Summary)>,
    path: &Path,
) -> anyhow::Result<()> {
    let runs: Vec<(String, &Summary)> = runs.collect();
    let triple = |e: Option<Estimate>| e.map_or([f64::NAN; 3], |e| [e.value, e.ci95[0], e.ci95[1]]);
    let rows: Vec<SideBySide> = runs
        .iter()
        .map(|(label, s)| SideBySide {
            label: label.clone(),
            p95: triple(Some(s.turn_latency_s.p95)),
            cost: triple(s.cost_usd.per_session),
        })
        .collect();
    let bounds =
        super::study_plot::distinct_bounds(runs.iter().map(|(_, s)| *s), "turn_p95", |t| {
            (t, String::new())
        });
    let bound = match bounds.as_slice() {
        [(b, _)] => Some(*b),
        _ => None,
    };
    side_by_side(title, &rows, bound, path)
}

/// The folder of `sim compare --out DIR`: `compare.csv` and `compare.json` (the tidy table of
/// `sweep.csv`'s columns, one row per run) and `compare.png` (turn p95 and cost per session
/// side by side).
pub struct ComparisonReport<'a> {
    /// The runs, in the order given.
    pub summaries: &'a [Summary],
}

impl ComparisonReport<'_> {
    /// Writes the folder atomically through `writer`; returns the files written.
    pub fn write(&self, writer: &OutputWriter, dir: &Path) -> anyhow::Result<Vec<String>> {
        let seed = self.summaries.first().map_or(0, |s| s.seed);
        writer.write_with(dir, ("compare", seed), &|staging| {
            let t = table(self.summaries);
            std::fs::write(staging.join("compare.csv"), t.to_csv())
                .context("could not write compare.csv")?;
            std::fs::write(staging.join("compare.json"), t.to_json()? + "\n")
                .context("could not write compare.json")?;
            side_by_side_chart(
                "Turn p95 and cost per session, side by side",
                self.summaries.iter().map(|s| (s.experiment.clone(), s)),
                &staging.join("compare.png"),
            )?;
            Ok(vec![
                "compare.csv".into(),
                "compare.json".into(),
                "compare.png".into(),
            ])
        })
    }
}

/// The first swept path whose value is a number at every point.
fn numeric_axis(summaries: &[Summary]) -> Option<String> {
    let first = summaries.first()?;
    first.inputs.point.swept.iter().find_map(|v| {
        let numeric = summaries.iter().all(|s| {
            s.inputs
                .point
                .swept
                .iter()
                .any(|w| w.path == v.path && w.value.is_number())
        });
        numeric.then(|| v.path.clone())
    })
}

/// One curve per combination of scenario and the other swept values, x along `axis`.
fn group_curves(summaries: &[Summary], axis: &str, get: fn(&Summary) -> Estimate) -> Vec<Curve> {
    let mut out: Vec<Curve> = Vec::new();
    for s in summaries {
        let point = &s.inputs.point;
        let mut parts: Vec<String> = point.scenario.iter().cloned().collect();
        let mut x = f64::NAN;
        for v in &point.swept {
            if v.path == axis {
                x = v.value.as_f64().unwrap_or(f64::NAN);
            } else {
                let last = v.path.rsplit('.').next().unwrap_or(&v.path);
                parts.push(format!("{last} = {}", v.value));
            }
        }
        let label = if parts.is_empty() {
            "turn p95".to_string()
        } else {
            parts.join(", ")
        };
        let e = get(s);
        let point = [x, e.value, e.ci95[0], e.ci95[1]];
        match out.iter_mut().find(|c| c.label == label) {
            Some(c) => c.points.push(point),
            None => out.push(Curve {
                label,
                points: vec![point],
                mark: None,
            }),
        }
    }
    for c in &mut out {
        c.points.sort_by(|a, b| a[0].total_cmp(&b[0]));
    }
    out
}
