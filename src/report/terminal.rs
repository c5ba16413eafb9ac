//! The ten-second terminal summary: plain text, aligned columns, no colour codes.

use std::fmt::Write as _;

use crate::metrics::ErrorCause;
use crate::results::{LatencySummary, LoadPoint, RunOutput, SloCheck, Summary};
use crate::stats::Estimate;

use super::format::{
    count, decimals, duration, interval, money, money_est, number, pct, pct_est, plain_est, secs,
    secs_est, secs_unit,
};
use super::table::{Align, lines as lines_of};

/// Renders the terminal summary of a run (plain text, about 40 lines).
pub fn render_terminal(out: &RunOutput) -> String {
    let s = &out.summary;
    let mut lines = Vec::new();
    header(s, &mut lines);
    latency(s, &mut lines);
    breakdown(s, &mut lines);
    errors(s, &mut lines);
    capacity(s, &mut lines);
    llm(s, &mut lines);
    cost(s, &mut lines);
    slo(s, &mut lines);
    warnings(s, &mut lines);
    let mut text = String::new();
    for line in lines {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{}", line.trim_end());
    }
    text
}

fn header(s: &Summary, lines: &mut Vec<String>) {
    lines.push(format!(
        "capsim {} · experiment \"{}\"",
        s.capsim_version, s.experiment
    ));
    lines.push(format!(
        "{} replication{} · horizon {} · warm-up {} · seed {} · {} events",
        s.replications,
        if s.replications == 1 { "" } else { "s" },
        duration(s.horizon_s),
        duration(s.warmup_s),
        s.seed,
        count(s.events),
    ));
    if let Some(p) = &s.precision {
        lines.push(format!(
            "precision: {} known to ±{:.1} % (target {:.1} %){}",
            p.metric.label(),
            p.achieved * 100.0,
            p.target * 100.0,
            if p.met {
                ""
            } else {
                " — NOT reached: replication cap hit"
            }
        ));
    }
}

fn latency(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    let head = ["Latency", "n", "mean", "p50", "p90", "p95", "p99", "max"];
    let mut rows = vec![head.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    let metrics: [(&str, &LatencySummary); 2] = [
        ("  turn", &s.turn_latency_s),
        ("  session start", &s.session_start_latency_s),
    ];
    for (name, l) in metrics {
        let mut row = vec![name.to_string(), count(l.n)];
        row.extend([l.mean, l.p50, l.p90, l.p95, l.p99, l.max].map(secs_est));
        rows.push(row);
    }
    let mut align = vec![Align::Left, Align::Right];
    align.extend([Align::Left; 6]);
    lines.extend(lines_of(&rows, &align));
    for (name, l) in metrics {
        if let Some(w) = &l.warning {
            lines.push(format!("  ! {}: {w}", name.trim()));
        }
    }
}

fn breakdown(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    if s.latency_breakdown_s.is_empty() {
        lines.push("Where the time went (turn): no breakdown recorded".to_string());
        return;
    }
    let total = s.turn_latency_s.mean.value;
    let mut comps: Vec<_> = s.latency_breakdown_s.iter().collect();
    comps.sort_by(|a, b| nan_low(b.mean.value).total_cmp(&nan_low(a.mean.value)));
    let mut rows = vec![vec![
        "Where the time went (turn)".to_string(),
        "mean".to_string(),
        "p95".to_string(),
        "share of mean".to_string(),
    ]];
    for c in comps {
        let share = if total.is_finite() && total > 0.0 {
            pct(c.mean.value / total)
        } else {
            "n/a".to_string()
        };
        rows.push(vec![
            format!("  {}", c.component.label()),
            secs(c.mean.value),
            secs(c.p95.value),
            share,
        ]);
    }
    lines.extend(lines_of(
        &rows,
        &[Align::Left, Align::Right, Align::Right, Align::Right],
    ));
}

fn errors(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    let e = &s.errors;
    lines.push(format!(
        "Errors  {} of {} requests ({} failed)",
        pct_est(s.error_rate),
        count(s.requests),
        count(e.total()),
    ));
    let causes: Vec<String> = ErrorCause::ALL
        .iter()
        .filter(|c| e.get(**c) > 0)
        .map(|c| format!("{} {}", c.label(), count(e.get(*c))))
        .collect();
    let mut by_cause = if causes.is_empty() {
        "  by cause: none".to_string()
    } else {
        format!("  by cause: {}", causes.join(" · "))
    };
    if e.rate_limited > 0 {
        by_cause.push_str(&format!(
            " (excluding rate limits: {})",
            pct_est(s.error_rate_excluding_rate_limits)
        ));
    }
    lines.push(by_cause);
    if s.abandoned_sessions > 0 {
        lines.push(format!(
            "  sessions abandoned after an error: {}",
            count(s.abandoned_sessions)
        ));
    }
}

fn capacity(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    lines.push("Capacity".to_string());
    let rows = vec![
        vec![
            "  instances".to_string(),
            format!(
                "mean {} · max {} · {} cold starts{}",
                plain_est(s.instances.mean, 1.0, ""),
                plain_est(s.instances.max, 1.0, ""),
                count(s.instances.cold_starts),
                match s.instances.crashes {
                    0 => String::new(),
                    n => format!(" · {} crashed (out of memory)", count(n)),
                }
            ),
        ],
        vec![
            "  CPU".to_string(),
            match s.cpu_utilization.slowdown.value {
                // A model without CPU steps has no CPU work to stretch.
                stretch if stretch.is_finite() => format!(
                    "{} mean utilisation · CPU work stretched x{stretch:.2} by sharing",
                    pct_est(s.cpu_utilization.mean)
                ),
                _ => format!(
                    "{} mean utilisation · no CPU work in the turns",
                    pct_est(s.cpu_utilization.mean)
                ),
            },
        ],
        vec![
            "  requests".to_string(),
            format!(
                "in flight {} · pending {} · turns that waited {}",
                plain_est(s.concurrency.mean_in_flight, 1.0, ""),
                plain_est(s.concurrency.mean_pending, 1.0, ""),
                pct_est(s.concurrency.turn_wait_probability)
            ),
        ],
        vec![
            "  throughput".to_string(),
            plain_est(s.turn_throughput_per_s, 1.0, " turns/s"),
        ],
    ];
    lines.extend(lines_of(&rows, &[Align::Left, Align::Left]));
    let ll = &s.littles_law;
    if ll.relative_error.is_finite() && ll.relative_error > 0.05 {
        lines.push(format!(
            "  ! Little's law off by {}: L = {}, lambda W = {}",
            pct(ll.relative_error),
            number(ll.l, decimals(ll.l)),
            number(ll.lambda_w, decimals(ll.lambda_w)),
        ));
    }
}

fn llm(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    lines.push("LLM".to_string());
    let l = &s.llm;
    lines.push(format!(
        "  calls/turn {} · input tokens/turn {} · output tokens/turn {} · quota 429s {}",
        plain_est(l.calls_per_turn, 1.0, ""),
        plain_est(l.input_tokens_per_turn, 1.0, ""),
        plain_est(l.output_tokens_per_turn, 1.0, ""),
        count(l.quota_rejections),
    ));
    // One compact line for the agents when there is more than one.
    if l.agents.len() > 1 {
        let agents: Vec<String> = l
            .agents
            .iter()
            .map(|a| {
                format!(
                    "{} {:.2} calls/turn, {:.2} s, {}/day",
                    a.agent,
                    a.calls_per_turn.value,
                    a.mean_call_latency_s.value,
                    money(a.cost_per_day.value)
                )
            })
            .collect();
        lines.push(format!("  agents: {}", agents.join(" · ")));
    }
}

/// Cost components listed one per line before the rest are lumped together.
const TOP_COSTS: usize = 3;

fn cost(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    lines.push("Cost".to_string());
    let c = &s.cost_usd;
    let opt = |e: Option<Estimate>| e.map_or_else(|| "n/a".to_string(), money_est);
    lines.push(format!(
        "  per turn {} · per session {}",
        opt(c.per_turn),
        opt(c.per_session),
    ));
    lines.push(format!(
        "  at the window's mean rate: {} per day · {} per month",
        money_est(c.per_day),
        money_est(c.per_month),
    ));
    let mut comps: Vec<_> = c.breakdown.iter().collect();
    comps.sort_by(|a, b| nan_low(b.per_day.value).total_cmp(&nan_low(a.per_day.value)));
    let mut rows = Vec::new();
    let shown = if comps.len() > TOP_COSTS + 1 {
        TOP_COSTS
    } else {
        comps.len()
    };
    for r in &comps[..shown] {
        rows.push(vec![
            format!("  {}", r.component),
            format!("{}/day", money(r.per_day.value)),
            pct(r.share),
        ]);
    }
    let rest = &comps[shown..];
    if !rest.is_empty() {
        let dollars: f64 = rest.iter().map(|r| r.per_day.value).sum();
        let share: f64 = rest.iter().map(|r| r.share).sum();
        rows.push(vec![
            format!("  {} others", rest.len()),
            format!("{}/day", money(dollars)),
            pct(share),
        ]);
    }
    lines.extend(lines_of(&rows, &[Align::Left, Align::Right, Align::Right]));
}

fn slo(s: &Summary, lines: &mut Vec<String>) {
    lines.push(String::new());
    let v = &s.slo;
    if v.checks.is_empty() {
        lines.push("SLO: no checks configured".to_string());
    } else {
        let missed = v.checks.iter().filter(|c| !c.met).count();
        lines.push(format!(
            "SLO: {} ({} of {} checks met){}",
            if v.met { "MET" } else { "MISSED" },
            v.checks.len() - missed,
            v.checks.len(),
            match s.instances.crashes {
                0 => String::new(),
                n => format!(", but {} instances crashed out of memory", count(n)),
            }
        ));
        for c in &v.checks {
            lines.push(format!("  {}", slo_check(c)));
        }
    }
    if let Some(line) = load_curve_line(s) {
        lines.push(line);
    }
    lines.extend(load_curve_table(s));
    if let Some(line) = over_time_line(s) {
        lines.push(line);
    }
    lines.push(format!(
        "Bottleneck: {} — {}",
        v.bottleneck.label(),
        v.explanation
    ));
}

/// Users and turn p95 per load-curve segment, one compact row each (errors only when any).
fn load_curve_table(s: &Summary) -> Vec<String> {
    let points: Vec<&LoadPoint> = s.load_curve.iter().filter(|p| p.turns > 0).collect();
    if points.len() < 2 {
        return Vec::new();
    }
    let row = |label: &str, digits: usize, f: &dyn Fn(&LoadPoint) -> f64| {
        let cells: String = points
            .iter()
            .map(|p| match f(p) {
                v if v.is_finite() => format!("{:>6}", number(v, digits)),
                _ => format!("{:>6}", "-"),
            })
            .collect();
        format!("  {label:<12}{cells}")
    };
    let mut rows = vec![
        row("users", 0, &|p| p.users),
        row("turn p95 s", 1, &|p| p.turn_p95.value),
    ];
    if points.iter().any(|p| p.error_rate.value > 0.0) {
        rows.push(row("errors %", 1, &|p| p.error_rate.value * 100.0));
    }
    rows
}

/// Where the load curve crossed the turn-p95 and error-rate bounds (none when the SLO sets
/// neither bound).
fn load_curve_line(s: &Summary) -> Option<String> {
    let users = |u: f64| format!("{} users", number(u, decimals(u).saturating_sub(1)));
    match (s.slo.capacity_users, s.slo.first_miss_users) {
        (Some(ok), Some(miss)) => Some(format!(
            "Load curve: bounds met up to {}, first missed at {}",
            users(ok),
            users(miss)
        )),
        (Some(ok), None) => Some(format!(
            "Load curve: bounds met in every segment (up to {})",
            users(ok)
        )),
        (None, Some(miss)) => Some(format!(
            "Load curve: bounds missed from the first segment ({})",
            users(miss)
        )),
        (None, None) => None,
    }
}

/// The traps the run fell into, each with its fix.
fn warnings(s: &Summary, lines: &mut Vec<String>) {
    if s.warnings.is_empty() {
        return;
    }
    lines.push(String::new());
    lines.push("Warnings".to_string());
    for w in &s.warnings {
        lines.push(format!("  ! {}", w.message));
        lines.push(format!("    fix: {}", w.fix));
    }
}

/// How long the time series stayed outside the SLO, and its longest stretch.
fn over_time_line(s: &Summary) -> Option<String> {
    let o = s.slo.over_time.as_ref()?;
    if o.measured_s <= 0.0 {
        return None;
    }
    let share = 100.0 * o.outside_s / o.measured_s;
    Some(match o.longest_outside_from_s {
        None => format!(
            "Over time ({} intervals): inside the SLO throughout the {} measured",
            duration(o.interval_s),
            duration(o.measured_s)
        ),
        Some(from) => format!(
            "Over time ({} intervals): outside the SLO for {} of {} measured ({} %); longest \
             stretch {}, from {} to {}",
            duration(o.interval_s),
            duration(o.outside_s),
            duration(o.measured_s),
            number(share, decimals(share)),
            duration(o.longest_outside_s),
            clock(from),
            clock(from + o.longest_outside_s)
        ),
    })
}

/// A time since the start of the run as `h:mm:ss` (or `m:ss` under an hour).
fn clock(t: f64) -> String {
    let total = t.max(0.0).round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m}:{sec:02}")
    }
}

/// `turn_p95 <= 3.00 s: 2.41 s [2.30, 2.52] MET`. Checks whose name mentions `error` are
/// fractions and shown as percentages; all others are seconds.
fn slo_check(c: &SloCheck) -> String {
    let (target, value) = if c.name.contains("error") {
        let d = decimals(c.value.value * 100.0);
        (
            format!(
                "{} %",
                number(c.target * 100.0, decimals(c.target * 100.0).max(2))
            ),
            format!(
                "{} % {}",
                number(c.value.value * 100.0, d),
                interval(c.value, 100.0, d)
            ),
        )
    } else {
        let (scale, unit) = secs_unit(c.value.value);
        let d = decimals(c.value.value * scale);
        let value = if c.value.value.is_finite() {
            format!(
                "{}{unit} {}",
                number(c.value.value * scale, d),
                interval(c.value, scale, d)
            )
        } else {
            "n/a".to_string()
        };
        (secs(c.target), value)
    };
    let verdict = if c.met { "MET" } else { "MISSED" };
    let doubt = if c.uncertain {
        " (uncertain: CI straddles the bound)"
    } else {
        ""
    };
    format!("{} <= {target}: {value} {verdict}{doubt}", c.name)
}

/// NaN sorts last when sorting descending.
fn nan_low(v: f64) -> f64 {
    if v.is_nan() { f64::NEG_INFINITY } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::sample_output;

    #[test]
    fn summary_has_the_key_lines() {
        let text = render_terminal(&sample_output());
        assert!(text.contains("p95"), "{text}");
        assert!(
            text.contains("Bottleneck: llm_latency — LLM calls"),
            "{text}"
        );
        assert!(
            text.contains(
                "per turn $0.0028 ±0.0001 · per session $0.041 ±0.002\n  at the window's mean \
                 rate: $1,238 ±12 per day · $37,676 ±365 per month"
            ),
            "{text}"
        );
        assert!(
            text.contains("turn_p95 <= 3.00 s: 2.41 s [2.30, 2.52] MET"),
            "{text}"
        );
        assert!(
            text.contains(
                "error_rate <= 0.50 %: 0.42 % [0.29, 0.55] MET (uncertain: CI straddles the bound)"
            ),
            "{text}"
        );
        assert!(
            text.contains("by cause: no_instance 40 · timeout 12"),
            "{text}"
        );
        assert!(text.contains("2.41 s ±0.11"), "{text}");
        assert!(text.contains("760 ms ±32"), "{text}");
        assert!(text.contains("! session start: p99 rests"), "{text}");
        assert!(text.contains("horizon 1 h · warm-up 5 min 12 s"), "{text}");
        assert!(
            text.contains("Load curve: bounds met up to 75 users, first missed at 100 users"),
            "{text}"
        );
        assert!(text.contains("turns that waited 12.0 % ±2.0"), "{text}");
        assert!(!text.contains('\x1b'), "no colour codes");
        assert!(text.lines().count() <= 48, "{} lines", text.lines().count());
    }

    #[test]
    fn latency_table_columns_line_up() {
        let text = render_terminal(&sample_output());
        let lines: Vec<&str> = text.lines().collect();
        let head = lines.iter().position(|l| l.starts_with("Latency")).unwrap();
        let col = lines[head].find("p95").unwrap();
        let col_chars = lines[head][..col].chars().count();
        let turn: String = lines[head + 1].chars().skip(col_chars).take(12).collect();
        assert_eq!(turn, "2.41 s ±0.11");
    }

    #[test]
    fn nan_intervals_and_empty_errors() {
        let mut out = sample_output();
        out.summary.turn_latency_s.p95 = Estimate {
            value: 2.0,
            ci95: [f64::NAN, f64::NAN],
        };
        out.summary.errors = Default::default();
        out.summary.cost_usd.per_turn = None;
        out.summary.slo.capacity_users = Some(100.0);
        out.summary.slo.first_miss_users = None;
        let text = render_terminal(&out);
        assert!(
            text.contains("Load curve: bounds met in every segment (up to 100 users)"),
            "{text}"
        );
        assert!(text.contains("2.00 s ±?"), "{text}");
        assert!(text.contains("by cause: none"), "{text}");
        assert!(text.contains("per turn n/a"), "{text}");
    }

    #[test]
    fn a_model_without_cpu_work_says_so_instead_of_nan() {
        let mut out = sample_output();
        out.summary.cpu_utilization.slowdown = Estimate {
            value: f64::NAN,
            ci95: [f64::NAN, f64::NAN],
        };
        let text = render_terminal(&out);
        assert!(text.contains("no CPU work in the turns"), "{text}");
        assert!(!text.contains("NaN"), "{text}");
    }

    #[test]
    fn time_outside_the_slo_reads_as_durations_and_clock_times() {
        let mut out = sample_output();
        out.summary.slo.over_time = Some(crate::results::SloOverTime {
            interval_s: 30.0,
            measured_s: 3480.0,
            outside_s: 390.0,
            longest_outside_s: 90.0,
            longest_outside_from_s: Some(630.0),
        });
        let text = render_terminal(&out);
        assert!(
            text.contains(
                "Over time (30 s intervals): outside the SLO for 6 min 30 s of 58 min measured \
                 (11.2 %); longest stretch 1 min 30 s, from 10:30 to 12:00"
            ),
            "{text}"
        );
        out.summary.slo.over_time = Some(crate::results::SloOverTime {
            interval_s: 600.0,
            measured_s: 86_400.0,
            outside_s: 0.0,
            longest_outside_s: 0.0,
            longest_outside_from_s: None,
        });
        let text = render_terminal(&out);
        assert!(
            text.contains(
                "Over time (10 min intervals): inside the SLO throughout the 24 h measured"
            ),
            "{text}"
        );
        assert_eq!(clock(3_725.0), "1:02:05");
    }

    #[test]
    fn warnings_print_each_trap_with_its_fix() {
        let mut out = sample_output();
        let text = render_terminal(&out);
        assert!(!text.contains("Warnings"), "{text}");
        out.summary.warnings.push(crate::results::Trap {
            kind: crate::results::TrapKind::ShortHorizon,
            message: "the measured window (10 min) holds 0.9 session lengths".into(),
            fix: "run longer: `horizon: 40m` or more".into(),
        });
        let text = render_terminal(&out);
        assert!(
            text.contains(
                "Warnings\n  ! the measured window (10 min) holds 0.9 session lengths\n    \
                 fix: run longer: `horizon: 40m` or more"
            ),
            "{text}"
        );
    }
}
