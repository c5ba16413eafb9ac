//! The service's configuration: a YAML file whose every field has a default, so `orchestrator
//! serve` works with no file at all. Unknown fields are errors, reported with the file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything `orchestrator serve` can be told.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP listener and its Cloud-Run-like front.
    pub server: ServerConfig,
    /// Bearer-token signing.
    pub auth: AuthConfig,
    /// The app's per-user limits and session lifetime.
    pub limits: LimitsConfig,
    /// Where sessions, turns and limits are persisted.
    pub store: StoreConfig,
    /// Where OTLP/JSON traces go.
    pub trace: TraceConfig,
    /// Conversation history and its compaction.
    pub history: HistoryConfig,
    /// The agents and how a turn runs them.
    pub agents: AgentsConfig,
    /// The LLM backend, its retries and its faults.
    pub llm: LlmConfig,
}

/// The listener and the instance front (Cloud Run's container concurrency and pending queue).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// TCP port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// Requests allowed in the handler at once; the rest wait in FIFO order.
    pub max_concurrency: usize,
    /// How long a request may wait for a slot before it is answered 429.
    pub queue_deadline_ms: u64,
    /// Tokio worker threads (0: one per core).
    pub worker_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            max_concurrency: 80,
            queue_deadline_ms: 10_000,
            worker_threads: 0,
        }
    }
}

/// The server secret that signs bearer tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HMAC-SHA256 key; change it for anything but local testing.
    pub secret: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret: "orchestrator-dev-secret".to_string(),
        }
    }
}

/// The app's limits (`app/services/rate_limiter.py`, `app/config.py`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sessions a user may start per UTC day.
    pub daily_sessions: u32,
    /// Sessions a user may have open at once.
    pub concurrent_sessions: u32,
    /// Session lifetime from creation; not extended by activity.
    pub session_timeout_minutes: u64,
    /// The `Retry-After` seconds of a limit's 429.
    pub retry_after_s: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            daily_sessions: 10,
            concurrent_sessions: 3,
            session_timeout_minutes: 60,
            retry_after_s: 3600,
        }
    }
}

/// The SQLite database file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Path of the database; created if missing.
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("orchestrator.db"),
        }
    }
}

/// The trace file (one OTLP/JSON `ExportTraceServiceRequest` per line); none when unset.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    /// Path of the JSON-lines trace file, appended to.
    pub path: Option<PathBuf>,
}

/// History compaction: keep the first turn and the last `keep_recent` when the history's tokens
/// exceed `max_context_tokens`. Off by default, as in the app, which sends the history in full.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Whether to compact at all.
    pub compaction: bool,
    /// Token budget of the history part of a prompt.
    pub max_context_tokens: u64,
    /// Recent turns kept besides the first when compacting.
    pub keep_recent: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            compaction: false,
            max_context_tokens: 4000,
            keep_recent: 3,
        }
    }
}

/// How a turn runs its agents.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgentMode {
    /// The app: strictly sequential LLM-driven transfers.
    #[default]
    Sequential,
    /// The plan's optimisation: Partner, Room and Coach at once.
    Parallel,
}

/// The agents of a turn.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// Sequential (the app) or parallel (the plan).
    pub mode: AgentMode,
    /// Chance that the Partner transfers to the Room on a turn (the Room then makes a tool round trip).
    pub room_probability: f64,
    /// Timeout of one agent run (a turn or a welcome step); past it the request gets 504.
    pub timeout_ms: u64,
    /// The model name every agent asks for.
    pub model: String,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            mode: AgentMode::Sequential,
            room_probability: 0.3,
            timeout_ms: 30_000,
            model: "gemini-2.0-flash".to_string(),
        }
    }
}

/// The LLM backend: `simulated` unless `gemini.api_key` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Attempts per call (1 = no retry); 429, 5xx and attempt timeouts are retried.
    pub max_attempts: u32,
    /// First backoff; doubled each retry, with full jitter.
    pub backoff_base_ms: u64,
    /// Largest backoff.
    pub backoff_max_ms: u64,
    /// Time one attempt may take before it counts as a timeout.
    pub attempt_timeout_ms: u64,
    /// The simulated backend.
    pub simulated: SimulatedConfig,
    /// The Gemini REST backend.
    pub gemini: GeminiConfig,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_base_ms: 200,
            backoff_max_ms: 2000,
            attempt_timeout_ms: 20_000,
            simulated: SimulatedConfig::default(),
            gemini: GeminiConfig::default(),
        }
    }
}

/// The simulated LLM: latency = lognormal base + per-token terms; real CPU burned per call.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatedConfig {
    /// Median of the lognormal base latency, in ms.
    pub base_median_ms: f64,
    /// Sigma (log-space standard deviation) of the base latency.
    pub base_sigma: f64,
    /// Added latency per input token, in ms.
    pub per_input_token_ms: f64,
    /// Added latency per output token, in ms.
    pub per_output_token_ms: f64,
    /// Sigma of the lognormal spread of output tokens around each agent's typical length.
    pub output_tokens_sigma: f64,
    /// Real CPU burned per call, in ms, standing in for the SDK's overhead.
    pub cpu_ms_per_call: f64,
    /// Probability that an attempt answers 429.
    pub rate_limited_rate: f64,
    /// Probability that an attempt answers 5xx.
    pub server_error_rate: f64,
    /// Probability that an attempt never answers (it then hits the attempt timeout).
    pub timeout_rate: f64,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        Self {
            base_median_ms: 400.0,
            base_sigma: 0.35,
            per_input_token_ms: 0.02,
            per_output_token_ms: 6.0,
            output_tokens_sigma: 0.35,
            cpu_ms_per_call: 3.0,
            rate_limited_rate: 0.0,
            server_error_rate: 0.0,
            timeout_rate: 0.0,
        }
    }
}

/// The Gemini generateContent REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeminiConfig {
    /// API key; when set, the Gemini backend replaces the simulated one.
    pub api_key: Option<String>,
    /// Base URL of the API (a local mock server in tests).
    pub base_url: String,
}

impl Default for GeminiConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://generativelanguage.googleapis.com".to_string(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The YAML is malformed or a field is wrong (serde_yaml names the field and line).
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    /// A value is out of its range.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        path: String,
        field: &'static str,
        message: String,
    },
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_yaml(&text, &shown)
    }

    /// Parses and checks configuration text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|source| ConfigError::Parse {
                path: origin.to_string(),
                source,
            })?
        };
        config
            .check()
            .map_err(|(field, message)| ConfigError::Invalid {
                path: origin.to_string(),
                field,
                message,
            })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        let probability = |field, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err((field, format!("must be in 0..1, got {p}")))
            }
        };
        let positive = |field, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err((field, format!("must be finite and >= 0, got {v}")))
            }
        };
        if self.server.max_concurrency == 0 {
            return Err(("server.max_concurrency", "must be at least 1".to_string()));
        }
        if self.llm.max_attempts == 0 {
            return Err(("llm.max_attempts", "must be at least 1".to_string()));
        }
        if self.auth.secret.is_empty() {
            return Err(("auth.secret", "must not be empty".to_string()));
        }
        probability("agents.room_probability", self.agents.room_probability)?;
        let sim = &self.llm.simulated;
        probability("llm.simulated.rate_limited_rate", sim.rate_limited_rate)?;
        probability("llm.simulated.server_error_rate", sim.server_error_rate)?;
        probability("llm.simulated.timeout_rate", sim.timeout_rate)?;
        if sim.rate_limited_rate + sim.server_error_rate + sim.timeout_rate > 1.0 {
            return Err((
                "llm.simulated",
                "fault rates must add up to at most 1".to_string(),
            ));
        }
        positive("llm.simulated.base_median_ms", sim.base_median_ms)?;
        positive("llm.simulated.base_sigma", sim.base_sigma)?;
        positive("llm.simulated.per_input_token_ms", sim.per_input_token_ms)?;
        positive("llm.simulated.per_output_token_ms", sim.per_output_token_ms)?;
        positive("llm.simulated.output_tokens_sigma", sim.output_tokens_sigma)?;
        positive("llm.simulated.cpu_ms_per_call", sim.cpu_ms_per_call)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let config = Config::from_yaml("", "empty.yaml").unwrap();
        assert_eq!(config.limits.daily_sessions, 10);
        assert_eq!(config.limits.concurrent_sessions, 3);
        assert_eq!(config.agents.timeout_ms, 30_000);
    }

    #[test]
    fn an_unknown_field_names_the_file_the_field_and_the_line() {
        let err = Config::from_yaml("server:\n  port: 1\n  max_concurency: 2\n", "o.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("o.yaml:"), "{err}");
        assert!(err.contains("max_concurency"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn an_out_of_range_rate_is_refused_by_field() {
        let err = Config::from_yaml("llm:\n  simulated:\n    timeout_rate: 1.5\n", "o.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("llm.simulated.timeout_rate"), "{err}");
    }
}
