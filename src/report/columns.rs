//! The tidy table of several runs (`sweep.csv`, `sweep.json`, `sim compare --csv/--json`): one
//! row per run; its scenario and one column per swept path, then the key results, each
//! estimate followed by its 95 % confidence bounds (`<metric>_ci_low`, `<metric>_ci_high`).

use serde::Serialize;
use serde::ser::SerializeMap;

use super::files::{csv_num, csv_text};
use crate::config::Point;
use crate::results::Summary;
use crate::stats::Estimate;

/// One cell of the table.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A number (NaN when unknown: empty in CSV, `null` in JSON).
    Number(f64),
    /// A count.
    Count(u64),
    /// Text.
    Text(String),
    /// Yes or no.
    Flag(bool),
    /// A swept value as written in the file (absent when the run did not sweep that path).
    Value(Option<serde_json::Value>),
}

impl Cell {
    fn csv(&self) -> String {
        match self {
            Cell::Number(v) => csv_num(*v),
            Cell::Count(n) => n.to_string(),
            Cell::Text(s) => csv_text(s),
            Cell::Flag(b) => b.to_string(),
            Cell::Value(None) => String::new(),
            Cell::Value(Some(serde_json::Value::String(s))) => csv_text(s),
            Cell::Value(Some(v)) => csv_text(&v.to_string()),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Number(v) if v.is_finite() => s.serialize_f64(*v),
            Cell::Number(_) | Cell::Value(None) => s.serialize_none(),
            Cell::Count(n) => s.serialize_u64(*n),
            Cell::Text(t) => s.serialize_str(t),
            Cell::Flag(b) => s.serialize_bool(*b),
            Cell::Value(Some(v)) => v.serialize(s),
        }
    }
}

/// Runs as named columns and rows of cells.
#[derive(Clone, Debug)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// One row per run, a cell per column.
    pub rows: Vec<Vec<Cell>>,
}

/// An estimate column: its name and how to read it from a summary.
pub(super) type EstimateColumn = (&'static str, fn(&Summary) -> Option<Estimate>);

/// The estimates, in column order; each gets `_ci_low` and `_ci_high` columns after it.
pub(super) const ESTIMATES: [EstimateColumn; 12] = [
    ("turn_p50_s", |s| Some(s.turn_latency_s.p50)),
    ("turn_p95_s", |s| Some(s.turn_latency_s.p95)),
    ("turn_p99_s", |s| Some(s.turn_latency_s.p99)),
    ("session_start_p95_s", |s| {
        Some(s.session_start_latency_s.p95)
    }),
    ("error_rate", |s| Some(s.error_rate)),
    ("instances_mean", |s| Some(s.instances.mean)),
    ("instances_max", |s| Some(s.instances.max)),
    ("cpu_utilization", |s| Some(s.cpu_utilization.mean)),
    ("turn_throughput_per_s", |s| Some(s.turn_throughput_per_s)),
    ("cost_per_session_usd", |s| s.cost_usd.per_session),
    ("cost_per_day_usd", |s| Some(s.cost_usd.per_day)),
    ("cost_per_month_usd", |s| Some(s.cost_usd.per_month)),
];

/// Counts and labels after the estimates.
type OtherColumn = (&'static str, fn(&Summary) -> Cell);

const OTHERS: [OtherColumn; 11] = [
    ("turns", |s| Cell::Count(s.turn_latency_s.n)),
    ("errors_no_instance", |s| Cell::Count(s.errors.no_instance)),
    ("errors_llm_quota", |s| Cell::Count(s.errors.llm_quota)),
    ("errors_timeout", |s| Cell::Count(s.errors.timeout)),
    ("errors_instance_crash", |s| {
        Cell::Count(s.errors.instance_crash)
    }),
    ("errors_rate_limited", |s| {
        Cell::Count(s.errors.rate_limited)
    }),
    ("instance_crashes", |s| Cell::Count(s.instances.crashes)),
    ("replications", |s| Cell::Count(u64::from(s.replications))),
    ("warmup_s", |s| Cell::Number(s.warmup_s)),
    ("slo_met", |s| Cell::Flag(s.slo.met)),
    ("bottleneck", |s| {
        Cell::Text(s.slo.bottleneck.label().into())
    }),
];

/// The columns that place a run: `experiment`, `scenario` (when any run has one) and each
/// swept path in first-seen order.
pub(super) struct Identity<'p> {
    scenario: bool,
    swept: Vec<&'p str>,
}

impl<'p> Identity<'p> {
    /// The identity columns of runs at `points`.
    pub(super) fn of(points: impl Iterator<Item = &'p Point>) -> Identity<'p> {
        let mut identity = Identity {
            scenario: false,
            swept: Vec::new(),
        };
        for p in points {
            identity.scenario |= p.scenario.is_some();
            for v in &p.swept {
                if !identity.swept.contains(&v.path.as_str()) {
                    identity.swept.push(&v.path);
                }
            }
        }
        identity
    }

    /// Their names.
    pub(super) fn columns(&self) -> Vec<String> {
        let mut columns = vec!["experiment".to_string()];
        if self.scenario {
            columns.push("scenario".into());
        }
        columns.extend(self.swept.iter().map(|p| p.to_string()));
        columns
    }

    /// The cells of the run `experiment` at `point` (empty where it does not set a path).
    pub(super) fn cells(&self, experiment: &str, point: &Point) -> Vec<Cell> {
        let mut row = vec![Cell::Text(experiment.to_string())];
        if self.scenario {
            row.push(Cell::Text(point.scenario.clone().unwrap_or_default()));
        }
        row.extend(self.swept.iter().map(|path| {
            Cell::Value(
                point
                    .swept
                    .iter()
                    .find(|v| v.path == *path)
                    .map(|v| v.value.clone()),
            )
        }));
        row
    }
}

/// The table of `summaries`: `experiment`, `scenario` (when any run has one), each swept path
/// (in first-seen order), the load (`users` or `sessions_per_s`), then the results.
pub fn table(summaries: &[Summary]) -> Table {
    let identity = Identity::of(summaries.iter().map(|s| &s.inputs.point));
    let mut columns = identity.columns();
    columns.extend(["users", "sessions_per_s"].map(String::from));
    for (name, _) in ESTIMATES {
        columns.extend([
            name.to_string(),
            format!("{name}_ci_low"),
            format!("{name}_ci_high"),
        ]);
    }
    columns.extend(OTHERS.iter().map(|(name, _)| name.to_string()));
    let rows = summaries
        .iter()
        .map(|s| {
            let mut row = identity.cells(&s.experiment, &s.inputs.point);
            row.push(
                s.inputs
                    .users
                    .map_or(Cell::Number(f64::NAN), |u| Cell::Count(u64::from(u))),
            );
            row.push(Cell::Number(s.inputs.sessions_per_s.unwrap_or(f64::NAN)));
            for (_, get) in ESTIMATES {
                let e = get(s).unwrap_or(Estimate {
                    value: f64::NAN,
                    ci95: [f64::NAN; 2],
                });
                row.extend([e.value, e.ci95[0], e.ci95[1]].map(Cell::Number));
            }
            row.extend(OTHERS.iter().map(|(_, get)| get(s)));
            row
        })
        .collect();
    Table { columns, rows }
}

impl Table {
    /// The table as CSV with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = self
            .columns
            .iter()
            .map(|c| csv_text(c))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for i in 0..self.rows.len() {
            out.push_str(&self.to_csv_row(Some(i)));
            out.push('\n');
        }
        out
    }

    /// Row `i` as CSV cells without a line end; `None` gives a row of empty cells.
    pub fn to_csv_row(&self, i: Option<usize>) -> String {
        match i {
            Some(i) => self.rows[i]
                .iter()
                .map(Cell::csv)
                .collect::<Vec<_>>()
                .join(","),
            None => ",".repeat(self.columns.len().saturating_sub(1)),
        }
    }

    /// The rows as a JSON array of objects, keys in column order.
    pub fn to_json(&self) -> serde_json::Result<String> {
        let rows: Vec<RowObject> = (0..self.rows.len()).map(|i| self.row_object(i)).collect();
        serde_json::to_string_pretty(&rows)
    }

    /// Row `i` as a JSON object, its keys in column order.
    pub fn row_object(&self, i: usize) -> RowObject<'_> {
        RowObject { table: self, i }
    }
}

/// One row serialised as an object whose keys keep the table's column order.
pub struct RowObject<'t> {
    table: &'t Table,
    i: usize,
}

impl Serialize for RowObject<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.table.columns.len()))?;
        for (name, cell) in self.table.columns.iter().zip(&self.table.rows[self.i]) {
            map.serialize_entry(name, cell)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SweptValue;
    use crate::report::fixture::sample_output;

    #[test]
    fn one_row_per_run_with_swept_columns_and_ci_bounds() {
        let mut a = sample_output().summary;
        a.inputs.point.swept = vec![SweptValue {
            path: "platform.max_concurrency".into(),
            value: serde_json::json!(10),
        }];
        let mut b = a.clone();
        b.experiment = "other, quoted".into();
        b.inputs.point.swept[0].value = serde_json::json!(20);
        let t = table(&[a, b]);
        let csv = t.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split(',').collect();
        assert_eq!(
            &header[..5],
            [
                "experiment",
                "platform.max_concurrency",
                "users",
                "sessions_per_s",
                "turn_p50_s"
            ]
        );
        let p95 = header.iter().position(|c| *c == "turn_p95_s").unwrap();
        assert_eq!(header[p95 + 1], "turn_p95_s_ci_low");
        assert_eq!(header[p95 + 2], "turn_p95_s_ci_high");
        assert!(
            lines[2].starts_with("\"other, quoted\",20,100,,"),
            "{}",
            lines[2]
        );
        let json = serde_json::to_string(&t.row_object(0)).unwrap();
        assert!(
            json.starts_with(r#"{"experiment":"baseline","platform.max_concurrency":10,"users":100,"sessions_per_s":null,"turn_p50_s":"#),
            "{json}"
        );
        let month = t
            .columns
            .iter()
            .position(|c| c == "cost_per_month_usd")
            .unwrap();
        let day = t
            .columns
            .iter()
            .position(|c| c == "cost_per_day_usd")
            .unwrap();
        let (Cell::Number(m), Cell::Number(d)) = (&t.rows[0][month], &t.rows[0][day]) else {
            panic!("costs are numbers");
        };
        assert!((m / d - crate::results::DAYS_PER_MONTH).abs() < 1e-12);
    }
}
