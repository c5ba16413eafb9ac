//! `over_time.png`: what happens over the run, on one time axis. Four stacked panels: the load
//! (users and requests in flight); turn latency per interval (p50, p95, p99 of the interval's
//! turns pooled over replications) with the SLO's turn bounds; failed requests per second by
//! cause; instances ready and starting, with crashes. The time axis is in minutes up to three
//! hours and in hours beyond; the warm-up is shaded.

use std::path::Path;

use super::plot::{
    C_BLUE, C_BROWN, C_GREEN, C_GREY, C_ORANGE, C_PURPLE, C_RED, Line, Panel, TimeUnit, no_data,
    render_sized, stacked_panels,
};
use crate::metrics::ErrorCause;
use crate::results::{RunOutput, TimeSeriesRow};

/// A column of the time series.
type Column = fn(&TimeSeriesRow) -> f64;

/// Taller than the other charts: four panels share it.
const SIZE: (u32, u32) = (1000, 900);

/// The column of failures per second for `cause`.
fn errors_of(cause: ErrorCause) -> Column {
    match cause {
        ErrorCause::NoInstance => |r| r.no_instance_errors_per_s,
        ErrorCause::LlmQuota => |r| r.llm_quota_errors_per_s,
        ErrorCause::Timeout => |r| r.timeout_errors_per_s,
        ErrorCause::InstanceCrash => |r| r.instance_crash_errors_per_s,
        ErrorCause::RateLimited => |r| r.rate_limited_errors_per_s,
    }
}

/// Draws `over_time.png`.
pub(super) fn over_time(out: &RunOutput, path: &Path) -> anyhow::Result<()> {
    let rows = &out.timeseries;
    let unit = TimeUnit::for_span(out.summary.horizon_s);
    render_sized(path, SIZE, "What happens over time", |area| {
        let times = || {
            rows.iter()
                .map(|r| r.time_s / unit.seconds)
                .filter(|t| t.is_finite())
        };
        let (Some(x0), Some(x1)) = (times().reduce(f64::min), times().reduce(f64::max)) else {
            return no_data(area, "empty time series");
        };
        let x = x0..if x1 > x0 { x1 } else { x0 + 1.0 };
        let warmup_end = match out.summary.warmup_s / unit.seconds {
            w if w.is_finite() => w,
            _ => 0.0,
        };
        let load = vec![
            Line::column("users", C_BLUE, (rows, unit), 1.0, |r| r.users),
            Line::column("requests in flight", C_PURPLE, (rows, unit), 1.0, |r| {
                r.in_flight
            }),
            Line::column("requests pending", C_RED, (rows, unit), 1.0, |r| r.pending),
        ];
        let percentiles: [(&str, &str, _, Column); 3] = [
            ("turn p50", "turn_p50", C_GREEN, |r| r.turn_p50_s),
            ("turn p95", "turn_p95", C_BLUE, |r| r.turn_p95_s),
            ("turn p99", "turn_p99", C_PURPLE, |r| r.turn_p99_s),
        ];
        let mut latency = Vec::new();
        for (label, check_name, colour, col) in percentiles {
            latency.push(Line::column(label, colour, (rows, unit), 1.0, col));
            let bound = out.summary.slo.checks.iter().find(|c| c.name == check_name);
            if let Some(b) = bound.filter(|b| b.target.is_finite()) {
                let label = format!("SLO: {label} ≤ {} s", b.target);
                latency.push(Line::level(label, colour, b.target, &x));
            }
        }
        let colours = [C_RED, C_ORANGE, C_BROWN, C_GREY, C_PURPLE];
        let mut errors: Vec<Line> = ErrorCause::ALL
            .iter()
            .zip(colours)
            .map(|(cause, colour)| {
                let label = cause.label().replace('_', " ");
                Line::column(&label, colour, (rows, unit), 1.0, errors_of(*cause))
            })
            .filter(|l| l.points.iter().any(|p| p.1 > 0.0))
            .collect();
        if errors.is_empty() {
            errors.push(Line::column(
                "no failed requests",
                C_GREY,
                (rows, unit),
                1.0,
                |_| 0.0,
            ));
        }
        let mut instances = vec![
            Line::column("ready", C_BLUE, (rows, unit), 1.0, |r| r.instances_ready),
            Line::column("starting", C_ORANGE, (rows, unit), 1.0, |r| {
                r.instances_starting
            }),
        ];
        if rows.iter().any(|r| r.instance_crashes > 0.0) {
            instances.push(Line::column(
                "crashes per interval",
                C_RED,
                (rows, unit),
                1.0,
                |r| r.instance_crashes,
            ));
        }
        let panels = [
            Panel {
                y_desc: "users, requests",
                x_desc: None,
                lines: load,
                y_floor: 1.0,
                notes: Vec::new(),
                warmup_label: true,
                ticks: None,
            },
            Panel {
                y_desc: "turn latency (s)",
                x_desc: None,
                lines: latency,
                y_floor: 1.0,
                notes: Vec::new(),
                warmup_label: false,
                ticks: None,
            },
            Panel {
                y_desc: "failed requests/s",
                x_desc: None,
                notes: Vec::new(),
                lines: errors,
                y_floor: 0.1,
                warmup_label: false,
                ticks: None,
            },
            Panel {
                y_desc: "instances",
                x_desc: Some(unit.x_desc),
                lines: instances,
                y_floor: 1.0,
                notes: Vec::new(),
                warmup_label: false,
                ticks: None,
            },
        ];
        stacked_panels(area, &x, warmup_end, panels)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_drawn_in_hours_and_an_hour_in_minutes() {
        let minutes = TimeUnit::for_span(3600.0);
        assert_eq!(
            (minutes.seconds, minutes.x_desc),
            (60.0, "simulated time (min)")
        );
        assert_eq!(TimeUnit::for_span(3.0 * 3600.0).seconds, 60.0);
        let hours = TimeUnit::for_span(86_400.0);
        assert_eq!(
            (hours.seconds, hours.x_desc),
            (3600.0, "simulated time (h)")
        );
    }

    #[test]
    fn every_cause_has_its_own_column() {
        let row = TimeSeriesRow {
            no_instance_errors_per_s: 1.0,
            llm_quota_errors_per_s: 2.0,
            timeout_errors_per_s: 3.0,
            instance_crash_errors_per_s: 4.0,
            rate_limited_errors_per_s: 5.0,
            ..TimeSeriesRow::default()
        };
        let values: Vec<f64> = ErrorCause::ALL
            .iter()
            .map(|c| errors_of(*c)(&row))
            .collect();
        assert_eq!(values, [1.0, 2.0, 3.0, 4.0, 5.0]);
    }
}
