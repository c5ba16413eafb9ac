//! Which span attributes mean what: the one place that maps a trace's vocabulary (the
//! OpenTelemetry semantic conventions for GenAI, databases and HTTP, plus a few capsim keys)
//! onto the quantities calibration fits. Where several keys are listed, the first present wins.

use super::otlp::Span;

/// The operation of a GenAI span (`chat`, `invoke_agent`, `execute_tool`, ...).
pub const GEN_AI_OPERATION: &[&str] = &["gen_ai.operation.name"];
/// `gen_ai.operation.name` values that are one call to a model.
pub const LLM_CALL_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "generateContent",
];
/// `gen_ai.operation.name` of an agent invocation, whose name LLM calls below it inherit.
pub const AGENT_OPERATION: &str = "invoke_agent";
/// The model called.
pub const GEN_AI_MODEL: &[&str] = &["gen_ai.request.model", "gen_ai.response.model"];
/// The agent making the call (on the call span or an ancestor).
pub const GEN_AI_AGENT: &[&str] = &["gen_ai.agent.name"];
/// Input (prompt) tokens of a call.
pub const GEN_AI_INPUT_TOKENS: &[&str] =
    &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"];
/// Output tokens of a call.
pub const GEN_AI_OUTPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
];

/// Marks a datastore span (its value is the database system).
pub const DB_SYSTEM: &[&str] = &["db.system.name", "db.system"];
/// The datastore operation (`SELECT`, `get`, `commit`, ...).
pub const DB_OPERATION: &[&str] = &["db.operation.name", "db.operation"];

/// CPU seconds a span used (on the handler span).
pub const CPU_SECONDS: &[&str] = &["capsim.cpu_seconds", "process.cpu.time"];
/// Seconds the request waited for a slot before its handler ran (on the request span).
pub const QUEUE_WAIT_SECONDS: &[&str] = &["capsim.queue_wait_seconds", "queue.wait_seconds"];
/// The route template of the server span that is a trace's request.
pub const HTTP_ROUTE: &[&str] = &["http.route"];
/// The request's HTTP status; a request answered 400 or above is left out of the fits.
pub const HTTP_STATUS: &[&str] = &["http.response.status_code", "http.status_code"];
/// Span kind of a server span in OTLP's numbering.
pub const SPAN_KIND_SERVER: i64 = 2;

/// One of capsim's four request kinds (`app.requests.<kind>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestKind {
    /// `POST /api/v1/session/start`.
    Start,
    /// `POST /api/v1/session/{id}/welcome`.
    Welcome,
    /// `POST /api/v1/session/{id}/turn`.
    Turn,
    /// `POST /api/v1/session/{id}/close`.
    Close,
}

impl RequestKind {
    /// All kinds, in the order the model file lists them.
    pub const ALL: [RequestKind; 4] = [
        RequestKind::Start,
        RequestKind::Welcome,
        RequestKind::Turn,
        RequestKind::Close,
    ];

    /// The name capsim's files use.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Start => "start",
            RequestKind::Welcome => "welcome",
            RequestKind::Turn => "turn",
            RequestKind::Close => "close",
        }
    }

    /// The kind of a route: its last path segment (`/api/v1/session/{id}/turn` → turn).
    pub fn from_route(route: &str) -> Option<RequestKind> {
        match route.trim_end_matches('/').rsplit('/').next()? {
            "start" => Some(RequestKind::Start),
            "welcome" => Some(RequestKind::Welcome),
            "turn" => Some(RequestKind::Turn),
            "close" => Some(RequestKind::Close),
            _ => None,
        }
    }
}

/// capsim's datastore operations (`datastore.<op>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DbOp {
    /// Reads and queries.
    Read,
    /// Inserts, updates, sets and commits.
    Write,
    /// Deletes.
    Delete,
}

impl DbOp {
    /// All operations, in the order the model file lists them.
    pub const ALL: [DbOp; 3] = [DbOp::Read, DbOp::Write, DbOp::Delete];

    /// The name capsim's files use.
    pub fn name(self) -> &'static str {
        match self {
            DbOp::Read => "read",
            DbOp::Write => "write",
            DbOp::Delete => "delete",
        }
    }

    /// The capsim operation of a `db.operation.name` (SQL verbs and Firestore's method
    /// names, case-insensitive); `None` for operations capsim has no counterpart for.
    pub fn from_operation(operation: &str) -> Option<DbOp> {
        const READS: &[&str] = &[
            "select", "get", "read", "query", "find", "batchget", "runquery",
        ];
        const WRITES: &[&str] = &[
            "insert", "update", "upsert", "set", "write", "commit", "replace", "create", "put",
        ];
        const DELETES: &[&str] = &["delete", "remove"];
        let op = operation.to_ascii_lowercase();
        let verb = op.split([' ', '.']).next().unwrap_or("");
        if READS.contains(&verb) {
            Some(DbOp::Read)
        } else if WRITES.contains(&verb) {
            Some(DbOp::Write)
        } else if DELETES.contains(&verb) {
            Some(DbOp::Delete)
        } else {
            None
        }
    }
}

/// The span is one LLM call.
pub fn is_llm_call(span: &Span) -> bool {
    span.text(GEN_AI_OPERATION)
        .is_some_and(|op| LLM_CALL_OPERATIONS.contains(&op))
}

/// The span is an agent invocation.
pub fn is_agent(span: &Span) -> bool {
    span.text(GEN_AI_OPERATION) == Some(AGENT_OPERATION)
}

/// The span is a datastore operation.
pub fn is_datastore(span: &Span) -> bool {
    DB_SYSTEM.iter().any(|k| span.attribute(k).is_some())
}

/// The request kind of a trace's request span (a span with a known `http.route`).
pub fn request_kind(span: &Span) -> Option<RequestKind> {
    span.text(HTTP_ROUTE).and_then(RequestKind::from_route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_request_kinds_by_their_last_segment() {
        assert_eq!(
            RequestKind::from_route("/api/v1/session/start"),
            Some(RequestKind::Start)
        );
        assert_eq!(
            RequestKind::from_route("/api/v1/session/{id}/turn"),
            Some(RequestKind::Turn)
        );
        assert_eq!(RequestKind::from_route("/health"), None);
    }

    #[test]
    fn sql_and_firestore_operations_map_to_capsim_operations() {
        assert_eq!(DbOp::from_operation("SELECT"), Some(DbOp::Read));
        assert_eq!(DbOp::from_operation("get"), Some(DbOp::Read));
        assert_eq!(DbOp::from_operation("UPDATE sessions"), Some(DbOp::Write));
        assert_eq!(DbOp::from_operation("commit"), Some(DbOp::Write));
        assert_eq!(DbOp::from_operation("DELETE"), Some(DbOp::Delete));
        assert_eq!(DbOp::from_operation("PRAGMA"), None);
    }
}
