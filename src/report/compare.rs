//! Side-by-side table of several runs (`sim compare`), as plain text or Markdown.

use super::format::money;
use super::table;
use crate::results::Summary;
use crate::stats::Estimate;

const HEADER: [&str; 11] = [
    "experiment",
    "turn p50 s",
    "turn p95 s (95 % CI)",
    "errors",
    "instances mean / max",
    "CPU",
    "in flight",
    "LLM calls / turn",
    "cost / session",
    "cost / day",
    "SLO · bottleneck",
];

fn ci(e: Estimate, digits: usize) -> String {
    if e.ci95.iter().all(|x| x.is_finite()) {
        format!(
            "{:.d$} [{:.d$}, {:.d$}]",
            e.value,
            e.ci95[0],
            e.ci95[1],
            d = digits
        )
    } else {
        format!("{:.d$}", e.value, d = digits)
    }
}

/// Dollars as the terminal summary writes them; `-` when unknown.
fn dollars(v: Option<Estimate>) -> String {
    v.filter(|e| e.value.is_finite())
        .map_or_else(|| "-".into(), |e| money(e.value))
}

/// Mean and peak instances. The peak is the mean of each replication's peak, so it is often
/// fractional; it gets a decimal then, so the peak never reads below the mean (`1.2 / 1`).
pub(super) fn instances(mean: f64, max: f64) -> String {
    if max.fract() == 0.0 {
        format!("{mean:.1} / {max:.0}")
    } else {
        format!("{mean:.1} / {max:.1}")
    }
}

fn row(s: &Summary) -> [String; 11] {
    let t = &s.turn_latency_s;
    [
        s.experiment.clone(),
        format!("{:.2}", t.p50.value),
        ci(t.p95, 2),
        format!("{:.2} %", s.error_rate.value * 100.0),
        instances(s.instances.mean.value, s.instances.max.value),
        format!("{:.0} %", s.cpu_utilization.mean.value * 100.0),
        format!("{:.1}", s.concurrency.mean_in_flight.value),
        format!("{:.2}", s.llm.calls_per_turn.value),
        dollars(s.cost_usd.per_session),
        dollars(Some(s.cost_usd.per_day)),
        format!(
            "{} · {}",
            if s.slo.met { "met" } else { "missed" },
            s.slo.bottleneck.label()
        ),
    ]
}

/// The runs as an aligned text table, or as a Markdown table.
pub fn comparison_table(summaries: &[Summary], markdown: bool) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(HEADER.map(str::to_string).to_vec())
        .chain(summaries.iter().map(|s| row(s).to_vec()))
        .collect();
    if markdown {
        table::markdown(&rows)
    } else {
        table::aligned(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::sample_output;

    #[test]
    fn a_fractional_peak_keeps_its_decimal() {
        assert_eq!(instances(1.2, 1.4), "1.2 / 1.4");
        assert_eq!(instances(4.96, 5.0), "5.0 / 5");
    }

    #[test]
    fn one_row_per_run_in_both_forms() {
        let a = sample_output().summary;
        let mut b = a.clone();
        b.experiment = "other".into();
        let text = comparison_table(&[a.clone(), b.clone()], false);
        assert_eq!(text.lines().count(), 3);
        assert!(text.contains("baseline") && text.contains("other"));
        assert!(text.contains("2.41 [2.30, 2.52]"), "{text}");
        assert!(text.contains("$0.041") && text.contains("$1,238"), "{text}");
        let md = comparison_table(&[a, b], true);
        assert_eq!(md.lines().count(), 4);
        assert!(md.lines().all(|l| l.starts_with('|') && l.ends_with('|')));
    }
}
