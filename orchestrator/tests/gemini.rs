//! The Gemini backend against a local mock of the generateContent API (no test reaches the
//! internet): the request's path, key and body, the token counts from `usageMetadata`, and 429s.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use common::{Client, fast_config, start};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Mock {
    calls: Arc<AtomicU32>,
    rate_limited: bool,
}

async fn generate(
    State(mock): State<Mock>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    mock.calls.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        uri.path(),
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(headers["x-goog-api-key"], "test-key");
    assert!(
        body["systemInstruction"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("You are")
    );
    assert_eq!(body["contents"][0]["role"], "user");
    if mock.rate_limited {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}})),
        );
    }
    let reply = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Yes, and "}, {"text": "the lighthouse sings!"}]}}],
        "usageMetadata": {"promptTokenCount": 1234, "candidatesTokenCount": 56, "totalTokenCount": 1290}
    });
    (StatusCode::OK, Json(reply))
}

async fn mock_server(mock: Mock) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1beta/models/{model}", post(generate))
        .with_state(mock);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_through_gemini_returns_its_text_and_traces_its_token_counts() {
    let mock = Mock::default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.gemini.api_key = Some("test-key".to_string());
    config.llm.gemini.base_url = mock_server(mock.clone()).await;
    config.agents.room_probability = 0.0;
    let base = start(config).await;
    let hana = Client::for_user(&base, "hana");
    let id = hana.start_session().await;
    let (status, body) = hana.turn(&id, 1, "a lighthouse").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partner_response"], "Yes, and the lighthouse sings!");
    assert_eq!(
        mock.calls.load(Ordering::SeqCst),
        2,
        "the Stage Manager's transfer, then the Partner"
    );
    let trace = std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap();
    assert!(
        trace.contains(r#"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"1234"}}"#),
        "{trace}"
    );
    assert!(trace.contains(r#"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"56"}}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gemini_429_is_retried_then_gives_500() {
    let mock = Mock {
        rate_limited: true,
        ..Mock::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(dir.path());
    config.llm.gemini.api_key = Some("test-key".to_string());
    config.llm.gemini.base_url = mock_server(mock.clone()).await;
    config.llm.max_attempts = 3;
    let base = start(config).await;
    let ivan = Client::for_user(&base, "ivan");
    let id = ivan.start_session().await;
    assert_eq!(ivan.turn(&id, 1, "hello").await.0, 500);
    assert_eq!(mock.calls.load(Ordering::SeqCst), 3);
}
