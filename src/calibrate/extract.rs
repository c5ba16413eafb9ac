//! From spans to the samples calibration fits. Spans are grouped by trace; each trace is one
//! request, identified by its request span (a server span with a known `http.route`). Failed
//! requests (HTTP status ≥ 400) and failed LLM calls (span status error) are left out, since
//! capsim models their causes (limits, quotas, timeouts) itself.

use std::collections::BTreeMap;

use super::mapping::{self, DbOp, RequestKind};
use super::otlp::Span;

/// One successful LLM call.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCall {
    /// End-to-end latency, seconds.
    pub latency: f64,
    /// `gen_ai.usage.input_tokens`, when recorded.
    pub input_tokens: Option<f64>,
    /// `gen_ai.usage.output_tokens`, when recorded.
    pub output_tokens: Option<f64>,
}

/// What one agent did in the requests of one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentRuns {
    /// Agent name (`gen_ai.agent.name`, or `llm` when no span names one).
    pub name: String,
    /// Calls per model.
    pub models: BTreeMap<String, usize>,
    /// Calls in each request where the agent ran at all.
    pub calls_per_request: Vec<u32>,
    /// Input tokens per call.
    pub input_tokens: Vec<f64>,
    /// Output tokens per call.
    pub output_tokens: Vec<f64>,
}

impl AgentRuns {
    /// The model the agent called most (ties: the first by name).
    pub fn main_model(&self) -> &str {
        self.models
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or("", |(m, _)| m.as_str())
    }
}

/// Samples from the successful requests of one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindSamples {
    /// Successful requests seen.
    pub requests: usize,
    /// CPU seconds per request (requests whose spans record CPU).
    pub cpu_seconds: Vec<f64>,
    /// Seconds waited for a slot, per request that records it.
    pub queue_wait: Vec<f64>,
    /// Datastore operations of each kind, summed over the requests.
    pub datastore_ops: BTreeMap<DbOp, usize>,
    /// Agents in the order they first ran.
    pub agents: Vec<AgentRuns>,
}

/// Everything extracted from a set of traces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observations {
    /// Per request kind.
    pub kinds: BTreeMap<RequestKind, KindSamples>,
    /// Successful LLM calls per model.
    pub llm_calls: BTreeMap<String, Vec<LlmCall>>,
    /// Datastore latency (seconds) per operation.
    pub datastore_latency: BTreeMap<DbOp, Vec<f64>>,
    /// Traces read.
    pub traces: usize,
    /// Traces left out: no request span with a known route, or a failed request.
    pub traces_skipped: usize,
}

/// Agent name for a call: its own `gen_ai.agent.name`, else the nearest ancestor's.
fn agent_of<'a>(call: &'a Span, by_id: &BTreeMap<&str, &'a Span>) -> &'a str {
    let mut current = Some(call);
    // A parent chain longer than the trace is a cycle: stop there.
    for _ in 0..=by_id.len() {
        let Some(span) = current else { break };
        if let Some(name) = span.text(mapping::GEN_AI_AGENT) {
            return name;
        }
        current = by_id.get(span.parent_span_id.as_str()).copied();
    }
    "llm"
}

/// The trace's request span: a server span with a known route, else any span with one.
fn request_span(spans: &[&Span]) -> Option<(RequestKind, usize)> {
    let known = |s: &&&Span| mapping::request_kind(s).is_some();
    let pick = spans
        .iter()
        .position(|s| known(&s) && s.kind == mapping::SPAN_KIND_SERVER)
        .or_else(|| spans.iter().position(|s| known(&s)))?;
    Some((mapping::request_kind(spans[pick])?, pick))
}

impl Observations {
    /// Extracts the samples of every trace in `spans`.
    pub fn from_spans(spans: &[Span]) -> Observations {
        let mut traces: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
        for s in spans {
            traces.entry(s.trace_id.as_str()).or_default().push(s);
        }
        let mut obs = Observations {
            traces: traces.len(),
            ..Observations::default()
        };
        for trace in traces.values_mut() {
            trace.sort_by_key(|s| (s.start_ns, s.end_ns));
            if !obs.add_trace(trace) {
                obs.traces_skipped += 1;
            }
        }
        obs
    }

    /// Adds one trace; false when it is not a successful request of a known kind.
    fn add_trace(&mut self, trace: &[&Span]) -> bool {
        let Some((kind, index)) = request_span(trace) else {
            return false;
        };
        let request = trace[index];
        if request
            .number(mapping::HTTP_STATUS)
            .is_some_and(|status| status >= 400.0)
        {
            return false;
        }
        let by_id: BTreeMap<&str, &Span> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
        let samples = self.kinds.entry(kind).or_default();
        samples.requests += 1;
        if let Some(wait) = request.number(mapping::QUEUE_WAIT_SECONDS) {
            samples.queue_wait.push(wait);
        }
        let cpu: Vec<f64> = trace
            .iter()
            .filter_map(|s| s.number(mapping::CPU_SECONDS))
            .collect();
        if !cpu.is_empty() {
            samples.cpu_seconds.push(cpu.iter().sum());
        }
        let mut calls_here: BTreeMap<String, u32> = BTreeMap::new();
        for span in trace {
            if mapping::is_datastore(span) {
                let op = span
                    .text(mapping::DB_OPERATION)
                    .and_then(DbOp::from_operation);
                if let Some(op) = op {
                    *samples.datastore_ops.entry(op).or_default() += 1;
                    self.datastore_latency
                        .entry(op)
                        .or_default()
                        .push(span.seconds());
                }
            } else if mapping::is_llm_call(span) && !span.is_error {
                let agent = agent_of(span, &by_id);
                let model = span.text(mapping::GEN_AI_MODEL).unwrap_or("unknown");
                let call = LlmCall {
                    latency: span.seconds(),
                    input_tokens: span.number(mapping::GEN_AI_INPUT_TOKENS),
                    output_tokens: span.number(mapping::GEN_AI_OUTPUT_TOKENS),
                };
                let runs = match samples.agents.iter().position(|a| a.name == agent) {
                    Some(i) => &mut samples.agents[i],
                    None => {
                        samples.agents.push(AgentRuns {
                            name: agent.to_string(),
                            ..AgentRuns::default()
                        });
                        samples.agents.last_mut().expect("just pushed")
                    }
                };
                *runs.models.entry(model.to_string()).or_default() += 1;
                runs.input_tokens.extend(call.input_tokens);
                runs.output_tokens.extend(call.output_tokens);
                *calls_here.entry(agent.to_string()).or_default() += 1;
                self.llm_calls
                    .entry(model.to_string())
                    .or_default()
                    .push(call);
            }
        }
        for runs in &mut samples.agents {
            if let Some(&n) = calls_here.get(&runs.name) {
                runs.calls_per_request.push(n);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::otlp::AttributeValue;

    fn span(
        id: &str,
        parent: &str,
        start_ms: u64,
        end_ms: u64,
        attrs: &[(&str, AttributeValue)],
    ) -> Span {
        Span {
            trace_id: "t1".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: id.into(),
            kind: if parent.is_empty() { 2 } else { 1 },
            start_ns: start_ms * 1_000_000,
            end_ns: end_ms * 1_000_000,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            is_error: false,
        }
    }

    fn text(s: &str) -> AttributeValue {
        AttributeValue::Text(s.into())
    }

    #[test]
    fn a_turn_trace_yields_its_calls_tokens_datastore_cpu_and_queue_wait() {
        let spans = vec![
            span(
                "r",
                "",
                0,
                2000,
                &[
                    ("http.route", text("/api/v1/session/{id}/turn")),
                    ("capsim.queue_wait_seconds", AttributeValue::Double(0.25)),
                ],
            ),
            span(
                "h",
                "r",
                10,
                1990,
                &[("capsim.cpu_seconds", AttributeValue::Double(0.04))],
            ),
            span(
                "db",
                "h",
                20,
                30,
                &[
                    ("db.system", text("sqlite")),
                    ("db.operation.name", text("SELECT")),
                ],
            ),
            span(
                "a",
                "h",
                40,
                1900,
                &[
                    ("gen_ai.operation.name", text("invoke_agent")),
                    ("gen_ai.agent.name", text("partner")),
                ],
            ),
            span(
                "c1",
                "a",
                50,
                850,
                &[
                    ("gen_ai.operation.name", text("chat")),
                    ("gen_ai.request.model", text("m")),
                    ("gen_ai.usage.input_tokens", AttributeValue::Int(1200)),
                    ("gen_ai.usage.output_tokens", AttributeValue::Int(150)),
                ],
            ),
            span(
                "c2",
                "a",
                900,
                1800,
                &[
                    ("gen_ai.operation.name", text("chat")),
                    ("gen_ai.request.model", text("m")),
                ],
            ),
        ];
        let obs = Observations::from_spans(&spans);
        assert_eq!((obs.traces, obs.traces_skipped), (1, 0));
        let turn = &obs.kinds[&RequestKind::Turn];
        assert_eq!(turn.requests, 1);
        assert_eq!(turn.cpu_seconds, vec![0.04]);
        assert_eq!(turn.queue_wait, vec![0.25]);
        assert_eq!(turn.datastore_ops[&DbOp::Read], 1);
        assert_eq!(turn.agents.len(), 1);
        assert_eq!(turn.agents[0].name, "partner");
        assert_eq!(turn.agents[0].calls_per_request, vec![2]);
        assert_eq!(turn.agents[0].input_tokens, vec![1200.0]);
        assert_eq!(turn.agents[0].main_model(), "m");
        let calls = &obs.llm_calls["m"];
        assert_eq!(calls.len(), 2);
        assert!((calls[0].latency - 0.8).abs() < 1e-9);
        assert!((obs.datastore_latency[&DbOp::Read][0] - 0.01).abs() < 1e-9);
    }

    #[test]
    fn traces_without_a_known_route_or_with_a_failed_status_are_skipped() {
        let mut failed = span(
            "r",
            "",
            0,
            10,
            &[
                ("http.route", text("/api/v1/session/start")),
                ("http.response.status_code", AttributeValue::Int(429)),
            ],
        );
        failed.trace_id = "t2".into();
        let spans = vec![
            span("x", "", 0, 10, &[("http.route", text("/health"))]),
            failed,
        ];
        let obs = Observations::from_spans(&spans);
        assert_eq!((obs.traces, obs.traces_skipped), (2, 2));
        assert!(obs.kinds.is_empty());
    }
}
