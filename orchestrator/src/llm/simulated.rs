//! The simulated LLM: a reply whose length is lognormal around the agent's typical length, after
//! a latency of `lognormal base + per_input_token_ms * input + per_output_token_ms * output`,
//! having burned `cpu_ms_per_call` of real CPU on the calling thread (the SDK's serialisation and
//! parsing), and failing with 429, 5xx or no answer at all at the configured rates.

use std::pin::Pin;
use std::time::Duration;

use rand::RngExt;
use rand_distr::{Distribution, LogNormal};

use super::{LlmBackend, LlmError, LlmRequest, LlmResponse};
use crate::config::SimulatedConfig;
use crate::history::estimate_tokens;

/// The simulated backend.
pub struct SimulatedLlm {
    config: SimulatedConfig,
}

const WORDS: &[&str] = &[
    "yes",
    "and",
    "the",
    "stage",
    "laugh",
    "great",
    "scene",
    "partner",
    "love",
    "audience",
    "moment",
    "we",
    "offer",
    "build",
    "space",
    "character",
    "choice",
    "heighten",
    "listen",
    "truth",
];

/// What one attempt will do, drawn before any await (the thread RNG is not `Send`).
enum Plan {
    Answer {
        latency: Duration,
        output_tokens: u64,
    },
    Fail {
        latency: Duration,
        error: LlmError,
    },
    Hang,
}

impl SimulatedLlm {
    /// A simulated backend with `config`.
    pub fn new(config: SimulatedConfig) -> Self {
        Self { config }
    }

    fn plan(&self, request: &LlmRequest, input_tokens: u64) -> Plan {
        let c = &self.config;
        let mut rng = rand::rng();
        let lognormal = |median: f64, sigma: f64| {
            LogNormal::new(median.max(1e-9).ln(), sigma)
                .expect("sigma is checked finite and >= 0 by the config")
        };
        let base_ms = lognormal(c.base_median_ms, c.base_sigma).sample(&mut rng);
        let output_tokens = lognormal(
            f64::from(request.typical_output_tokens.max(1)),
            c.output_tokens_sigma,
        )
        .sample(&mut rng)
        .round()
        .max(1.0) as u64;
        let latency_ms = base_ms
            + c.per_input_token_ms * input_tokens as f64
            + c.per_output_token_ms * output_tokens as f64;
        let latency = Duration::from_secs_f64(latency_ms / 1000.0);
        let u: f64 = rng.random();
        if u < c.rate_limited_rate {
            Plan::Fail {
                latency: latency / 4,
                error: LlmError::RateLimited,
            }
        } else if u < c.rate_limited_rate + c.server_error_rate {
            Plan::Fail {
                latency: latency / 2,
                error: LlmError::Server(503),
            }
        } else if u < c.rate_limited_rate + c.server_error_rate + c.timeout_rate {
            Plan::Hang
        } else {
            Plan::Answer {
                latency,
                output_tokens,
            }
        }
    }
}

/// Text of about `tokens` tokens (4 characters each).
fn filler_text(tokens: u64) -> String {
    let mut rng = rand::rng();
    let mut text = String::new();
    while (text.len() as u64) < tokens * 4 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    text
}

impl LlmBackend for SimulatedLlm {
    fn generate<'a>(
        &'a self,
        request: &'a LlmRequest,
    ) -> Pin<Box<dyn Future<Output = Result<LlmResponse, LlmError>> + Send + 'a>> {
        Box::pin(async move {
            let input_tokens = estimate_tokens(&request.system) + estimate_tokens(&request.prompt);
            crate::cpu::burn_cpu((self.config.cpu_ms_per_call * 1e6) as u64);
            match self.plan(request, input_tokens) {
                Plan::Answer {
                    latency,
                    output_tokens,
                } => {
                    tokio::time::sleep(latency).await;
                    let text = match &request.function_call {
                        Some(call) => format!("{call}()"),
                        None => filler_text(output_tokens),
                    };
                    Ok(LlmResponse {
                        text,
                        input_tokens,
                        output_tokens,
                    })
                }
                Plan::Fail { latency, error } => {
                    tokio::time::sleep(latency).await;
                    Err(error)
                }
                Plan::Hang => std::future::pending().await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> LlmRequest {
        LlmRequest {
            agent: "partner",
            model: "m".into(),
            system: "x".repeat(400),
            prompt: "y".repeat(40),
            typical_output_tokens: 50,
            function_call: None,
        }
    }

    #[tokio::test]
    async fn an_answer_counts_the_prompt_and_has_about_the_typical_length() {
        let config = SimulatedConfig {
            base_median_ms: 1.0,
            per_output_token_ms: 0.0,
            cpu_ms_per_call: 0.0,
            ..Default::default()
        };
        let response = SimulatedLlm::new(config)
            .generate(&request())
            .await
            .unwrap();
        assert_eq!(response.input_tokens, 110);
        assert!(
            (5..=500).contains(&response.output_tokens),
            "{}",
            response.output_tokens
        );
        assert!(response.text.len() as u64 >= response.output_tokens * 4);
    }

    #[tokio::test]
    async fn a_fault_rate_of_one_always_fails() {
        let config = SimulatedConfig {
            base_median_ms: 1.0,
            rate_limited_rate: 1.0,
            cpu_ms_per_call: 0.0,
            ..Default::default()
        };
        assert_eq!(
            SimulatedLlm::new(config).generate(&request()).await,
            Err(LlmError::RateLimited)
        );
        let config = SimulatedConfig {
            base_median_ms: 1.0,
            server_error_rate: 1.0,
            cpu_ms_per_call: 0.0,
            ..Default::default()
        };
        assert_eq!(
            SimulatedLlm::new(config).generate(&request()).await,
            Err(LlmError::Server(503))
        );
    }
}
