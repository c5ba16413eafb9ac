//! `sim calibrate`: from OpenTelemetry traces of a running service to a capsim model file.
//!
//! Flow: [`otlp`] reads OTLP/JSON spans → [`extract`] groups them by trace (one request each)
//! and collects samples, using the attribute names in [`mapping`] → [`fit`] fits lognormal,
//! gamma and Weibull by maximum likelihood and picks one by the Kolmogorov-Smirnov statistic
//! (empirical quantiles when none fits), [`tokens`] decides whether LLM latency depends on
//! output tokens → [`table`] prints the fits and [`model_file`] writes them in the vocabulary
//! of `models/*.yaml`.

pub mod extract;
pub mod fit;
pub mod mapping;
pub mod model_file;
pub mod otlp;
pub mod table;
pub mod tokens;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use extract::{AgentRuns, Observations};
use fit::Fit;
use mapping::{DbOp, RequestKind};
use tokens::TokenLatency;

/// Why calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// A trace file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A trace file is not OTLP/JSON.
    #[error("{}:{line}: {message}", file.display())]
    Trace {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The traces hold no successful request of a known kind.
    #[error(
        "{files}: no request span (a span with `http.route` ending in start, welcome, turn or close and a status below 400) in {traces} trace(s)"
    )]
    NoRequests {
        /// The files, comma-separated.
        files: String,
        /// Traces read.
        traces: usize,
    },
}

/// How one model's LLM latency is described.
#[derive(Clone, Debug, PartialEq)]
pub enum LatencyFit {
    /// TTFT-like part plus output tokens at a fixed decode rate.
    Tokens {
        /// The regression.
        regression: TokenLatency,
        /// Fit of the TTFT-like part.
        first_token: Fit,
        /// Fit of the whole latency, for the table's comparison.
        end_to_end: Fit,
    },
    /// One distribution per call.
    EndToEnd(Fit),
}

/// One agent's step in a request pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentFit {
    /// Agent name.
    pub name: String,
    /// Model it calls most.
    pub model: String,
    /// Calls per run (in the requests where it ran).
    pub calls: Fit,
    /// Input tokens per call.
    pub prompt_tokens: Option<Fit>,
    /// Output tokens per call.
    pub output_tokens: Option<Fit>,
    /// Share of the kind's requests in which it ran.
    pub share: f64,
}

/// Fits for one request kind.
#[derive(Clone, Debug, PartialEq)]
pub struct KindFit {
    /// Successful requests seen.
    pub requests: usize,
    /// CPU per request.
    pub cpu: Option<Fit>,
    /// Datastore operations per request (rounded mean), in the order of [`DbOp::ALL`].
    pub datastore_ops: Vec<(DbOp, u32)>,
    /// Agents in the order they first ran.
    pub agents: Vec<AgentFit>,
    /// Wait for a slot (measured for comparison; capsim simulates it).
    pub queue_wait: Option<Fit>,
}

/// Everything fitted from a set of traces.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// The trace files.
    pub traces: Vec<PathBuf>,
    /// Traces read and left out.
    pub trace_count: (usize, usize),
    /// LLM latency per model.
    pub models: BTreeMap<String, LatencyFit>,
    /// Datastore latency per operation.
    pub datastore: BTreeMap<DbOp, Fit>,
    /// Per request kind.
    pub kinds: BTreeMap<RequestKind, KindFit>,
    /// Turns per session: turn requests / session starts, rounded.
    pub turns: Option<u32>,
    /// Welcome calls per session: welcome requests / session starts, rounded.
    pub welcome_calls: Option<u32>,
}

fn fit_agent(runs: &AgentRuns, requests: usize) -> Option<AgentFit> {
    Some(AgentFit {
        name: runs.name.clone(),
        model: runs.main_model().to_string(),
        calls: fit::discrete(&runs.calls_per_request)?,
        prompt_tokens: fit::select(&runs.input_tokens),
        output_tokens: fit::select(&runs.output_tokens),
        share: runs.calls_per_request.len() as f64 / requests as f64,
    })
}

fn fit_latency(calls: &[extract::LlmCall]) -> Option<LatencyFit> {
    let latencies: Vec<f64> = calls.iter().map(|c| c.latency).collect();
    let end_to_end = fit::select(&latencies)?;
    Some(match tokens::regress(calls) {
        Some(regression) => LatencyFit::Tokens {
            first_token: fit::select(&regression.first_token)?,
            regression,
            end_to_end,
        },
        None => LatencyFit::EndToEnd(end_to_end),
    })
}

impl Calibration {
    /// Fits everything in `obs`.
    pub fn from_observations(traces: &[PathBuf], obs: &Observations) -> Calibration {
        let kinds: BTreeMap<RequestKind, KindFit> = obs
            .kinds
            .iter()
            .map(|(&kind, s)| {
                let per_request = |total: usize| (total as f64 / s.requests as f64).round() as u32;
                let fitted = KindFit {
                    requests: s.requests,
                    cpu: fit::select(&s.cpu_seconds),
                    datastore_ops: DbOp::ALL
                        .iter()
                        .filter_map(|op| s.datastore_ops.get(op).map(|&t| (*op, per_request(t))))
                        .filter(|&(_, count)| count > 0)
                        .collect(),
                    agents: s
                        .agents
                        .iter()
                        .filter_map(|a| fit_agent(a, s.requests))
                        .collect(),
                    queue_wait: fit::select(&s.queue_wait),
                };
                (kind, fitted)
            })
            .collect();
        let count = |kind| kinds.get(&kind).map_or(0, |k: &KindFit| k.requests);
        let starts = count(RequestKind::Start);
        let per_session =
            |kind| (starts > 0).then(|| (count(kind) as f64 / starts as f64).round() as u32);
        Calibration {
            traces: traces.to_vec(),
            trace_count: (obs.traces, obs.traces_skipped),
            models: obs
                .llm_calls
                .iter()
                .filter_map(|(m, calls)| Some((m.clone(), fit_latency(calls)?)))
                .collect(),
            datastore: obs
                .datastore_latency
                .iter()
                .filter_map(|(op, xs)| Some((*op, fit::select(xs)?)))
                .collect(),
            turns: per_session(RequestKind::Turn).map(|t| t.max(1)),
            welcome_calls: per_session(RequestKind::Welcome),
            kinds,
        }
    }
}

/// Reads the trace files and fits their quantities.
pub fn calibrate(traces: &[PathBuf]) -> Result<Calibration, CalibrateError> {
    let mut spans = Vec::new();
    for path in traces {
        spans.extend(otlp::read_spans(path)?);
    }
    let obs = Observations::from_spans(&spans);
    if obs.kinds.is_empty() {
        return Err(CalibrateError::NoRequests {
            files: traces
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            traces: obs.traces,
        });
    }
    Ok(Calibration::from_observations(traces, &obs))
}

/// Calibrates from `traces`, writes the model file to `output` and returns the fit table.
pub fn run(traces: &[PathBuf], output: &Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let calibration = calibrate(traces)?;
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let text = model_file::render(&calibration, &now);
    std::fs::write(output, text).with_context(|| format!("writing {}", output.display()))?;
    Ok(table::render(&calibration))
}
