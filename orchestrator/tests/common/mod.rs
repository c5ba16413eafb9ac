//! Shared helpers of the service tests: a fast test configuration, an in-process server on a
//! free loopback port, and an authenticated HTTP client.

#![allow(dead_code)]

use std::path::Path;

use orchestrator::auth::TokenSigner;
use orchestrator::config::Config;
use serde_json::Value;

/// A configuration with millisecond LLM latencies, its database and trace in `dir`.
pub fn fast_config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.server.port = 0;
    config.store.path = dir.join("orchestrator.db");
    config.trace.path = Some(dir.join("trace.jsonl"));
    let sim = &mut config.llm.simulated;
    sim.base_median_ms = 2.0;
    sim.base_sigma = 0.1;
    sim.per_input_token_ms = 0.0;
    sim.per_output_token_ms = 0.0;
    sim.cpu_ms_per_call = 0.2;
    config.llm.backoff_base_ms = 1;
    config.llm.backoff_max_ms = 5;
    config
}

/// Starts the service for `config` in this runtime; its base URL.
pub async fn start(config: Config) -> String {
    let listener = orchestrator::service::bind(&config).await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = orchestrator::service::router(config).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A client acting as `user`.
pub struct Client {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, user: &str, secret: &str) -> Self {
        Self {
            base: base.to_string(),
            token: TokenSigner::new(secret).sign(user).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    pub fn for_user(base: &str, user: &str) -> Self {
        Self::new(base, user, &Config::default().auth.secret)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Starts a session; its id.
    pub async fn start_session(&self) -> String {
        let (status, body, _) = self
            .post(
                "/api/v1/session/start",
                serde_json::json!({"user_name": "t"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["session_id"].as_str().unwrap().to_string()
    }

    pub async fn turn(&self, id: &str, n: u32, text: &str) -> (u16, Value) {
        let (status, body, _) = self
            .post(
                &format!("/api/v1/session/{id}/turn"),
                serde_json::json!({"user_input": text, "turn_number": n}),
            )
            .await;
        (status, body)
    }
}
