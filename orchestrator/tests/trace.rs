//! The OTLP/JSON trace parsed back: one `ExportTraceServiceRequest` per line and request, the
//! request span with its queue wait, the handler with its CPU time, each agent, each LLM call
//! with its GenAI attributes, and each datastore operation.

mod common;

use common::{Client, fast_config, start};
use orchestrator::trace::{AnyValue, ExportTraceServiceRequest, Span};

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_one_trace_line_with_the_documented_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.agents.room_probability = 1.0;
    let base = start(config).await;
    let june = Client::for_user(&base, "june");
    let id = june.start_session().await;
    assert_eq!(june.turn(&id, 1, "a lighthouse").await.0, 200);

    let text = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    let traces: Vec<ExportTraceServiceRequest> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(traces.len(), 2, "one line per request");
    let spans = &traces[1].resource_spans[0].scope_spans[0].spans;
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let root = named("POST /api/v1/session/{id}/turn");
    assert_eq!(root.len(), 1);
    let root = root[0];
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.kind, 2);
    assert!(matches!(
        attribute(root, "http.response.status_code"),
        Some(AnyValue::IntValue(200))
    ));
    assert!(matches!(
        attribute(root, "orchestrator.queue_wait_ns"),
        Some(AnyValue::IntValue(_))
    ));
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    assert_eq!(named("queue_wait")[0].parent_span_id, root.span_id);
    let handler = named("handler")[0];
    assert_eq!(handler.parent_span_id, root.span_id);
    assert!(
        matches!(attribute(handler, "orchestrator.cpu_time_ns"), Some(AnyValue::IntValue(ns)) if *ns > 0)
    );

    let agents: Vec<&str> = spans
        .iter()
        .filter(|s| s.name.starts_with("invoke_agent "))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        agents,
        [
            "invoke_agent stage_manager",
            "invoke_agent partner",
            "invoke_agent room"
        ]
    );
    let calls = named("chat gemini-2.0-flash");
    assert_eq!(
        calls.len(),
        4,
        "transfer, partner, and the room's two calls around its tool"
    );
    for call in &calls {
        assert!(
            matches!(attribute(call, "gen_ai.operation.name"), Some(AnyValue::StringValue(op)) if op == "chat")
        );
        assert!(
            matches!(attribute(call, "gen_ai.request.model"), Some(AnyValue::StringValue(m)) if m == "gemini-2.0-flash")
        );
        assert!(
            matches!(attribute(call, "gen_ai.usage.input_tokens"), Some(AnyValue::IntValue(n)) if *n > 100)
        );
        assert!(
            matches!(attribute(call, "gen_ai.usage.output_tokens"), Some(AnyValue::IntValue(n)) if *n > 0)
        );
        assert!(matches!(
            attribute(call, "orchestrator.attempt"),
            Some(AnyValue::IntValue(1))
        ));
        assert!(
            matches!(attribute(call, "orchestrator.outcome"), Some(AnyValue::StringValue(o)) if o == "ok")
        );
        let start: u64 = call.start_time_unix_nano.parse().unwrap();
        let end: u64 = call.end_time_unix_nano.parse().unwrap();
        assert!(end >= start);
    }
    assert_eq!(named("execute_tool get_sentiment_keywords").len(), 1);
    let db: Vec<&str> = spans
        .iter()
        .filter(|s| s.name.starts_with("db "))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        db,
        [
            "db get_session",
            "db get_history",
            "db stream_collection",
            "db append_turn"
        ]
    );
}
