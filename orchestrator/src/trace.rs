//! Traces in OpenTelemetry's OTLP/JSON form, as the file exporter writes them: one
//! `ExportTraceServiceRequest` per line, one trace per HTTP request. The types follow the OTLP
//! protobuf-JSON mapping: camelCase names, trace and span ids in lowercase hex, 64-bit integers
//! (times, `intValue`) as decimal strings, enums (`kind`, `status.code`) as integers.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngExt;
use serde::{Deserialize, Serialize};

/// `ExportTraceServiceRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExportTraceServiceRequest {
    /// Spans grouped by the resource that produced them.
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpans {
    /// The producing service.
    pub resource: Resource,
    /// Spans grouped by instrumentation scope.
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Resource attributes (`service.name`).
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSpans {
    /// The instrumentation scope.
    pub scope: InstrumentationScope,
    /// The spans.
    pub spans: Vec<Span>,
}

/// `InstrumentationScope`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentationScope {
    /// Scope name.
    pub name: String,
    /// Scope version.
    pub version: String,
}

/// `Span`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// 16 bytes, 32 hex digits.
    pub trace_id: String,
    /// 8 bytes, 16 hex digits.
    pub span_id: String,
    /// The parent's span id; empty for the root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent_span_id: String,
    /// Span name.
    pub name: String,
    /// `SpanKind`: 1 internal, 2 server, 3 client.
    pub kind: i32,
    /// Start, ns since the Unix epoch, as a decimal string.
    pub start_time_unix_nano: String,
    /// End, ns since the Unix epoch, as a decimal string.
    pub end_time_unix_nano: String,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
    /// Outcome.
    pub status: Status,
}

/// `Status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// 0 unset, 1 ok, 2 error.
    pub code: i32,
    /// Error description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `KeyValue`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyValue {
    /// Attribute name.
    pub key: String,
    /// Attribute value.
    pub value: AnyValue,
}

/// `AnyValue` (the scalar cases).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum AnyValue {
    /// A string.
    StringValue(String),
    /// A 64-bit integer, JSON-encoded as a decimal string.
    IntValue(#[serde(with = "int_as_string")] i64),
    /// A double.
    DoubleValue(f64),
    /// A boolean.
    BoolValue(bool),
}

mod int_as_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Text(text) => text.parse().map_err(D::Error::custom),
            Either::Number(n) => Ok(n),
        }
    }
}

/// Server span kind.
pub const KIND_SERVER: i32 = 2;
/// Internal span kind.
pub const KIND_INTERNAL: i32 = 1;
/// Client span kind.
pub const KIND_CLIENT: i32 = 3;

impl KeyValue {
    /// A string attribute.
    pub fn str(key: &str, value: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            value: AnyValue::StringValue(value.into()),
        }
    }

    /// An integer attribute.
    pub fn int(key: &str, value: i64) -> Self {
        Self {
            key: key.to_string(),
            value: AnyValue::IntValue(value),
        }
    }
}

/// Now, in ns since the Unix epoch.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The spans of one request's trace, collected as the request runs.
pub struct TraceRecorder {
    trace_id: String,
    spans: Mutex<Vec<Span>>,
}

/// Where a new span hangs: its trace and its parent.
#[derive(Clone)]
pub struct SpanCtx {
    recorder: std::sync::Arc<TraceRecorder>,
    parent: String,
}

/// A span that has started and not yet ended.
pub struct ActiveSpan {
    ctx: SpanCtx,
    span_id: String,
    name: String,
    kind: i32,
    start: u64,
    attributes: Vec<KeyValue>,
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

impl TraceRecorder {
    /// A new trace with a random id.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            trace_id: random_hex(16),
            spans: Mutex::new(Vec::new()),
        })
    }

    /// The trace id, 32 hex digits.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The context of the trace's root (a span started here has no parent).
    pub fn root(self: &std::sync::Arc<Self>) -> SpanCtx {
        SpanCtx {
            recorder: self.clone(),
            parent: String::new(),
        }
    }

    /// The finished spans, as one export request.
    pub fn export(&self) -> ExportTraceServiceRequest {
        let spans = self.spans.lock().expect("span list lock").clone();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Resource {
                    attributes: vec![KeyValue::str("service.name", "orchestrator")],
                },
                scope_spans: vec![ScopeSpans {
                    scope: InstrumentationScope {
                        name: "orchestrator".to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                    },
                    spans,
                }],
            }],
        }
    }
}

impl SpanCtx {
    /// Starts a child span now.
    pub fn start(&self, name: impl Into<String>, kind: i32) -> ActiveSpan {
        self.start_at(name, kind, now_unix_nano())
    }

    /// Starts a child span at `start` (ns since the epoch).
    pub fn start_at(&self, name: impl Into<String>, kind: i32, start: u64) -> ActiveSpan {
        ActiveSpan {
            ctx: self.clone(),
            span_id: random_hex(8),
            name: name.into(),
            kind,
            start,
            attributes: Vec::new(),
        }
    }
}

impl ActiveSpan {
    /// Adds an attribute.
    pub fn set(&mut self, attribute: KeyValue) {
        self.attributes.push(attribute);
    }

    /// The context for this span's children.
    pub fn ctx(&self) -> SpanCtx {
        SpanCtx {
            recorder: self.ctx.recorder.clone(),
            parent: self.span_id.clone(),
        }
    }

    /// Ends the span now with an ok status, or an error status carrying `error`.
    pub fn end(self, error: Option<&str>) {
        self.end_at(now_unix_nano(), error)
    }

    /// Ends the span at `end` (ns since the epoch).
    pub fn end_at(self, end: u64, error: Option<&str>) {
        let status = match error {
            None => Status {
                code: 1,
                message: String::new(),
            },
            Some(message) => Status {
                code: 2,
                message: message.to_string(),
            },
        };
        let span = Span {
            trace_id: self.ctx.recorder.trace_id.clone(),
            span_id: self.span_id,
            parent_span_id: self.ctx.parent,
            name: self.name,
            kind: self.kind,
            start_time_unix_nano: self.start.to_string(),
            end_time_unix_nano: end.max(self.start).to_string(),
            attributes: self.attributes,
            status,
        };
        self.ctx
            .recorder
            .spans
            .lock()
            .expect("span list lock")
            .push(span);
    }
}

/// The trace file: one export request per line, flushed per trace so a killed service leaves
/// only whole lines.
pub struct TraceSink {
    file: Mutex<BufWriter<File>>,
}

impl TraceSink {
    /// Opens `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    /// Appends one trace.
    pub fn write(&self, trace: &ExportTraceServiceRequest) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(trace).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self.file.lock().expect("trace file lock");
        file.write_all(&line)?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_encode_as_otlp_json() {
        let recorder = TraceRecorder::new();
        let mut root = recorder.root().start_at("POST /x", KIND_SERVER, 1_000);
        root.set(KeyValue::int("gen_ai.usage.input_tokens", 12));
        let child = root.ctx().start_at("chat m", KIND_CLIENT, 1_500);
        child.end_at(1_700, Some("rate_limited"));
        root.end_at(2_000, None);
        let json = serde_json::to_value(recorder.export()).unwrap();
        let spans = &json["resourceSpans"][0]["scopeSpans"][0]["spans"];
        assert_eq!(spans[0]["name"], "chat m");
        assert_eq!(spans[0]["status"]["code"], 2);
        assert_eq!(spans[0]["startTimeUnixNano"], "1500");
        assert_eq!(spans[1]["attributes"][0]["value"]["intValue"], "12");
        assert_eq!(spans[1]["kind"], 2);
        assert_eq!(spans[0]["parentSpanId"], spans[1]["spanId"]);
        assert_eq!(spans[0]["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(spans[1]["spanId"].as_str().unwrap().len(), 16);
        assert!(spans[1].get("parentSpanId").is_none());
        let back: ExportTraceServiceRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, recorder.export());
    }
}
