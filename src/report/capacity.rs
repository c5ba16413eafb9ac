//! The output of `sim capacity`: `capacity.csv` and `capacity.json` (one row per
//! configuration: its capacity under the interval rule, the point-estimate capacity, and the
//! key results at that load), `probes.csv` (every probe's load, verdict and results, so the
//! curves can be redrawn), the terminal table, and four charts (turn p95, error rate and cost
//! per session against load with the capacities marked; capacity per configuration).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::OutputWriter;
use super::columns::{Cell, ESTIMATES, Identity, RowObject, Table, table};
use super::compare::instances;
use super::files::csv_text;
use super::format::{money, secs};
use super::study_plot::{Bar, Curve, CurveChart, bars, curves, distinct_bounds};
use super::table::aligned;
use crate::config::Experiment;
use crate::results::Summary;
use crate::stats::Estimate;
use crate::study::capacity::{Capacity, LoadKind, load_text};

/// A finished capacity study, ready to write.
pub struct CapacityReport<'a> {
    /// The study's name (the file's `name`).
    pub study: &'a str,
    /// The configurations, in order.
    pub experiments: &'a [Experiment],
    /// Their capacities, in the same order.
    pub results: &'a [Capacity],
}

/// The estimates `capacity.csv` reports at the capacity.
const AT_CAPACITY: [&str; 8] = [
    "turn_p95_s",
    "error_rate",
    "instances_mean",
    "instances_max",
    "cpu_utilization",
    "cost_per_session_usd",
    "cost_per_day_usd",
    "cost_per_month_usd",
];

fn none() -> Estimate {
    Estimate {
        value: f64::NAN,
        ci95: [f64::NAN; 2],
    }
}

fn number(v: Option<f64>) -> Cell {
    Cell::Number(v.unwrap_or(f64::NAN))
}

impl CapacityReport<'_> {
    /// The per-configuration table.
    pub fn table(&self) -> Table {
        let identity = Identity::of(self.experiments.iter().map(|e| &e.point));
        let mut columns = identity.columns();
        columns.extend(
            [
                "load_unit",
                "capacity",
                "capacity_point_estimate",
                "uncertain_from",
                "uncertain_to",
                "first_miss",
                "first_miss_bottleneck",
            ]
            .map(String::from),
        );
        for name in AT_CAPACITY {
            columns.extend([
                name.to_string(),
                format!("{name}_ci_low"),
                format!("{name}_ci_high"),
            ]);
        }
        columns.extend(["warmup_s", "spread_s", "probes", "note"].map(String::from));
        let rows = self
            .experiments
            .iter()
            .zip(self.results)
            .map(|(e, c)| {
                let mut row = identity.cells(&e.name, &e.point);
                let uncertain = match (c.capacity, c.capacity_point) {
                    (Some(a), Some(b)) if b > a => (Some(a), Some(b)),
                    _ => (None, None),
                };
                row.extend([
                    Cell::Text(unit_name(c.kind).into()),
                    number(c.capacity),
                    number(c.capacity_point),
                    number(uncertain.0),
                    number(uncertain.1),
                    number(c.first_miss),
                    Cell::Text(
                        c.first_miss_bottleneck
                            .map_or(String::new(), |b| b.label().to_string()),
                    ),
                ]);
                let at = c.at_capacity();
                for name in AT_CAPACITY {
                    let get = ESTIMATES
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, get)| get)
                        .expect("every AT_CAPACITY column is an estimate column");
                    let v = at.and_then(get).unwrap_or_else(none);
                    row.extend([v.value, v.ci95[0], v.ci95[1]].map(Cell::Number));
                }
                row.extend([
                    Cell::Number(c.warmup_s),
                    number(c.spread_s),
                    Cell::Count(c.probes.len() as u64),
                    Cell::Text(c.note.clone().unwrap_or_default()),
                ]);
                row
            })
            .collect();
        Table { columns, rows }
    }

    /// `probes.csv`: configuration, load, verdicts and why a run stopped, then the probe's row
    /// of the tidy table (empty for a probe that stopped early).
    fn probes_csv(&self) -> String {
        let with_summary: Vec<Summary> = self
            .results
            .iter()
            .flat_map(|c| c.probes.iter().filter_map(|p| p.summary.clone()))
            .collect();
        let t = table(&with_summary);
        let mut out = [
            "configuration",
            "load",
            "meets",
            "meets_point_estimate",
            "stopped",
        ]
        .join(",");
        for c in &t.columns {
            out.push(',');
            out.push_str(&csv_text(c));
        }
        out.push('\n');
        let blank = t.to_csv_row(None);
        let mut next = 0;
        for c in self.results {
            for p in &c.probes {
                let results = match p.summary {
                    Some(_) => {
                        next += 1;
                        t.to_csv_row(Some(next - 1))
                    }
                    None => blank.clone(),
                };
                out.push_str(&format!(
                    "{},{},{},{},{},{results}\n",
                    csv_text(&c.experiment),
                    p.load,
                    p.meets,
                    p.meets_point,
                    csv_text(p.stopped.as_deref().unwrap_or(""))
                ));
            }
        }
        out
    }

    /// `capacity.json`: each configuration's row of `capacity.csv` and its probes.
    pub fn to_json(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Doc<'a> {
            capsim_version: &'static str,
            study: &'a str,
            rule: &'static str,
            configurations: Vec<Config<'a>>,
        }
        #[derive(Serialize)]
        struct Config<'a> {
            results: RowObject<'a>,
            probes: Vec<ProbeJson<'a>>,
        }
        #[derive(Serialize)]
        struct ProbeJson<'a> {
            load: f64,
            meets: bool,
            meets_point_estimate: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            stopped: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            summary: Option<&'a Summary>,
        }
        let t = self.table();
        let doc = Doc {
            capsim_version: env!("CARGO_PKG_VERSION"),
            study: self.study,
            rule: "a load meets the SLO when the far end of every bounded metric's 95 % interval is within its bound",
            configurations: self
                .results
                .iter()
                .enumerate()
                .map(|(i, c)| Config {
                    results: t.row_object(i),
                    probes: c
                        .probes
                        .iter()
                        .map(|p| ProbeJson {
                            load: p.load,
                            meets: p.meets,
                            meets_point_estimate: p.meets_point,
                            stopped: p.stopped.as_deref(),
                            summary: p.summary.as_ref(),
                        })
                        .collect(),
                })
                .collect(),
        };
        Ok(serde_json::to_string_pretty(&doc)?)
    }

    /// The terminal table: one line per configuration.
    pub fn render(&self) -> String {
        let mut rows = vec![
            [
                "configuration",
                "capacity",
                "point estimate",
                "instances mean / max",
                "cost / session",
                "cost / day",
                "cost / month",
                "first miss · bottleneck",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let mut notes = Vec::new();
        for (e, c) in self.experiments.iter().zip(self.results) {
            let unit = match c.kind {
                LoadKind::Users => "users",
                LoadKind::SessionsPerS => "sessions/s",
            };
            let load = |l: Option<f64>| {
                l.map_or_else(
                    || "none".into(),
                    |l| format!("{} {unit}", load_text(l, c.kind)),
                )
            };
            let at = c.at_capacity();
            let dollars = |get: fn(&Summary) -> Option<Estimate>| {
                at.and_then(get)
                    .filter(|v| v.value.is_finite())
                    .map_or_else(|| "-".into(), |v| money(v.value))
            };
            rows.push(vec![
                e.name.clone(),
                load(c.capacity),
                load(c.capacity_point),
                at.map_or_else(
                    || "-".into(),
                    |s| instances(s.instances.mean.value, s.instances.max.value),
                ),
                dollars(|s| s.cost_usd.per_session),
                dollars(|s| Some(s.cost_usd.per_day)),
                dollars(|s| Some(s.cost_usd.per_month)),
                match (c.first_miss, c.first_miss_bottleneck) {
                    (Some(m), Some(b)) => format!("{} · {}", load_text(m, c.kind), b.label()),
                    (Some(m), None) => format!("{} · run stopped", load_text(m, c.kind)),
                    _ => "-".into(),
                },
            ]);
            if let Some(n) = &c.note {
                notes.push(format!("{}: {n}", e.name));
            }
        }
        let mut out = aligned(&rows);
        out.push_str(
            "\nCapacity: the largest load at which the far end of every SLO metric's 95 % interval is within its bound;\n\
             point estimate: the largest probed load whose estimates alone are within the bounds.\n",
        );
        for n in notes {
            out.push_str(&format!("Note: {n}\n"));
        }
        out
    }

    /// Writes the folder atomically through `writer`; returns the files written.
    pub fn write(&self, writer: &OutputWriter, dir: &Path) -> anyhow::Result<Vec<String>> {
        let seed = self.experiments.first().map_or(0, |e| e.seed);
        writer.write_with(dir, (self.study, seed), &|staging| self.fill(staging))
    }

    fn fill(&self, staging: &Path) -> anyhow::Result<Vec<String>> {
        let write = |name: &str, text: String| -> anyhow::Result<String> {
            std::fs::write(staging.join(name), text)
                .with_context(|| format!("could not write {name}"))?;
            Ok(name.to_string())
        };
        let mut files = vec![
            write("capacity.csv", self.table().to_csv())?,
            write("capacity.json", self.to_json()? + "\n")?,
            write("probes.csv", self.probes_csv())?,
        ];
        files.extend(self.charts(staging)?);
        Ok(files)
    }

    fn charts(&self, staging: &Path) -> anyhow::Result<Vec<String>> {
        let kind = self.results.first().map_or(LoadKind::Users, |c| c.kind);
        let x_desc = format!("load ({})", kind.unit());
        let probed = || {
            self.results
                .iter()
                .flat_map(|c| c.probes.iter().filter_map(|p| p.summary.as_ref()))
        };
        let lines = |get: fn(&Summary) -> Estimate, scale: f64| -> Vec<Curve> {
            self.results
                .iter()
                .zip(self.experiments)
                .map(|(c, e)| {
                    let mut points: Vec<[f64; 4]> = c
                        .probes
                        .iter()
                        .filter_map(|p| {
                            let v = get(p.summary.as_ref()?);
                            Some([
                                p.load,
                                v.value * scale,
                                v.ci95[0] * scale,
                                v.ci95[1] * scale,
                            ])
                        })
                        .collect();
                    points.sort_by(|a, b| a[0].total_cmp(&b[0]));
                    points.dedup_by(|a, b| a[0] == b[0]);
                    let mark = c.capacity.and_then(|cap| {
                        let y = points.iter().find(|p| p[0] == cap)?[1];
                        Some((cap, y, format!("capacity {} ", load_text(cap, c.kind))))
                    });
                    Curve {
                        label: e.point.suffix.clone().unwrap_or_else(|| e.name.clone()),
                        points,
                        mark,
                    }
                })
                .collect()
        };
        let p95 = |s: &Summary| s.turn_latency_s.p95;
        let errors = |s: &Summary| s.error_rate;
        let cost = |s: &Summary| s.cost_usd.per_session.unwrap_or_else(none);
        curves(
            &CurveChart {
                title: "Turn p95 against load",
                x_desc: &x_desc,
                y_desc: "turn latency p95 (s)",
                bounds: distinct_bounds(probed(), "turn_p95", |t| {
                    (t, format!("SLO p95 ≤ {}", secs(t)))
                }),
                curves: &lines(p95, 1.0),
                dollars: false,
            },
            &staging.join("capacity_p95.png"),
        )?;
        curves(
            &CurveChart {
                title: "Error rate against load",
                x_desc: &x_desc,
                y_desc: "failed requests (%)",
                bounds: distinct_bounds(probed(), "error_rate", |t| {
                    (t * 100.0, format!("SLO errors ≤ {} %", t * 100.0))
                }),
                curves: &lines(errors, 100.0),
                dollars: false,
            },
            &staging.join("capacity_errors.png"),
        )?;
        curves(
            &CurveChart {
                title: "Cost per session against load",
                x_desc: &x_desc,
                y_desc: "cost per completed session (USD)",
                bounds: Vec::new(),
                curves: &lines(cost, 1.0),
                dollars: true,
            },
            &staging.join("capacity_cost.png"),
        )?;
        let capacity_bars: Vec<Bar> = self
            .results
            .iter()
            .zip(self.experiments)
            .map(|(c, e)| {
                let at = c.at_capacity();
                let note = match (c.capacity, at) {
                    (Some(cap), Some(s)) => format!(
                        "{} · {:.1} inst · {}/day",
                        load_text(cap, c.kind),
                        s.instances.mean.value,
                        money(s.cost_usd.per_day.value)
                    ),
                    _ => "no load meets the SLO".into(),
                };
                let value = c.capacity.unwrap_or(f64::NAN);
                Bar {
                    label: e.point.suffix.clone().unwrap_or_else(|| e.name.clone()),
                    value: [value, value, c.capacity_point.unwrap_or(value)],
                    note,
                }
            })
            .collect();
        bars(
            &format!("Capacity per configuration ({})", kind.unit()),
            &format!(
                "capacity ({}); whisker to the point-estimate capacity",
                kind.unit()
            ),
            &capacity_bars,
            &staging.join("capacity.png"),
        )?;
        Ok([
            "capacity_p95.png",
            "capacity_errors.png",
            "capacity_cost.png",
            "capacity.png",
        ]
        .map(String::from)
        .to_vec())
    }
}

/// The load unit as `capacity.csv` writes it.
fn unit_name(kind: LoadKind) -> &'static str {
    match kind {
        LoadKind::Users => "users",
        LoadKind::SessionsPerS => "sessions_per_s",
    }
}
