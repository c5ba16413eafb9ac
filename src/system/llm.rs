//! The LLM provider: call latency, per-minute quotas answering 429, and the app's retry policy.
//!
//! Latency is either time-to-first-token plus (thinking + output tokens) / decode rate, each
//! drawn per call, or one end-to-end distribution; both are scaled by `latency_scale`. Quotas
//! (requests and input tokens per minute) are token buckets that refill continuously at
//! limit/60 per second with a burst of one minute's limit; a call that finds either bucket short
//! is answered 429 at once and the app may retry after an exponential backoff with full jitter.

use rand::{Rng, RngExt};

use crate::config::{LlmLatency, LlmModel, RetrySpec};
use crate::dist::{DistError, Sampler};

/// How a compiled LLM draws a call's latency.
#[derive(Clone, Debug)]
pub enum CallLatency {
    /// TTFT + tokens / rate.
    Tokens {
        /// Time to first token.
        ttft: Sampler,
        /// Decode speed, tokens per second.
        decode_rate: Sampler,
    },
    /// End-to-end.
    EndToEnd(Sampler),
}

/// One LLM of `llm.models`, compiled.
#[derive(Clone, Debug)]
pub struct LlmRuntime {
    /// Latency.
    pub latency: CallLatency,
    /// Thinking tokens per call.
    pub thinking: Option<Sampler>,
    /// $ per input token.
    pub input_price: f64,
    /// $ per output token.
    pub output_price: f64,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Input tokens per minute.
    pub tpm: Option<u64>,
}

impl LlmRuntime {
    /// Compiles an `llm.models` entry.
    pub fn compile(m: &LlmModel) -> Result<Self, DistError> {
        let latency = match &m.latency {
            LlmLatency::Tokens { ttft, decode_rate } => CallLatency::Tokens {
                ttft: ttft.sampler()?,
                decode_rate: decode_rate.sampler()?,
            },
            LlmLatency::EndToEnd(d) => CallLatency::EndToEnd(d.sampler()?),
        };
        Ok(Self {
            latency,
            thinking: m
                .thinking_tokens
                .as_ref()
                .map(|t| t.sampler())
                .transpose()?,
            input_price: m.input_price.0,
            output_price: m.output_price.0,
            rpm: m.rpm,
            tpm: m.tpm,
        })
    }

    /// Draws the latency of one call producing `output_tokens` (+ `thinking_tokens`).
    pub fn draw_latency<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        output_tokens: f64,
        thinking_tokens: f64,
        scale: f64,
    ) -> f64 {
        let base = match &self.latency {
            CallLatency::Tokens { ttft, decode_rate } => {
                let t = ttft.sample(rng);
                let rate = decode_rate.sample(rng).max(1e-6);
                t + (output_tokens + thinking_tokens) / rate
            }
            CallLatency::EndToEnd(d) => d.sample(rng),
        };
        base * scale
    }
}

/// A continuously refilling bucket (capacity = one minute's limit).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    level: f64,
    last: f64,
}

impl TokenBucket {
    /// A full bucket for `per_minute`.
    pub fn per_minute(per_minute: f64) -> Self {
        Self {
            capacity: per_minute,
            per_second: per_minute / 60.0,
            level: per_minute,
            last: 0.0,
        }
    }

    fn refill(&mut self, now: f64) {
        self.level = (self.level + (now - self.last) * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Whether `amount` is available now (refilling first).
    pub fn has(&mut self, now: f64, amount: f64) -> bool {
        self.refill(now);
        self.level >= amount.min(self.capacity)
    }

    /// Takes `amount` (call after [`has`](Self::has)).
    pub fn take(&mut self, amount: f64) {
        self.level -= amount.min(self.capacity);
    }
}

/// Quota state of one LLM.
#[derive(Clone, Debug)]
pub struct Quota {
    requests: Option<TokenBucket>,
    tokens: Option<TokenBucket>,
}

impl Quota {
    /// Buckets for an LLM's limits.
    pub fn new(m: &LlmRuntime) -> Self {
        Self {
            requests: m.rpm.map(|r| TokenBucket::per_minute(f64::from(r))),
            tokens: m.tpm.map(|t| TokenBucket::per_minute(t as f64)),
        }
    }

    /// Admits a call with `input_tokens`, or answers false (429).
    pub fn admit(&mut self, now: f64, input_tokens: f64) -> bool {
        let ok_r = self.requests.as_mut().is_none_or(|b| b.has(now, 1.0));
        let ok_t = self
            .tokens
            .as_mut()
            .is_none_or(|b| b.has(now, input_tokens));
        if ok_r && ok_t {
            if let Some(b) = &mut self.requests {
                b.take(1.0);
            }
            if let Some(b) = &mut self.tokens {
                b.take(input_tokens);
            }
            true
        } else {
            false
        }
    }
}

/// Backoff before retry number `attempt` (0-based), with optional full jitter.
pub fn backoff<R: Rng + ?Sized>(spec: &RetrySpec, attempt: u32, rng: &mut R) -> f64 {
    let raw = spec.initial_backoff.0 * spec.multiplier.powi(attempt as i32);
    let capped = raw.min(spec.max_backoff.0);
    if spec.full_jitter {
        rng.random::<f64>() * capped
    } else {
        capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Seconds;
    use rand::SeedableRng;

    #[test]
    fn bucket_rejects_past_the_limit_then_refills() {
        let mut b = TokenBucket::per_minute(60.0);
        for _ in 0..60 {
            assert!(b.has(0.0, 1.0));
            b.take(1.0);
        }
        assert!(!b.has(0.0, 1.0));
        assert!(b.has(1.0, 1.0), "one request per second refills");
    }

    #[test]
    fn quota_checks_both_dimensions() {
        let m = LlmRuntime {
            latency: CallLatency::EndToEnd(Sampler::Constant(1.0)),
            thinking: None,
            input_price: 0.0,
            output_price: 0.0,
            rpm: Some(1000),
            tpm: Some(1000),
        };
        let mut q = Quota::new(&m);
        assert!(q.admit(0.0, 600.0));
        assert!(!q.admit(0.0, 600.0), "token quota exhausted");
        assert!(q.admit(0.0, 300.0));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let spec = RetrySpec {
            max_retries: 5,
            initial_backoff: Seconds(1.0),
            multiplier: 2.0,
            max_backoff: Seconds(5.0),
            full_jitter: false,
        };
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let waits: Vec<f64> = (0..4).map(|a| backoff(&spec, a, &mut rng)).collect();
        assert_eq!(waits, vec![1.0, 2.0, 4.0, 5.0]);
        let jittered = RetrySpec {
            full_jitter: true,
            ..spec
        };
        for a in 0..10 {
            let w = backoff(&jittered, a, &mut rng);
            assert!((0.0..=5.0).contains(&w));
        }
    }

    #[test]
    fn token_latency_adds_decode_time() {
        let m = LlmRuntime {
            latency: CallLatency::Tokens {
                ttft: Sampler::Constant(0.5),
                decode_rate: Sampler::Constant(200.0),
            },
            thinking: None,
            input_price: 0.0,
            output_price: 0.0,
            rpm: None,
            tpm: None,
        };
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let l = m.draw_latency(&mut rng, 300.0, 100.0, 1.0);
        assert!((l - 2.5).abs() < 1e-12);
        assert!((m.draw_latency(&mut rng, 300.0, 100.0, 2.0) - 5.0).abs() < 1e-12);
    }
}
