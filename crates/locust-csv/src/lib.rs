//! Locust's request statistics and the CSV files it writes with `--csv PREFIX`:
//! `PREFIX_stats.csv`, `PREFIX_stats_history.csv` and `PREFIX_failures.csv`, with Locust's column
//! names and order and its arithmetic (locust/stats.py): response times kept in a histogram
//! rounded to 2 significant digits above 100 ms, percentiles read from it as integers, the median
//! clamped to min/max, rates over the time from the start to the last request, Python's `csv`
//! quoting and `\r\n` line ends, and numbers printed as Python prints them. It depends on nothing,
//! so both the load driver and capsim's projections write the same files.

use std::collections::BTreeMap;

/// The percentiles Locust reports by default.
pub const PERCENTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// The columns of `_failures.csv`.
pub const FAILURES_COLUMNS: [&str; 4] = ["Method", "Name", "Error", "Occurrences"];

/// The name of the total row.
pub const AGGREGATED: &str = "Aggregated";

/// A percentile's column label, as Locust's `get_readable_percentiles` writes it ("50%", "99.9%").
pub fn percentile_label(p: f64) -> String {
    let percent = p * 100.0;
    if percent.fract() == 0.0 {
        format!("{}%", percent as i64)
    } else {
        let rounded = (percent * 1e6).round() / 1e6;
        format!("{}%", py_float(rounded))
    }
}

fn labels() -> impl Iterator<Item = String> {
    PERCENTILES.iter().map(|&p| percentile_label(p))
}

/// The columns of `_stats.csv`.
pub fn stats_columns() -> Vec<String> {
    [
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(labels())
    .collect()
}

/// The columns of `_stats_history.csv`.
pub fn stats_history_columns() -> Vec<String> {
    let head = [
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
    ];
    let tail = [
        "Total Request Count",
        "Total Failure Count",
        "Total Median Response Time",
        "Total Average Response Time",
        "Total Min Response Time",
        "Total Max Response Time",
        "Total Average Content Size",
    ];
    head.iter()
        .map(|s| s.to_string())
        .chain(labels())
        .chain(tail.iter().map(|s| s.to_string()))
        .collect()
}

/// A float as Python's `repr` prints it (`150.0`, `0.1`, `1e-05`).
pub fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let magnitude = v.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{v:e}");
        let (mantissa, exponent) = text.split_once('e').expect("`{:e}` has an exponent");
        let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// A number that is an `int` or a `float` in Locust, printed accordingly.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PyNumber {
    Int(i64),
    Float(f64),
}

impl PyNumber {
    fn text(self) -> String {
        match self {
            PyNumber::Int(i) => i.to_string(),
            PyNumber::Float(f) => py_float(f),
        }
    }

    fn value(self) -> f64 {
        match self {
            PyNumber::Int(i) => i as f64,
            PyNumber::Float(f) => f,
        }
    }
}

/// Python's `round(x)` (half to even).
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// Locust's histogram key of a response time: exact below 100 ms (an int), else rounded to 10,
/// 100 or 1000 ms (a float).
fn rounded_key(ms: f64) -> (i64, bool) {
    let (unit, is_float) = if ms < 100.0 {
        (1.0, false)
    } else if ms < 1000.0 {
        (10.0, true)
    } else if ms < 10000.0 {
        (100.0, true)
    } else {
        (1000.0, true)
    };
    ((round_half_even(ms / unit) * unit) as i64, is_float)
}

/// The statistics of one request kind (Locust's `StatsEntry`).
#[derive(Debug, Clone, Default)]
pub struct StatsEntry {
    method: String,
    name: String,
    num_requests: u64,
    num_failures: u64,
    total_response_time: f64,
    min_response_time: Option<f64>,
    max_response_time: Option<f64>,
    total_content_length: u64,
    /// Rounded ms → (count, whether Python holds the key as a float).
    response_times: BTreeMap<i64, (u64, bool)>,
    /// Whole second → requests in it.
    requests_per_second: BTreeMap<i64, u64>,
    /// Whole second → failures in it.
    failures_per_second: BTreeMap<i64, u64>,
}

impl StatsEntry {
    fn new(method: &str, name: &str) -> Self {
        Self {
            method: method.to_string(),
            name: name.to_string(),
            ..Self::default()
        }
    }

    fn log(&mut self, at_s: f64, response_time_ms: f64, content_length: u64) {
        self.num_requests += 1;
        *self
            .requests_per_second
            .entry(at_s.floor() as i64)
            .or_default() += 1;
        self.total_response_time += response_time_ms;
        self.min_response_time = Some(
            self.min_response_time
                .map_or(response_time_ms, |m| m.min(response_time_ms)),
        );
        self.max_response_time = Some(
            self.max_response_time
                .map_or(response_time_ms, |m| m.max(response_time_ms)),
        );
        let (key, is_float) = rounded_key(response_time_ms);
        self.response_times.entry(key).or_insert((0, is_float)).0 += 1;
        self.total_content_length += content_length;
    }

    fn log_error(&mut self, at_s: f64) {
        self.num_failures += 1;
        *self
            .failures_per_second
            .entry(at_s.floor() as i64)
            .or_default() += 1;
    }

    /// Requests logged.
    pub fn num_requests(&self) -> u64 {
        self.num_requests
    }

    /// Failures logged.
    pub fn num_failures(&self) -> u64 {
        self.num_failures
    }

    /// The response time that `percent` of the requests finished within (Locust's
    /// `calculate_response_time_percentile`), in whole ms.
    pub fn percentile(&self, percent: f64) -> i64 {
        let wanted = (self.num_requests as f64 * percent) as u64;
        let mut processed = 0;
        for (&key, &(count, _)) in self.response_times.iter().rev() {
            processed += count;
            if self.num_requests.saturating_sub(processed) <= wanted {
                return key;
            }
        }
        0
    }

    fn median(&self) -> PyNumber {
        let Some((&last_key, &(_, last_float))) = self.response_times.iter().next_back() else {
            return PyNumber::Int(0);
        };
        let mut pos = (self.num_requests as f64 - 1.0) / 2.0;
        let mut median = if last_float {
            PyNumber::Float(last_key as f64)
        } else {
            PyNumber::Int(last_key)
        };
        for (&key, &(count, is_float)) in &self.response_times {
            if pos < count as f64 {
                median = if is_float {
                    PyNumber::Float(key as f64)
                } else {
                    PyNumber::Int(key)
                };
                break;
            }
            pos -= count as f64;
        }
        let max = self.max_response_time.unwrap_or(0.0);
        if median.value() > max {
            return PyNumber::Float(max);
        }
        match self.min_response_time {
            Some(min) if median.value() < min => PyNumber::Float(min),
            _ => median,
        }
    }

    fn avg_response_time(&self) -> f64 {
        if self.num_requests == 0 {
            0.0
        } else {
            self.total_response_time / self.num_requests as f64
        }
    }

    fn avg_content_length(&self) -> PyNumber {
        if self.num_requests == 0 {
            PyNumber::Int(0)
        } else {
            PyNumber::Float(self.total_content_length as f64 / self.num_requests as f64)
        }
    }

    fn min_text(&self) -> String {
        self.min_response_time
            .filter(|&m| m != 0.0)
            .map_or("0".to_string(), py_float)
    }

    fn max_text(&self) -> String {
        self.max_response_time.map_or("0".to_string(), py_float)
    }

    /// Request and failure counts, median, average, min and max response time, average size:
    /// the run-long figures both files carry.
    fn totals(&self) -> [String; 7] {
        [
            self.num_requests.to_string(),
            self.num_failures.to_string(),
            self.median().text(),
            py_float(self.avg_response_time()),
            self.min_text(),
            self.max_text(),
            self.avg_content_length().text(),
        ]
    }

    fn percentile_fields(&self) -> Vec<String> {
        PERCENTILES
            .iter()
            .map(|&p| {
                if self.num_requests == 0 {
                    "N/A".to_string()
                } else {
                    self.percentile(p).to_string()
                }
            })
            .collect()
    }
}

/// All request statistics of a run (Locust's `RequestStats`): one entry per (name, method), the
/// `Aggregated` total, and the failures by (method, name, error).
#[derive(Debug, Clone)]
pub struct RequestStats {
    entries: BTreeMap<(String, String), StatsEntry>,
    total: StatsEntry,
    errors: BTreeMap<(String, String, String), u64>,
    start_s: f64,
    last_request_s: Option<f64>,
}

/// Quotes a field as Python's `csv` module does (only when it must).
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

fn csv_row(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

impl RequestStats {
    /// Statistics of a run that started at `start_s` (seconds since the epoch).
    pub fn new(start_s: f64) -> Self {
        Self {
            entries: BTreeMap::new(),
            total: StatsEntry::new("", AGGREGATED),
            errors: BTreeMap::new(),
            start_s,
            last_request_s: None,
        }
    }

    /// Logs a request (failed or not) that ended at `at_s` after `response_time_ms`.
    pub fn log_request(
        &mut self,
        method: &str,
        name: &str,
        at_s: f64,
        response_time_ms: f64,
        content_length: u64,
    ) {
        self.total.log(at_s, response_time_ms, content_length);
        self.entries
            .entry((name.to_string(), method.to_string()))
            .or_insert_with(|| StatsEntry::new(method, name))
            .log(at_s, response_time_ms, content_length);
        self.last_request_s = Some(self.last_request_s.map_or(at_s, |l| l.max(at_s)));
    }

    /// Logs a failure of a request already logged with [`RequestStats::log_request`].
    pub fn log_error(&mut self, method: &str, name: &str, at_s: f64, error: &str) {
        self.total.log_error(at_s);
        self.entries
            .entry((name.to_string(), method.to_string()))
            .or_insert_with(|| StatsEntry::new(method, name))
            .log_error(at_s);
        *self
            .errors
            .entry((method.to_string(), name.to_string(), error.to_string()))
            .or_default() += 1;
    }

    /// The entry of (method, name), if any request of that kind was logged.
    pub fn entry(&self, method: &str, name: &str) -> Option<&StatsEntry> {
        self.entries.get(&(name.to_string(), method.to_string()))
    }

    /// The `Aggregated` entry.
    pub fn total(&self) -> &StatsEntry {
        &self.total
    }

    fn rate(&self, count: u64) -> String {
        match self.last_request_s {
            Some(last) if last > self.start_s && self.start_s > 0.0 => {
                py_float(count as f64 / (last - self.start_s))
            }
            _ => "0.0".to_string(),
        }
    }

    /// Mean per-second count over Locust's "current" window: the whole seconds from
    /// max(last - 12, start) up to, not including, last - 2.
    fn current_rate(&self, per_second: &BTreeMap<i64, u64>) -> f64 {
        let Some(last) = self.last_request_s else {
            return 0.0;
        };
        let last = last.floor() as i64;
        let from = (last - 12).max(self.start_s.floor() as i64);
        let to = last - 2;
        if to <= from {
            return 0.0;
        }
        let sum: u64 = (from..to)
            .map(|t| per_second.get(&t).copied().unwrap_or(0))
            .sum();
        sum as f64 / (to - from) as f64
    }

    fn stats_row(&self, e: &StatsEntry) -> Vec<String> {
        let mut row = vec![e.method.clone(), e.name.clone()];
        row.extend(e.totals());
        row.extend([self.rate(e.num_requests), self.rate(e.num_failures)]);
        row.extend(e.percentile_fields());
        row
    }

    /// The whole `_stats.csv`: the header, one row per request kind sorted by (name, method),
    /// then `Aggregated`.
    pub fn stats_csv(&self) -> String {
        let mut out = csv_row(&stats_columns());
        for entry in self.entries.values().chain(std::iter::once(&self.total)) {
            out.push_str(&csv_row(&self.stats_row(entry)));
        }
        out
    }

    /// The header line of `_stats_history.csv`.
    pub fn stats_history_header() -> String {
        csv_row(&stats_history_columns())
    }

    /// One `_stats_history.csv` line (the `Aggregated` row Locust appends every second), at
    /// `now_s` with `user_count` users running.
    pub fn stats_history_row(&self, now_s: f64, user_count: u64) -> String {
        let e = &self.total;
        let mut row = vec![
            (now_s.floor() as i64).to_string(),
            user_count.to_string(),
            String::new(),
            e.name.clone(),
            format!("{:.6}", self.current_rate(&e.requests_per_second)),
            format!("{:.6}", self.current_rate(&e.failures_per_second)),
        ];
        row.extend(e.percentile_fields());
        row.extend(e.totals());
        csv_row(&row)
    }

    /// The whole `_failures.csv`.
    pub fn failures_csv(&self) -> String {
        let header: Vec<String> = FAILURES_COLUMNS.iter().map(|s| s.to_string()).collect();
        let mut out = csv_row(&header);
        for ((method, name, error), count) in &self.errors {
            out.push_str(&csv_row(&[
                method.clone(),
                name.clone(),
                error.clone(),
                count.to_string(),
            ]));
        }
        out
    }
}

/// Writes `text` to `PREFIX_SUFFIX`.
pub fn write_file(prefix: &str, suffix: &str, text: &str) -> std::io::Result<()> {
    std::fs::write(format!("{prefix}{suffix}"), text)
}

/// The file suffixes Locust uses, in the order of [`RequestStats::stats_csv`],
/// [`RequestStats::stats_history_row`] and [`RequestStats::failures_csv`].
pub const SUFFIXES: [&str; 3] = ["_stats.csv", "_stats_history.csv", "_failures.csv"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_are_locusts() {
        assert_eq!(
            stats_columns().join(","),
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
             Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
             50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
        );
        assert_eq!(
            stats_history_columns().join(","),
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,\
             99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,\
             Total Average Response Time,Total Min Response Time,Total Max Response Time,\
             Total Average Content Size"
        );
        assert_eq!(FAILURES_COLUMNS.join(","), "Method,Name,Error,Occurrences");
    }

    #[test]
    fn floats_print_as_python_prints_them() {
        assert_eq!(py_float(150.0), "150.0");
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(2.5e16), "2.5e+16");
        assert_eq!(py_float(12.345), "12.345");
    }

    #[test]
    fn response_times_round_as_locust_rounds_them() {
        assert_eq!(rounded_key(42.5), (42, false));
        assert_eq!(rounded_key(147.0), (150, true));
        assert_eq!(rounded_key(3432.0), (3400, true));
        assert_eq!(rounded_key(58760.0), (59000, true));
    }

    #[test]
    fn a_small_run_gives_locusts_numbers() {
        let mut stats = RequestStats::new(1000.0);
        for (i, ms) in [10.0, 20.0, 147.0, 3432.0].iter().enumerate() {
            stats.log_request("POST", "/turn", 1001.0 + i as f64, *ms, 100);
        }
        stats.log_error("POST", "/turn", 1004.0, "HTTPError('500')");
        let csv = stats.stats_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        // median: position 1.5 falls in the second key (20, an int); percentiles from the
        // rounded keys (147 → 150, 3432 → 3400), counted from the top.
        assert_eq!(
            lines[1],
            "POST,/turn,4,1,20,902.25,10.0,3432.0,100.0,1.0,0.25,150,150,3400,3400,3400,3400,3400,3400,3400,3400,3400"
        );
        assert!(lines[2].starts_with(",Aggregated,4,1,20,"));
        assert_eq!(
            stats.failures_csv(),
            "Method,Name,Error,Occurrences\r\nPOST,/turn,HTTPError('500'),1\r\n"
        );
    }

    #[test]
    fn an_empty_entry_reports_n_a_percentiles_and_fields_are_quoted_when_needed() {
        let stats = RequestStats::new(1.0);
        let row = stats.stats_history_row(5.0, 0);
        assert!(
            row.starts_with("5,0,,Aggregated,0.000000,0.000000,N/A,"),
            "{row}"
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
