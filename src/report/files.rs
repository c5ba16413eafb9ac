//! The result files of a run: `summary.json`, the CSVs and the PNG charts, written into one
//! folder (the staging folder that `output_dir` then swaps into place).

use std::fs;
use std::path::Path;

use anyhow::Context;

use super::{over_time, plot};
use crate::results::{HistogramRow, RunOutput, TimeSeriesRow};

/// The chart files and the functions drawing them. A new chart is its function in `plot.rs`,
/// its row here and its row in docs/summary-schema.md (a CLI test fails without the last).
pub(super) const CHARTS: [(&str, plot::DrawFn); 5] = [
    ("latency_cdf.png", plot::latency_cdf),
    ("instances_cpu.png", plot::instances_cpu),
    ("latency_breakdown.png", plot::latency_breakdown),
    ("cost_breakdown.png", plot::cost_breakdown),
    ("over_time.png", over_time::over_time),
];

/// Column names of `timeseries.csv`: the `TimeSeriesRow` fields in order.
const TIMESERIES_COLUMNS: [&str; 27] = [
    "time_s",
    "users",
    "sessions",
    "instances_ready",
    "instances_starting",
    "instance_crashes",
    "cpu_utilization",
    "in_flight",
    "pending",
    "llm_in_flight",
    "llm_calls_per_min",
    "llm_rpm_quota",
    "llm_input_tokens_per_min",
    "llm_tpm_quota",
    "requests_per_s",
    "turns_per_s",
    "turn_latency_mean_s",
    "turn_p50_s",
    "turn_p95_s",
    "turn_p99_s",
    "turn_samples",
    "errors_per_s",
    "no_instance_errors_per_s",
    "llm_quota_errors_per_s",
    "timeout_errors_per_s",
    "instance_crash_errors_per_s",
    "rate_limited_errors_per_s",
];

/// Writes every result file into `dir`, calling `between` before each, and lists their names.
pub(super) fn write_all(out: &RunOutput, dir: &Path, between: fn()) -> anyhow::Result<Vec<String>> {
    let mut json = serde_json::to_string_pretty(&out.summary).context("serialising the summary")?;
    json.push('\n');
    let texts = [
        ("summary.json", json),
        ("timeseries.csv", timeseries_csv(&out.timeseries)),
        ("latency_histogram.csv", histogram_csv(&out.histogram)),
    ];
    let mut written = Vec::new();
    for (name, text) in texts {
        between();
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
        written.push(name.to_string());
    }
    for (name, draw) in CHARTS {
        between();
        draw(out, &dir.join(name)).with_context(|| format!("drawing {name}"))?;
        written.push(name.to_string());
    }
    Ok(written)
}

/// A number for CSV: shortest round-trip form, empty for NaN.
pub(super) fn csv_num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        v.to_string()
    }
}

/// A text field for CSV, quoted when it needs to be.
pub(super) fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn timeseries_csv(rows: &[TimeSeriesRow]) -> String {
    let mut csv = TIMESERIES_COLUMNS.join(",");
    csv.push('\n');
    for row in rows {
        // Exhaustive on purpose: a new field must be added to the CSV (and its header) too.
        let TimeSeriesRow {
            time_s,
            users,
            sessions,
            instances_ready,
            instances_starting,
            instance_crashes,
            cpu_utilization,
            in_flight,
            pending,
            llm_in_flight,
            llm_calls_per_min,
            llm_rpm_quota,
            llm_input_tokens_per_min,
            llm_tpm_quota,
            requests_per_s,
            turns_per_s,
            turn_latency_mean_s,
            turn_p50_s,
            turn_p95_s,
            turn_p99_s,
            turn_samples,
            errors_per_s,
            no_instance_errors_per_s,
            llm_quota_errors_per_s,
            timeout_errors_per_s,
            instance_crash_errors_per_s,
            rate_limited_errors_per_s,
        } = row;
        let values = [
            time_s,
            users,
            sessions,
            instances_ready,
            instances_starting,
            instance_crashes,
            cpu_utilization,
            in_flight,
            pending,
            llm_in_flight,
            llm_calls_per_min,
            llm_rpm_quota,
            llm_input_tokens_per_min,
            llm_tpm_quota,
            requests_per_s,
            turns_per_s,
            turn_latency_mean_s,
            turn_p50_s,
            turn_p95_s,
            turn_p99_s,
            turn_samples,
            errors_per_s,
            no_instance_errors_per_s,
            llm_quota_errors_per_s,
            timeout_errors_per_s,
            instance_crash_errors_per_s,
            rate_limited_errors_per_s,
        ];
        csv.push_str(&values.map(|v| csv_num(*v)).join(","));
        csv.push('\n');
    }
    csv
}

fn histogram_csv(rows: &[HistogramRow]) -> String {
    let mut csv = String::from("metric,upper_s,count,cdf\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            csv_text(r.metric.name()),
            csv_num(r.upper_s),
            r.count,
            csv_num(r.cdf)
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::OutputWriter;
    use crate::report::fixture::sample_output;
    use crate::report::manifest::MANIFEST;
    use std::ffi::OsStr;

    /// Writes through the whole output-folder path, as `sim run` does.
    fn write_outputs(out: &RunOutput, dir: &Path) -> anyhow::Result<Vec<String>> {
        OutputWriter::new(false).write(out, dir)
    }

    /// The data files, then every chart.
    fn all_files() -> Vec<&'static str> {
        let data = ["summary.json", "timeseries.csv", "latency_histogram.csv"];
        data.into_iter()
            .chain(CHARTS.iter().map(|(name, _)| *name))
            .collect()
    }

    #[test]
    fn writes_all_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("results").join("run1");
        let written = write_outputs(&sample_output(), &dir).unwrap();
        assert_eq!(written, all_files());
        for name in all_files() {
            let bytes = fs::read(dir.join(name)).unwrap();
            if name.ends_with(".png") {
                assert!(
                    bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
                    "{name} is not a PNG"
                );
                assert!(bytes.len() > 10_000, "{name} is only {} bytes", bytes.len());
            }
        }
        // Nothing left beside the folder.
        let siblings: Vec<_> = fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(siblings, [OsStr::new("run1")]);

        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap();
        let p95 = &json["turn_latency_s"]["p95"];
        assert_eq!(p95["value"].as_f64(), Some(2.41));
        let ci = p95["ci95"].as_array().unwrap();
        assert_eq!(ci.len(), 2);
        assert!((ci[0].as_f64().unwrap() - 2.30).abs() < 1e-9);
        assert_eq!(json["slo"]["bottleneck"], "llm_latency");

        let ts = fs::read_to_string(dir.join("timeseries.csv")).unwrap();
        let mut lines = ts.lines();
        assert_eq!(
            lines.next().unwrap(),
            "time_s,users,sessions,instances_ready,instances_starting,instance_crashes,\
             cpu_utilization,in_flight,pending,llm_in_flight,llm_calls_per_min,llm_rpm_quota,\
             llm_input_tokens_per_min,llm_tpm_quota,requests_per_s,turns_per_s,\
             turn_latency_mean_s,turn_p50_s,turn_p95_s,turn_p99_s,turn_samples,errors_per_s,\
             no_instance_errors_per_s,llm_quota_errors_per_s,timeout_errors_per_s,\
             instance_crash_errors_per_s,rate_limited_errors_per_s"
        );
        assert_eq!(lines.clone().count(), 60);
        // The first bucket's NaN latency is written empty.
        let first: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(first.len(), TIMESERIES_COLUMNS.len());
        assert_eq!(first[0], "0");
        let mean_at = TIMESERIES_COLUMNS
            .iter()
            .position(|c| *c == "turn_latency_mean_s")
            .unwrap();
        assert_eq!(first[mean_at], "");

        let hist = fs::read_to_string(dir.join("latency_histogram.csv")).unwrap();
        let mut lines = hist.lines();
        assert_eq!(lines.next(), Some("metric,upper_s,count,cdf"));
        assert_eq!(lines.count(), sample_output().histogram.len());
    }

    #[test]
    fn timeseries_header_follows_the_struct() {
        let json = serde_json::to_string(&TimeSeriesRow::default()).unwrap();
        let mut last = 0;
        for col in TIMESERIES_COLUMNS {
            let at = json
                .find(&format!("\"{col}\":"))
                .unwrap_or_else(|| panic!("{col} missing"));
            assert!(at >= last, "{col} out of order");
            last = at;
        }
        assert_eq!(json.matches(':').count(), TIMESERIES_COLUMNS.len());
    }

    #[test]
    fn summary_is_reproducible_and_stale_files_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let out = sample_output();
        write_outputs(&out, &dir).unwrap();
        // A stale file in a capsim result folder goes with the folder.
        fs::write(dir.join("stale.txt"), "old run").unwrap();
        write_outputs(&out, &dir).unwrap();
        assert!(!dir.join("stale.txt").exists());
        let first = fs::read(dir.join("summary.json")).unwrap();
        assert_eq!(first.last(), Some(&b'\n'));
        write_outputs(&out, &dir).unwrap();
        assert_eq!(first, fs::read(dir.join("summary.json")).unwrap());
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        entries.sort();
        let mut expected: Vec<String> = all_files().into_iter().map(String::from).collect();
        expected.push(MANIFEST.to_string());
        expected.sort();
        assert_eq!(entries, expected);
        let siblings = fs::read_dir(tmp.path()).unwrap().count();
        assert_eq!(siblings, 1, "temporary folders left behind");
    }

    #[test]
    fn single_replication_nulls_and_refusals() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = sample_output();
        out.summary.turn_latency_s.p95.ci95 = [f64::NAN, f64::NAN];
        let dir = tmp.path().join("one");
        write_outputs(&out, &dir).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(
            json["turn_latency_s"]["p95"]["ci95"],
            serde_json::json!([null, null])
        );

        // A plain file where the folder should go is left alone.
        let file = tmp.path().join("file");
        fs::write(&file, "keep me").unwrap();
        assert!(write_outputs(&out, &file).is_err());
        assert_eq!(fs::read_to_string(&file).unwrap(), "keep me");
        assert!(write_outputs(&out, Path::new("..")).is_err());
    }

    /// Every key of summary.json (nested ones included) and every CSV column is documented.
    #[test]
    fn schema_doc_covers_every_field() {
        fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        out.push(k.clone());
                        keys(v, out);
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
                _ => {}
            }
        }
        let doc = include_str!("../../docs/summary-schema.md");
        let json = serde_json::to_value(&sample_output().summary).unwrap();
        let mut all = Vec::new();
        keys(&json, &mut all);
        all.extend(TIMESERIES_COLUMNS.map(String::from));
        for key in all {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_text("turn"), "turn");
        assert_eq!(csv_text("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_num(f64::NAN), "");
        assert_eq!(csv_num(0.1), "0.1");
    }
}
