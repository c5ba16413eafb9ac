//! Writes a calibration as a capsim model file: `llm.models.<m>.latency`, `datastore.<op>.latency`
//! and `app` (turns, welcome calls, the four request pipelines), in the vocabulary of
//! `models/*.yaml` (docs/experiment-files.md). Prices, quotas, retries and the platform are not in
//! a trace; an experiment takes them from the files it extends before this one.

use std::fmt::Write;

use super::fit::{Family, Fit, Fitted};
use super::mapping::{DbOp, RequestKind};
use super::{AgentFit, Calibration, KindFit, LatencyFit};

/// What a fitted quantity measures, which decides how its values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Durations, fitted in seconds, written in milliseconds (`12.5ms`).
    Seconds,
    /// Plain counts (tokens, calls).
    Count,
}

impl Unit {
    /// A value in this unit as capsim's files write it.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Seconds => format!("{}ms", number(value * 1e3)),
            Unit::Count => number(value),
        }
    }
}

/// A number with six significant digits and no trailing zeros.
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return "0".to_string();
    }
    let decimals = (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn pairs(points: &[(f64, f64)], first: Unit, second: Unit) -> String {
    let items: Vec<String> = points
        .iter()
        .map(|&(a, b)| format!("[{}, {}]", first.format(a), second.format(b)))
        .collect();
    format!("[{}]", items.join(", "))
}

/// A fitted distribution as a flow-style YAML value.
pub fn distribution(fitted: &Fitted, unit: Unit) -> String {
    match fitted {
        Fitted::Constant(v) => unit.format(*v),
        Fitted::Family(Family::LogNormal { mu, sigma }) => {
            // μ and σ are of ln(value in seconds or counts), as capsim reads them.
            format!(
                "{{ lognormal: {{ mu: {}, sigma: {} }} }}",
                number(*mu),
                number(*sigma)
            )
        }
        Fitted::Family(Family::Gamma { shape, scale }) => format!(
            "{{ gamma: {{ shape: {}, scale: {} }} }}",
            number(*shape),
            unit.format(*scale)
        ),
        Fitted::Family(Family::Weibull { shape, scale }) => format!(
            "{{ weibull: {{ shape: {}, scale: {} }} }}",
            number(*shape),
            unit.format(*scale)
        ),
        Fitted::Empirical(points) => format!(
            "{{ empirical: {{ quantiles: {} }} }}",
            pairs(points, Unit::Count, unit)
        ),
        Fitted::Discrete(points) => {
            format!("{{ discrete: {} }}", pairs(points, unit, Unit::Count))
        }
    }
}

/// The evidence behind a fit, as a YAML comment.
fn evidence(fit: &Fit) -> String {
    let mut text = format!("n = {}", fit.n);
    if let Some(d) = fit.ks {
        write!(text, ", KS D = {}", number(d)).expect("writing to a String");
    }
    if let Some(why) = &fit.fallback {
        write!(text, ", empirical: {why}").expect("writing to a String");
    }
    text
}

fn write_llm(out: &mut String, calibration: &Calibration) {
    if calibration.models.is_empty() {
        return;
    }
    out.push_str("llm:\n  models:\n");
    for (model, latency) in &calibration.models {
        writeln!(out, "    {model}:").expect("writing to a String");
        let (comment, value) = match latency {
            LatencyFit::Tokens {
                regression,
                first_token,
                ..
            } => (
                format!(
                    "latency = first token + output tokens / decode rate (slope t = {}); first token: {}",
                    number(regression.slope_t),
                    evidence(first_token)
                ),
                format!(
                    "{{ tokens: {{ ttft: {}, decode_rate: {} }} }}",
                    distribution(&first_token.fitted, Unit::Seconds),
                    number(regression.decode_rate())
                ),
            ),
            LatencyFit::EndToEnd(fit) => (
                format!(
                    "no significant dependence on output tokens; {}",
                    evidence(fit)
                ),
                format!(
                    "{{ end_to_end: {} }}",
                    distribution(&fit.fitted, Unit::Seconds)
                ),
            ),
        };
        writeln!(out, "      # {comment}\n      latency: {value}").expect("writing to a String");
    }
}

fn write_datastore(out: &mut String, calibration: &Calibration) {
    if calibration.datastore.is_empty() {
        return;
    }
    out.push_str("datastore:\n");
    for (op, fit) in &calibration.datastore {
        writeln!(
            out,
            "  {}:\n    # {}\n    latency: {}",
            op.name(),
            evidence(fit),
            distribution(&fit.fitted, Unit::Seconds)
        )
        .expect("writing to a String");
    }
}

fn optional(fit: &Option<Fit>, unit: Unit) -> String {
    fit.as_ref()
        .map_or_else(|| "0".to_string(), |f| distribution(&f.fitted, unit))
}

fn llm_step(agent: &AgentFit) -> String {
    let mut text = String::new();
    if agent.share < 1.0 {
        writeln!(
            text,
            "        # Ran in {:.0} % of these requests; capsim runs the step in every one (add a `when` if it depends on the turn).",
            agent.share * 100.0
        )
        .expect("writing to a String");
    }
    writeln!(
        text,
        "        - llm:\n            agent: {}\n            model: {}\n            calls: {}\n            prompt_tokens: {}\n            include_history: false\n            output_tokens: {}",
        agent.name,
        agent.model,
        distribution(&agent.calls.fitted, Unit::Count),
        optional(&agent.prompt_tokens, Unit::Count),
        optional(&agent.output_tokens, Unit::Count),
    )
    .expect("writing to a String");
    text
}

fn datastore_step(kind: &KindFit, ops: &[DbOp]) -> String {
    kind.datastore_ops
        .iter()
        .filter(|(op, _)| ops.contains(op))
        .map(|(op, count)| {
            format!(
                "        - datastore: {{ op: {}, count: {count} }}\n",
                op.name()
            )
        })
        .collect()
}

fn write_request(out: &mut String, kind: RequestKind, fit: Option<&KindFit>) {
    let Some(fit) = fit else {
        writeln!(
            out,
            "    {}:\n      # Not in the traces.\n      steps: []",
            kind.name()
        )
        .expect("writing to a String");
        return;
    };
    let mut steps = String::new();
    if let Some(cpu) = &fit.cpu {
        writeln!(
            steps,
            "        # CPU per request: {}\n        - cpu: {}",
            evidence(cpu),
            distribution(&cpu.fitted, Unit::Seconds)
        )
        .expect("writing to a String");
    }
    steps.push_str(&datastore_step(fit, &[DbOp::Read]));
    for agent in &fit.agents {
        steps.push_str(&llm_step(agent));
    }
    steps.push_str(&datastore_step(fit, &[DbOp::Write, DbOp::Delete]));
    writeln!(
        out,
        "    {}:\n      # {} successful requests. Order: CPU, reads, agents, writes, deletes.",
        kind.name(),
        fit.requests
    )
    .expect("writing to a String");
    if steps.is_empty() {
        out.push_str("      steps: []\n");
    } else {
        out.push_str("      steps:\n");
        out.push_str(&steps);
    }
}

fn write_app(out: &mut String, calibration: &Calibration) {
    out.push_str("app:\n");
    match (calibration.turns, calibration.welcome_calls) {
        (Some(turns), Some(welcome)) => writeln!(
            out,
            "  # Per session: turn and welcome requests / session starts.\n  turns: {turns}\n  welcome_calls: {welcome}"
        )
        .expect("writing to a String"),
        _ => out.push_str("  # No session starts in the traces: set `turns` and `welcome_calls`.\n"),
    }
    out.push_str(
        "  context:\n    # LLM steps send the measured input tokens (history included) as their prompt.\n    user_tokens: 0\n  requests:\n",
    );
    for kind in RequestKind::ALL {
        write_request(out, kind, calibration.kinds.get(&kind));
    }
}

/// The model file's text; `date` goes into the header.
pub fn render(calibration: &Calibration, date: &str) -> String {
    let mut out = format!("# Calibrated by `sim calibrate` on {date} from:\n");
    for trace in &calibration.traces {
        writeln!(out, "#   {}", trace.display()).expect("writing to a String");
    }
    let (read, skipped) = calibration.trace_count;
    writeln!(
        out,
        "# {read} traces read, {skipped} left out (no known route, or a failed request).\n\
         # Prices, quotas, retries and the platform are not in a trace: an experiment extends\n\
         # files that set them (e.g. models/cloud-run.yaml, gemini.yaml, firestore.yaml) before\n\
         # this one, and gives input_price/output_price for models those files do not list."
    )
    .expect("writing to a String");
    write_llm(&mut out, calibration);
    write_datastore(&mut out, calibration);
    write_app(&mut out, calibration);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_six_significant_digits_without_trailing_zeros() {
        assert_eq!(number(0.0123456789), "0.0123457");
        assert_eq!(number(1234.5), "1234.5");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-0.7), "-0.7");
        assert_eq!(Unit::Seconds.format(0.25), "250ms");
    }

    #[test]
    fn distributions_are_written_in_capsims_syntax() {
        let lognormal = Fitted::Family(Family::LogNormal {
            mu: -0.7,
            sigma: 0.4,
        });
        assert_eq!(
            distribution(&lognormal, Unit::Seconds),
            "{ lognormal: { mu: -0.7, sigma: 0.4 } }"
        );
        let gamma = Fitted::Family(Family::Gamma {
            shape: 2.0,
            scale: 0.5,
        });
        assert_eq!(
            distribution(&gamma, Unit::Seconds),
            "{ gamma: { shape: 2, scale: 500ms } }"
        );
        let empirical = Fitted::Empirical(vec![(0.0, 0.1), (1.0, 0.2)]);
        assert_eq!(
            distribution(&empirical, Unit::Seconds),
            "{ empirical: { quantiles: [[0, 100ms], [1, 200ms]] } }"
        );
        let discrete = Fitted::Discrete(vec![(1.0, 0.75), (2.0, 0.25)]);
        assert_eq!(
            distribution(&discrete, Unit::Count),
            "{ discrete: [[1, 0.75], [2, 0.25]] }"
        );
    }
}
