//! Reader for OpenTelemetry traces in OTLP/JSON, the file exporter's format: one
//! `ExportTraceServiceRequest` JSON object per line (`resourceSpans` → `scopeSpans` →
//! `spans`). A file holding one pretty-printed request (as in opentelemetry-proto's examples)
//! is read too. Only the fields calibration needs are typed; the rest is ignored.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use super::CalibrateError;

/// One span, flattened out of its resource and scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Trace id (hex).
    pub trace_id: String,
    /// Span id (hex).
    pub span_id: String,
    /// Parent span id (hex); empty for a root span.
    pub parent_span_id: String,
    /// Span name.
    pub name: String,
    /// Span kind as OTLP numbers it (2 = server).
    pub kind: i64,
    /// Start, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// Attributes as key and value.
    pub attributes: Vec<(String, AttributeValue)>,
    /// The span's status is an error (`status.code` 2).
    pub is_error: bool,
}

impl Span {
    /// Duration in seconds (0 when the end precedes the start).
    pub fn seconds(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 * 1e-9
    }

    /// The value of attribute `key`, if present.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The first of `keys` present, as text.
    pub fn text(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| match self.attribute(k) {
            Some(AttributeValue::Text(s)) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The first of `keys` present, as a number.
    pub fn number(&self, keys: &[&str]) -> Option<f64> {
        keys.iter()
            .find_map(|k| self.attribute(k).and_then(AttributeValue::as_f64))
    }
}

/// A scalar attribute value (arrays, maps and bytes are kept as `Other`).
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// `stringValue`.
    Text(String),
    /// `intValue` (a decimal string in OTLP/JSON, a number accepted too).
    Int(i64),
    /// `doubleValue`.
    Double(f64),
    /// `boolValue`.
    Bool(bool),
    /// Any other kind of value.
    Other,
}

impl AttributeValue {
    /// The value as a number, for ints and doubles.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttributeValue::Int(i) => Some(*i as f64),
            AttributeValue::Double(d) => Some(*d),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportTraceServiceRequest {
    #[serde(default)]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<WireSpan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSpan {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: i64,
    start_time_unix_nano: Nanos,
    end_time_unix_nano: Nanos,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: i64,
}

/// Nanoseconds: a decimal string (the OTLP/JSON encoding of 64-bit integers) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Nanos {
    Text(String),
    Number(u64),
}

impl Nanos {
    fn value(&self, field: &str) -> Result<u64, String> {
        match self {
            Nanos::Number(n) => Ok(*n),
            Nanos::Text(s) => s.parse().map_err(|_| {
                format!("`{field}` must be nanoseconds as a decimal integer (got {s:?})")
            }),
        }
    }
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: WireValue,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireValue {
    string_value: Option<String>,
    int_value: Option<IntValue>,
    double_value: Option<f64>,
    bool_value: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IntValue {
    Text(String),
    Number(i64),
}

impl WireValue {
    fn convert(self, key: &str) -> Result<AttributeValue, String> {
        Ok(if let Some(s) = self.string_value {
            AttributeValue::Text(s)
        } else if let Some(i) = self.int_value {
            AttributeValue::Int(match i {
                IntValue::Number(n) => n,
                IntValue::Text(s) => s.parse().map_err(|_| {
                    format!("attribute `{key}`: intValue must be a decimal integer (got {s:?})")
                })?,
            })
        } else if let Some(d) = self.double_value {
            AttributeValue::Double(d)
        } else if let Some(b) = self.bool_value {
            AttributeValue::Bool(b)
        } else {
            AttributeValue::Other
        })
    }
}

const STATUS_CODE_ERROR: i64 = 2;

fn flatten(request: ExportTraceServiceRequest, out: &mut Vec<Span>) -> Result<(), String> {
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            for s in scope.spans {
                let attributes = s
                    .attributes
                    .into_iter()
                    .map(|kv| {
                        let value = kv.value.convert(&kv.key)?;
                        Ok((kv.key, value))
                    })
                    .collect::<Result<_, String>>()
                    .map_err(|e| format!("span `{}`: {e}", s.name))?;
                let start_ns = s
                    .start_time_unix_nano
                    .value("startTimeUnixNano")
                    .map_err(|e| format!("span `{}`: {e}", s.name))?;
                let end_ns = s
                    .end_time_unix_nano
                    .value("endTimeUnixNano")
                    .map_err(|e| format!("span `{}`: {e}", s.name))?;
                out.push(Span {
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    parent_span_id: s.parent_span_id,
                    name: s.name,
                    kind: s.kind,
                    start_ns,
                    end_ns,
                    attributes,
                    is_error: s.status.is_some_and(|st| st.code == STATUS_CODE_ERROR),
                });
            }
        }
    }
    Ok(())
}

/// Parses one JSON document, naming the JSON path of a field that does not fit.
fn parse(
    text: &str,
) -> Result<ExportTraceServiceRequest, serde_path_to_error::Error<serde_json::Error>> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de)
}

fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    if path == "." {
        e.inner().to_string()
    } else {
        format!("field `{path}`: {}", e.inner())
    }
}

/// Reads every span of an OTLP/JSON trace file.
pub fn read_spans(path: &Path) -> Result<Vec<Span>, CalibrateError> {
    let error = |line: usize, message: String| CalibrateError::Trace {
        file: path.to_path_buf(),
        line,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| CalibrateError::Io {
        file: path.to_path_buf(),
        source: e,
    })?;
    let mut spans = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| error(line_no, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse(&line) {
            Ok(request) => flatten(request, &mut spans).map_err(|e| error(line_no, e))?,
            // The first document does not end on its line: a pretty-printed file.
            Err(e) if spans.is_empty() && e.inner().is_eof() => {
                let text = std::fs::read_to_string(path).map_err(|e| CalibrateError::Io {
                    file: path.to_path_buf(),
                    source: e,
                })?;
                let request = parse(&text).map_err(|e| error(e.inner().line(), describe(&e)))?;
                flatten(request, &mut spans).map_err(|e| error(line_no, e))?;
                return Ok(spans);
            }
            Err(e) => return Err(error(line_no, describe(&e))),
        }
    }
    Ok(spans)
}
