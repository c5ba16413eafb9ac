//! The fit table `sim calibrate` prints: one row per fitted quantity with its distribution,
//! parameters, KS statistic, sample count, and measured against fitted p50 and p95.

use super::fit::{Family, Fit, Fitted};
use super::model_file::{Unit, number};
use super::{Calibration, LatencyFit};
use crate::report::table::{self, Align};

/// Distribution name and short parameters, as the table shows them.
fn describe(fitted: &Fitted, unit: Unit) -> (String, String) {
    match fitted {
        Fitted::Family(Family::LogNormal { mu, sigma }) => (
            "lognormal".into(),
            format!("mu={} sigma={}", number(*mu), number(*sigma)),
        ),
        Fitted::Family(Family::Gamma { shape, scale }) => (
            "gamma".into(),
            format!("shape={} scale={}", number(*shape), unit.format(*scale)),
        ),
        Fitted::Family(Family::Weibull { shape, scale }) => (
            "weibull".into(),
            format!("shape={} scale={}", number(*shape), unit.format(*scale)),
        ),
        Fitted::Empirical(points) => ("empirical".into(), format!("{} quantiles", points.len())),
        Fitted::Constant(v) => ("constant".into(), unit.format(*v)),
        Fitted::Discrete(points) => (
            "discrete".into(),
            points
                .iter()
                .map(|(v, w)| format!("{}:{:.0}%", number(*v), w * 100.0))
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

fn row(quantity: String, fit: &Fit, unit: Unit) -> Vec<String> {
    let (name, mut parameters) = describe(&fit.fitted, unit);
    if let Some(why) = &fit.fallback {
        parameters = format!("{parameters} ({why})");
    }
    vec![
        quantity,
        name,
        parameters,
        fit.ks.map_or_else(|| "-".into(), |d| format!("{d:.3}")),
        fit.n.to_string(),
        unit.format(fit.measured.0),
        unit.format(fit.predicted.0),
        unit.format(fit.measured.1),
        unit.format(fit.predicted.1),
    ]
}

/// All rows of a calibration, header first.
pub fn rows(calibration: &Calibration) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "quantity",
            "distribution",
            "parameters",
            "KS",
            "n",
            "p50 meas",
            "p50 fit",
            "p95 meas",
            "p95 fit",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (model, latency) in &calibration.models {
        match latency {
            LatencyFit::Tokens {
                regression,
                first_token,
                end_to_end,
            } => {
                let mut whole = row(format!("llm {model} latency"), end_to_end, Unit::Seconds);
                whole[1] = "tokens".into();
                whole[2] = format!(
                    "first token + out/{} tok/s (t={})",
                    number(regression.decode_rate()),
                    number(regression.slope_t)
                );
                whole[3] = "-".into();
                whole[6] = "-".into();
                whole[8] = "-".into();
                rows.push(whole);
                rows.push(row(
                    format!("llm {model} first token"),
                    first_token,
                    Unit::Seconds,
                ));
            }
            LatencyFit::EndToEnd(fit) => {
                rows.push(row(format!("llm {model} latency"), fit, Unit::Seconds));
            }
        }
    }
    for (op, fit) in &calibration.datastore {
        rows.push(row(format!("datastore {}", op.name()), fit, Unit::Seconds));
    }
    for (kind, fit) in &calibration.kinds {
        let kind = kind.name();
        if let Some(cpu) = &fit.cpu {
            rows.push(row(format!("{kind} cpu"), cpu, Unit::Seconds));
        }
        for agent in &fit.agents {
            let name = &agent.name;
            rows.push(row(
                format!("{kind} {name} calls"),
                &agent.calls,
                Unit::Count,
            ));
            for (what, tokens) in [
                ("input", &agent.prompt_tokens),
                ("output", &agent.output_tokens),
            ] {
                if let Some(t) = tokens {
                    rows.push(row(format!("{kind} {name} {what} tokens"), t, Unit::Count));
                }
            }
        }
        if let Some(wait) = &fit.queue_wait {
            rows.push(row(
                format!("{kind} queue wait (not a model input)"),
                wait,
                Unit::Seconds,
            ));
        }
    }
    rows
}

/// The table as aligned text, with a line on the traces read.
pub fn render(calibration: &Calibration) -> String {
    let right = [
        Align::Left,
        Align::Left,
        Align::Left,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
        Align::Right,
    ];
    let (read, skipped) = calibration.trace_count;
    let mut out = format!("{read} traces read, {skipped} left out\n");
    for line in table::lines(&rows(calibration), &right) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
