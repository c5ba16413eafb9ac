//! LLM latency as a function of output tokens: ordinary least squares of call latency on
//! output tokens, latency = intercept + slope × tokens. When the slope is positive and
//! significant (t statistic ≥ [`MIN_SLOPE_T`]) and the intercept is not negative, the latency
//! is capsim's `tokens` form: a TTFT-like part (each call's latency minus slope × its tokens,
//! fitted as a distribution) plus tokens decoded at 1 / slope tokens per second. Otherwise the
//! data does not support a token dependence and one end-to-end distribution is fitted.

use super::extract::LlmCall;

/// The slope's t statistic must reach this (about a 0.3 % two-sided level) to be used.
pub const MIN_SLOPE_T: f64 = 3.0;
/// Fewer calls with token counts than this are not regressed.
pub const MIN_CALLS: usize = 20;

/// A significant linear dependence of latency on output tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLatency {
    /// Seconds at zero output tokens (the mean TTFT-like part).
    pub intercept: f64,
    /// Seconds per output token.
    pub slope: f64,
    /// The slope's t statistic.
    pub slope_t: f64,
    /// The calls' latency minus slope × their output tokens, seconds.
    pub first_token: Vec<f64>,
}

impl TokenLatency {
    /// Output tokens per second.
    pub fn decode_rate(&self) -> f64 {
        1.0 / self.slope
    }
}

/// Regresses latency on output tokens; `None` when the data does not support it.
pub fn regress(calls: &[LlmCall]) -> Option<TokenLatency> {
    let points: Vec<(f64, f64)> = calls
        .iter()
        .filter_map(|c| c.output_tokens.map(|t| (t, c.latency)))
        .collect();
    let n = points.len();
    if n < MIN_CALLS {
        return None;
    }
    let nf = n as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residual: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let standard_error = (residual / (nf - 2.0) / sxx).sqrt();
    let slope_t = if standard_error > 0.0 {
        slope / standard_error
    } else {
        f64::INFINITY
    };
    if !(slope > 0.0 && slope_t >= MIN_SLOPE_T && intercept >= 0.0) {
        return None;
    }
    let first_token = points
        .iter()
        .map(|p| (p.1 - slope * p.0).max(0.0))
        .collect();
    Some(TokenLatency {
        intercept,
        slope,
        slope_t,
        first_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(latency: f64, tokens: f64) -> LlmCall {
        LlmCall {
            latency,
            input_tokens: None,
            output_tokens: Some(tokens),
        }
    }

    #[test]
    fn a_per_token_decode_time_is_found_and_separated_from_the_first_token() {
        // 400 ms to the first token (± a deterministic wiggle) plus 10 ms per token.
        let calls: Vec<LlmCall> = (0..200)
            .map(|i| {
                let tokens = 50.0 + (i * 37 % 300) as f64;
                call(
                    0.4 + 0.05 * ((i % 7) as f64 - 3.0) / 3.0 + 0.01 * tokens,
                    tokens,
                )
            })
            .collect();
        let fit = regress(&calls).expect("slope is significant");
        assert!(
            (fit.decode_rate() - 100.0).abs() < 2.0,
            "{}",
            fit.decode_rate()
        );
        assert!((fit.intercept - 0.4).abs() < 0.01, "{}", fit.intercept);
        let mean_first = fit.first_token.iter().sum::<f64>() / 200.0;
        assert!((mean_first - 0.4).abs() < 0.01);
    }

    #[test]
    fn latency_unrelated_to_tokens_gives_no_token_model() {
        let calls: Vec<LlmCall> = (0..200)
            .map(|i| call(1.0 + ((i * 13 % 11) as f64) / 10.0, (i * 7 % 17) as f64))
            .collect();
        assert!(regress(&calls).is_none());
        assert!(regress(&calls[..5]).is_none());
    }
}
