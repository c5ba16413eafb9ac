//! `sim calibrate` end to end: a synthetic OTLP/JSON trace drawn from known distributions is
//! calibrated, the fits are checked against the distributions, and the written model file is
//! extended by an experiment that capsim loads and runs. Also the reader's encodings and its
//! errors on bad input.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use capsim::calibrate::{self, LatencyFit, mapping::DbOp, mapping::RequestKind};
use rand::SeedableRng;
use rand_distr::Distribution;

/// Builds OTLP/JSON lines (one ExportTraceServiceRequest per trace) from known distributions.
struct TraceWriter {
    rng: rand_pcg::Pcg64Mcg,
    text: String,
    next_trace: u64,
}

// The known truth the fits must recover.
const TTFT_MU: f64 = -0.916_290_731_874_155; // ln 0.4 s
const TTFT_SIGMA: f64 = 0.2;
const DECODE_RATE: f64 = 100.0; // tokens per second
const READ_SHAPE: f64 = 2.0;
const READ_SCALE: f64 = 0.005; // seconds
const CPU_SHAPE: f64 = 2.0;
const CPU_SCALE: f64 = 0.05; // seconds

fn attribute(key: &str, value: &str) -> String {
    format!(r#"{{"key":"{key}","value":{value}}}"#)
}

fn text(s: &str) -> String {
    format!(r#"{{"stringValue":"{s}"}}"#)
}

fn int(i: i64) -> String {
    format!(r#"{{"intValue":"{i}"}}"#)
}

fn double(d: f64) -> String {
    format!(r#"{{"doubleValue":{d}}}"#)
}

fn span(
    trace: &str,
    id: u64,
    parent: Option<u64>,
    start: f64,
    end: f64,
    attributes: &[String],
) -> String {
    let nanos = |s: f64| (1.7e18 + s * 1e9) as u64;
    let parent = parent.map_or(String::new(), |p| format!("{p:016x}"));
    format!(
        r#"{{"traceId":"{trace}","spanId":"{id:016x}","parentSpanId":"{parent}","name":"s{id}","kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{}],"status":{{}}}}"#,
        if parent.is_empty() { 2 } else { 1 },
        nanos(start),
        nanos(end),
        attributes.join(",")
    )
}

impl TraceWriter {
    fn new(seed: u64) -> TraceWriter {
        TraceWriter {
            rng: rand_pcg::Pcg64Mcg::seed_from_u64(seed),
            text: String::new(),
            next_trace: 1,
        }
    }

    fn draw(&mut self, d: impl Distribution<f64>) -> f64 {
        d.sample(&mut self.rng)
    }

    /// One request: CPU on the handler, `reads` datastore reads, `llm_calls` calls, one write.
    fn request(&mut self, route: &str, reads: usize, llm_calls: usize) {
        let trace = format!("{:032x}", self.next_trace);
        self.next_trace += 1;
        let cpu = self.draw(rand_distr::Weibull::new(CPU_SCALE, CPU_SHAPE).unwrap());
        let mut spans = Vec::new();
        let mut t = 0.01;
        let mut id = 3;
        for _ in 0..reads {
            let d = self.draw(rand_distr::Gamma::new(READ_SHAPE, READ_SCALE).unwrap());
            let attrs = [
                attribute("db.system", &text("sqlite")),
                attribute("db.operation.name", &text("SELECT")),
            ];
            spans.push(span(&trace, id, Some(2), t, t + d, &attrs));
            (t, id) = (t + d, id + 1);
        }
        if llm_calls > 0 {
            let agent = id;
            let agent_start = t;
            id += 1;
            for _ in 0..llm_calls {
                let out = self
                    .draw(rand_distr::LogNormal::new(5.0, 0.4).unwrap())
                    .round();
                let ttft = self.draw(rand_distr::LogNormal::new(TTFT_MU, TTFT_SIGMA).unwrap());
                let d = ttft + out / DECODE_RATE;
                let attrs = [
                    attribute("gen_ai.operation.name", &text("chat")),
                    attribute("gen_ai.request.model", &text("sim-model")),
                    attribute("gen_ai.usage.input_tokens", &int(1200)),
                    attribute("gen_ai.usage.output_tokens", &int(out as i64)),
                ];
                spans.push(span(&trace, id, Some(agent), t, t + d, &attrs));
                (t, id) = (t + d, id + 1);
            }
            let attrs = [
                attribute("gen_ai.operation.name", &text("invoke_agent")),
                attribute("gen_ai.agent.name", &text("partner")),
            ];
            spans.push(span(&trace, agent, Some(2), agent_start, t, &attrs));
        }
        let write = [
            attribute("db.system", &text("sqlite")),
            attribute("db.operation.name", &text("INSERT")),
        ];
        spans.push(span(&trace, id, Some(2), t, t + 0.002, &write));
        t += 0.002;
        spans.push(span(
            &trace,
            2,
            Some(1),
            0.005,
            t,
            &[attribute("capsim.cpu_seconds", &double(cpu))],
        ));
        let request = [
            attribute("http.route", &text(route)),
            attribute("http.response.status_code", &int(200)),
            attribute("capsim.queue_wait_seconds", &double(0.001)),
        ];
        spans.push(span(&trace, 1, None, 0.0, t + 0.001, &request));
        writeln!(
            self.text,
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":{{"name":"test"}},"spans":[{}]}}]}}]}}"#,
            attribute("service.name", &text("orchestrator")),
            spans.join(",")
        )
        .unwrap();
    }
}

/// 60 sessions: a start (1 read), 5 turns (2 reads, 1-2 LLM calls), a close.
fn synthetic_trace(dir: &Path) -> PathBuf {
    let mut w = TraceWriter::new(42);
    for session in 0..60 {
        w.request("/api/v1/session/start", 1, 0);
        for turn in 0..5 {
            w.request("/api/v1/session/{id}/turn", 2, 1 + (session + turn) % 2);
        }
        w.request("/api/v1/session/{id}/close", 0, 0);
    }
    // A health check is not a request of the app: it is left out.
    w.request("/health", 0, 0);
    let path = dir.join("trace.jsonl");
    std::fs::write(&path, w.text).unwrap();
    path
}

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    ((actual - expected) / expected).abs() <= tolerance
}

#[test]
fn fits_recover_the_distributions_the_trace_was_drawn_from() {
    let dir = tempfile::tempdir().unwrap();
    let trace = synthetic_trace(dir.path());
    let c = calibrate::calibrate(&[trace]).unwrap();
    assert_eq!(c.trace_count, (421, 1));
    assert_eq!((c.turns, c.welcome_calls), (Some(5), Some(0)));

    // LLM latency: first token lognormal(ln 0.4 s, 0.2) plus tokens at 100 tok/s.
    let LatencyFit::Tokens {
        regression,
        first_token,
        ..
    } = &c.models["sim-model"]
    else {
        panic!(
            "latency should depend on tokens: {:?}",
            c.models["sim-model"]
        );
    };
    assert!(
        within(regression.decode_rate(), DECODE_RATE, 0.10),
        "{}",
        regression.decode_rate()
    );
    let (p50, p95) = (TTFT_MU.exp(), (TTFT_MU + 1.644_854 * TTFT_SIGMA).exp());
    assert!(
        within(first_token.predicted.0, p50, 0.10),
        "{first_token:?}"
    );
    assert!(
        within(first_token.predicted.1, p95, 0.10),
        "{first_token:?}"
    );

    // Datastore reads: gamma(2, 5 ms): median 8.39 ms, p95 23.7 ms.
    let read = &c.datastore[&DbOp::Read];
    assert!(within(read.predicted.0, 0.008_392, 0.10), "{read:?}");
    assert!(within(read.predicted.1, 0.023_719, 0.10), "{read:?}");

    // Turn CPU: Weibull(shape 2, scale 50 ms): median 41.6 ms, p95 86.5 ms.
    let turn = &c.kinds[&RequestKind::Turn];
    let cpu = turn.cpu.as_ref().unwrap();
    assert!(within(cpu.predicted.0, 0.041_628, 0.10), "{cpu:?}");
    assert!(within(cpu.predicted.1, 0.086_549, 0.10), "{cpu:?}");
    assert_eq!(turn.datastore_ops, vec![(DbOp::Read, 2), (DbOp::Write, 1)]);
    assert_eq!(turn.agents.len(), 1);
    let calls = &turn.agents[0].calls;
    assert_eq!(calls.n, 300);
    assert!(within(calls.measured.1, 2.0, 0.0));
}

#[test]
fn the_written_model_file_runs_in_an_experiment_that_extends_it() {
    let dir = tempfile::tempdir().unwrap();
    let trace = synthetic_trace(dir.path());
    let model = dir.path().join("calibrated.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "calibrate".as_ref(),
            trace.as_os_str(),
            "-o".as_ref(),
            model.as_os_str(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("llm sim-model first token"), "{stdout}");
    assert!(stdout.contains("datastore read"), "{stdout}");
    let written = std::fs::read_to_string(&model).unwrap();
    assert!(
        written.contains(&trace.display().to_string()),
        "header names the trace"
    );

    let cloud_run = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cloud-run.yaml");
    let experiment = dir.path().join("experiment.yaml");
    std::fs::write(
        &experiment,
        format!(
            r#"name: calibrated-run
extends: ["{}", calibrated.yaml]
llm:
  models:
    sim-model: {{ input_price: $0.10/Mtok, output_price: $0.40/Mtok }}
  retry: {{ max_retries: 0, initial_backoff: 1s, multiplier: 2, max_backoff: 1s, full_jitter: false }}
  latency_scale: 1
datastore:
  read: {{ price: $0.06/100k }}
  write: {{ price: $0.18/100k }}
  delete: {{ latency: 5ms, price: $0.02/100k }}
workload:
  kind: closed
  users: 5
  think_time: 1s
  tasks: [{{ kind: full_session, weight: 1 }}]
horizon: 10m
warmup: 1m
replications: 1
seed: 1
sample_interval: 1m
"#,
            cloud_run.display()
        ),
    )
    .unwrap();
    let all = capsim::config::load_all(&experiment).unwrap_or_else(|e| panic!("{e}\n{written}"));
    let output = capsim::runner::run(&all[0].experiment, false).unwrap();
    let turns = &output.summary.turn_latency_s;
    assert!(turns.n > 100, "{} turns", turns.n);
    // A turn is ~1.5 calls of ~0.4 s + ~1.6 s plus CPU and datastore: between 1 and 8 s.
    let median = turns.p50.value;
    assert!((1.0..8.0).contains(&median), "turn p50 {median}");
}

fn calibrate_error(contents: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.jsonl");
    std::fs::write(&trace, contents).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "calibrate".as_ref(),
            trace.as_os_str(),
            "-o".as_ref(),
            dir.path().join("m.yaml").as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !dir.path().join("m.yaml").exists(),
        "no model file on an error"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_trace_lines_are_reported_with_file_line_and_field() {
    let good = r#"{"resourceSpans":[]}"#;
    let broken = calibrate_error(&format!("{good}\n{{\"resourceSpans\": [}}\n"));
    assert!(broken.contains("bad.jsonl:2:"), "{broken}");
    let bad_time = calibrate_error(
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"a","spanId":"b","startTimeUnixNano":"soon","endTimeUnixNano":"1"}]}]}]}"#,
    );
    assert!(
        bad_time.contains("bad.jsonl:1:") && bad_time.contains("startTimeUnixNano"),
        "{bad_time}"
    );
    let missing =
        calibrate_error(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"b"}]}]}]}"#);
    assert!(
        missing.contains("bad.jsonl:1:") && missing.contains("traceId"),
        "{missing}"
    );
    let empty = calibrate_error(&format!("{good}\n"));
    assert!(empty.contains("no request span"), "{empty}");
}

#[test]
fn a_pretty_printed_request_and_numeric_encodings_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("pretty.json");
    std::fs::write(
        &trace,
        r#"{
  "resourceSpans": [{
    "scopeSpans": [{
      "spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "POST /api/v1/session/start",
        "kind": 2,
        "startTimeUnixNano": 1544712660000000000,
        "endTimeUnixNano": "1544712661000000000",
        "attributes": [
          { "key": "http.route", "value": { "stringValue": "/api/v1/session/start" } },
          { "key": "capsim.cpu_seconds", "value": { "doubleValue": 0.25 } },
          { "key": "http.response.status_code", "value": { "intValue": 201 } }
        ]
      }]
    }]
  }]
}
"#,
    )
    .unwrap();
    let spans = calibrate::otlp::read_spans(&trace).unwrap();
    assert_eq!(spans.len(), 1);
    assert!((spans[0].seconds() - 1.0).abs() < 1e-9);
    assert_eq!(spans[0].number(&["http.response.status_code"]), Some(201.0));
    let c = calibrate::calibrate(&[trace]).unwrap();
    assert_eq!(
        c.kinds[&RequestKind::Start]
            .cpu
            .as_ref()
            .unwrap()
            .measured
            .0,
        0.25
    );
}
