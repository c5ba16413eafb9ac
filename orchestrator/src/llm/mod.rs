//! LLM backends behind one trait, [`LlmBackend`], and the call policy around them: each attempt
//! bounded by the attempt timeout, 429s, 5xx and attempt timeouts retried with exponential backoff
//! and full jitter, and one GenAI-convention span per attempt.

pub mod gemini;
pub mod simulated;

use std::time::Duration;

use rand::RngExt;

use crate::config::LlmConfig;
use crate::trace::{KIND_CLIENT, KeyValue, SpanCtx};

/// One generateContent request.
#[derive(Debug, Clone)]
pub struct LlmRequest {
    /// The calling agent (`stage_manager`, `partner`, `room`, `coach`, `mc`).
    pub agent: &'static str,
    /// The model asked for.
    pub model: String,
    /// The system instruction.
    pub system: String,
    /// The user content (prompt, including history).
    pub prompt: String,
    /// The reply length typical of this agent and step, in tokens (the simulated backend's mean).
    pub typical_output_tokens: u32,
    /// Whether this step answers with a function call (a transfer or a tool call).
    pub function_call: Option<String>,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmResponse {
    /// The text parts, joined.
    pub text: String,
    /// Prompt tokens as the backend counted them.
    pub input_tokens: u64,
    /// Output tokens as the backend counted them.
    pub output_tokens: u64,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// HTTP 429 (quota).
    #[error("rate limited (429)")]
    RateLimited,
    /// HTTP 5xx.
    #[error("server error ({0})")]
    Server(u16),
    /// The attempt took longer than the attempt timeout.
    #[error("timed out")]
    Timeout,
    /// Anything else (a 4xx, a malformed body, a connection failure): not retried.
    #[error("{0}")]
    Other(String),
}

impl LlmError {
    /// The `outcome` attribute of the attempt's span.
    pub fn outcome(&self) -> &'static str {
        match self {
            LlmError::RateLimited => "rate_limited",
            LlmError::Server(_) => "server_error",
            LlmError::Timeout => "timeout",
            LlmError::Other(_) => "error",
        }
    }

    fn retryable(&self) -> bool {
        !matches!(self, LlmError::Other(_))
    }
}

/// A generateContent backend.
pub trait LlmBackend: Send + Sync {
    /// Makes one attempt.
    fn generate<'a>(
        &'a self,
        request: &'a LlmRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<LlmResponse, LlmError>> + Send + 'a>>;
}

/// Calls `backend` under the retry policy of `config`, recording a `chat MODEL` span per attempt.
pub async fn call_with_retries(
    backend: &dyn LlmBackend,
    config: &LlmConfig,
    request: &LlmRequest,
    ctx: &SpanCtx,
) -> Result<LlmResponse, LlmError> {
    let mut attempt = 1;
    loop {
        let mut span = ctx.start(format!("chat {}", request.model), KIND_CLIENT);
        span.set(KeyValue::str("gen_ai.operation.name", "chat"));
        span.set(KeyValue::str("gen_ai.system", "gemini"));
        span.set(KeyValue::str("gen_ai.request.model", request.model.clone()));
        span.set(KeyValue::str("gen_ai.agent.name", request.agent));
        span.set(KeyValue::int("orchestrator.attempt", attempt as i64));
        let timeout = Duration::from_millis(config.attempt_timeout_ms);
        let result = match tokio::time::timeout(timeout, backend.generate(request)).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout),
        };
        match result {
            Ok(response) => {
                span.set(KeyValue::int(
                    "gen_ai.usage.input_tokens",
                    response.input_tokens as i64,
                ));
                span.set(KeyValue::int(
                    "gen_ai.usage.output_tokens",
                    response.output_tokens as i64,
                ));
                span.set(KeyValue::str("orchestrator.outcome", "ok"));
                span.end(None);
                return Ok(response);
            }
            Err(error) => {
                span.set(KeyValue::str("orchestrator.outcome", error.outcome()));
                span.set(KeyValue::str("error.type", error.outcome()));
                span.end(Some(&error.to_string()));
                if !error.retryable() || attempt >= config.max_attempts {
                    return Err(error);
                }
            }
        }
        tokio::time::sleep(backoff(config, attempt)).await;
        attempt += 1;
    }
}

/// Full-jitter exponential backoff before attempt `attempt + 1`.
fn backoff(config: &LlmConfig, attempt: u32) -> Duration {
    let cap = config
        .backoff_base_ms
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(config.backoff_max_ms);
    Duration::from_millis(rand::rng().random_range(0..=cap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct FailingFirst {
        failures: u32,
        error: LlmError,
        calls: AtomicU32,
    }

    impl LlmBackend for FailingFirst {
        fn generate<'a>(
            &'a self,
            _request: &'a LlmRequest,
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<LlmResponse, LlmError>> + Send + 'a>>
        {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                if n < self.failures {
                    Err(self.error.clone())
                } else {
                    Ok(LlmResponse {
                        text: "ok".into(),
                        input_tokens: 1,
                        output_tokens: 1,
                    })
                }
            })
        }
    }

    fn request() -> LlmRequest {
        LlmRequest {
            agent: "partner",
            model: "m".into(),
            system: String::new(),
            prompt: "p".into(),
            typical_output_tokens: 10,
            function_call: None,
        }
    }

    fn config(max_attempts: u32) -> LlmConfig {
        LlmConfig {
            max_attempts,
            backoff_base_ms: 1,
            backoff_max_ms: 2,
            ..LlmConfig::default()
        }
    }

    #[tokio::test]
    async fn a_429_is_retried_until_the_attempts_run_out() {
        let ctx = crate::trace::TraceRecorder::new().root();
        let backend = FailingFirst {
            failures: 2,
            error: LlmError::RateLimited,
            calls: AtomicU32::new(0),
        };
        assert!(
            call_with_retries(&backend, &config(3), &request(), &ctx)
                .await
                .is_ok()
        );
        let backend = FailingFirst {
            failures: 3,
            error: LlmError::Server(503),
            calls: AtomicU32::new(0),
        };
        assert_eq!(
            call_with_retries(&backend, &config(3), &request(), &ctx).await,
            Err(LlmError::Server(503))
        );
        assert_eq!(backend.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let ctx = crate::trace::TraceRecorder::new().root();
        let backend = FailingFirst {
            failures: 1,
            error: LlmError::Other("400".into()),
            calls: AtomicU32::new(0),
        };
        assert!(
            call_with_retries(&backend, &config(3), &request(), &ctx)
                .await
                .is_err()
        );
        assert_eq!(backend.calls.load(Ordering::SeqCst), 1);
    }
}
