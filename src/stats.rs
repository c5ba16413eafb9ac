//! Replication statistics: point estimates with confidence intervals and warm-up truncation.
//!
//! * [`Estimate::from_replications`] turns one value per independent replication into a mean
//!   with a Student-t 95 % interval (the replications are iid, so the classic interval is
//!   exact for normal data and asymptotically right otherwise).
//! * [`mser_truncation`] picks the warm-up period to delete from a time-ordered series with
//!   the MSER (marginal standard error) rule, optionally in its MSER-5 form.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde::{Deserialize, Deserializer};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A point estimate with a two-sided 95 % confidence interval.
///
/// An unknown bound (fewer than two replications) is NaN and serialises as `null`:
/// `{"value": 2.41, "ci95": [2.30, 2.52]}` or `{"value": 2.41, "ci95": [null, null]}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower and upper bounds of the 95 % confidence interval (NaN when unknown).
    pub ci95: [f64; 2],
}

impl Estimate {
    /// The estimate of `factor` times the quantity: value and interval scaled alike.
    pub fn scaled(self, factor: f64) -> Estimate {
        Estimate {
            value: self.value * factor,
            ci95: self.ci95.map(|b| b * factor),
        }
    }

    /// Mean of independent replication values with a Student-t interval (df = n − 1).
    ///
    /// With one value the interval is unknown and both bounds are NaN; with no values the
    /// value is NaN as well. Non-finite inputs propagate into the result.
    pub fn from_replications(values: &[f64]) -> Estimate {
        let n = values.len();
        if n == 0 {
            return Estimate {
                value: f64::NAN,
                ci95: [f64::NAN; 2],
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Estimate {
                value: mean,
                ci95: [f64::NAN; 2],
            };
        }
        let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let std_err = (ss / (n - 1) as f64 / n as f64).sqrt();
        let half = t_critical_95(n - 1) * std_err;
        Estimate {
            value: mean,
            ci95: [mean - half, mean + half],
        }
    }

    /// Half the width of the interval (NaN when the interval is unknown).
    pub fn half_width(&self) -> f64 {
        0.5 * (self.ci95[1] - self.ci95[0])
    }

    /// Whether `x` lies inside the closed interval (false when the interval is unknown).
    pub fn contains(&self, x: f64) -> bool {
        self.ci95[0] <= x && x <= self.ci95[1]
    }
}

impl Serialize for Estimate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let finite = |x: f64| x.is_finite().then_some(x);
        let mut s = serializer.serialize_struct("Estimate", 2)?;
        s.serialize_field("value", &finite(self.value))?;
        s.serialize_field("ci95", &[finite(self.ci95[0]), finite(self.ci95[1])])?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for Estimate {
    /// Reads what [`Serialize`] writes: `null` (an unknown or infinite value) becomes NaN.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Estimate, D::Error> {
        #[derive(Deserialize)]
        struct Written {
            value: Option<f64>,
            ci95: [Option<f64>; 2],
        }
        let w = Written::deserialize(deserializer)?;
        let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
        Ok(Estimate {
            value: nan(w.value),
            ci95: [nan(w.ci95[0]), nan(w.ci95[1])],
        })
    }
}

/// Student-t 95 % two-sided critical value (the 0.975 quantile) for `df` degrees of freedom.
///
/// Returns NaN for `df == 0`.
pub fn t_critical_95(df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(t) if df > 0 => t.inverse_cdf(0.975),
        _ => f64::NAN,
    }
}

/// MSER truncation point for a time-ordered series of batch means.
///
/// `means[i]` is the mean of `weights[i]` raw observations; entries whose weight is not
/// positive and finite, or whose mean is not finite, are ignored (pairs beyond the shorter
/// slice too). With `batch_of_five` consecutive entries are first merged into groups of five
/// (weighted means, the last group possibly shorter): the MSER-5 rule.
///
/// For each candidate d in `0..=m/2` (m = number of units, i.e. entries or groups) the rule
/// computes the squared standard error of the mean of the units that remain,
/// Σ w (x − x̄)² / (Σ w)², and picks the smallest d minimising it. The result is the number of
/// leading *input entries* to delete (a multiple of five, up to zero-weight entries, when
/// `batch_of_five` is set); 0 when fewer than two units carry weight.
///
/// References: K. P. White Jr., "An effective truncation heuristic for bias reduction in
/// simulation output", Simulation 69(6), 1997; W. Franklin and K. P. White Jr., "Stationarity
/// tests and MSER-5: exploring the intuition behind mean-squared-error-reduction in warm-up
/// period determination", Proc. Winter Simulation Conference, 2008.
pub fn mser_truncation(means: &[f64], weights: &[f64], batch_of_five: bool) -> usize {
    // Units to test: (weighted mean, weight, input index just past the unit).
    let group = if batch_of_five { 5 } else { 1 };
    let mut units: Vec<(f64, f64, usize)> = Vec::new();
    let n = means.len().min(weights.len());
    for start in (0..n).step_by(group) {
        let end = (start + group).min(n);
        let (mut sum_w, mut sum_wx) = (0.0, 0.0);
        for (&x, &w) in means[start..end].iter().zip(&weights[start..end]) {
            if w > 0.0 && w.is_finite() && x.is_finite() {
                sum_w += w;
                sum_wx += w * x;
            }
        }
        if sum_w > 0.0 {
            units.push((sum_wx / sum_w, sum_w, end));
        }
    }
    let m = units.len();
    if m < 2 {
        return 0;
    }
    // Weighted Welford accumulation from the end, so that after adding unit d the
    // accumulators describe units d..m.
    let (mut w_tot, mut mean, mut sse) = (0.0, 0.0, 0.0);
    let mut best = (f64::INFINITY, 0);
    for d in (0..m).rev() {
        let (x, w, _) = units[d];
        w_tot += w;
        let delta = x - mean;
        mean += delta * w / w_tot;
        sse += w * delta * (x - mean);
        if d <= m / 2 {
            let stat = sse.max(0.0) / (w_tot * w_tot);
            if stat <= best.0 {
                best = (stat, d);
            }
        }
    }
    match best.1 {
        0 => 0,
        d => units[d - 1].2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn t_critical_values() {
        assert!((t_critical_95(1) - 12.706).abs() < 1e-3);
        assert!((t_critical_95(4) - 2.776).abs() < 1e-3);
        assert!((t_critical_95(9) - 2.262).abs() < 1e-3);
        assert!((t_critical_95(1000) - 1.962).abs() < 1e-3);
        assert!(t_critical_95(0).is_nan());
    }

    #[test]
    fn estimate_from_known_vector() {
        // mean 5, squared deviations sum to 32, s² = 32/7, se = sqrt(32/7/8) = sqrt(4/7).
        let e = Estimate::from_replications(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        let t7 = 2.364_624_251_592_785; // t_{0.975, 7}
        let half = t7 * (4.0f64 / 7.0).sqrt();
        assert!((e.value - 5.0).abs() < 1e-12);
        assert!((e.half_width() - half).abs() < 1e-9);
        assert!((e.ci95[0] - 3.212_5).abs() < 1e-3);
        assert!((e.ci95[1] - 6.787_5).abs() < 1e-3);
        assert!(e.contains(5.0) && e.contains(3.3) && !e.contains(6.8) && !e.contains(3.2));
    }

    #[test]
    fn estimate_degenerate_inputs() {
        let one = Estimate::from_replications(&[2.5]);
        assert_eq!(one.value, 2.5);
        assert!(one.ci95[0].is_nan() && one.ci95[1].is_nan());
        assert!(one.half_width().is_nan());
        assert!(!one.contains(2.5));
        assert!(Estimate::from_replications(&[]).value.is_nan());
        let same = Estimate::from_replications(&[3.0, 3.0, 3.0]);
        assert_eq!(same.ci95, [3.0, 3.0]);
    }

    #[test]
    fn estimate_serialises_with_null_for_unknown_bounds() {
        let known = Estimate {
            value: 2.41,
            ci95: [2.3, 2.52],
        };
        assert_eq!(
            serde_json::to_string(&known).unwrap(),
            r#"{"value":2.41,"ci95":[2.3,2.52]}"#
        );
        let unknown = Estimate::from_replications(&[2.41]);
        assert_eq!(
            serde_json::to_string(&unknown).unwrap(),
            r#"{"value":2.41,"ci95":[null,null]}"#
        );
    }

    #[test]
    fn student_interval_has_nominal_coverage() {
        let mut rng = Pcg64Mcg::seed_from_u64(20_240_611);
        let (true_mean, sd) = (10.0, 3.0);
        let sets = 2000;
        let mut covered = 0;
        for _ in 0..sets {
            let sample: Vec<f64> = (0..10)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    true_mean + sd * z
                })
                .collect();
            if Estimate::from_replications(&sample).contains(true_mean) {
                covered += 1;
            }
        }
        let coverage = covered as f64 / sets as f64;
        assert!((0.93..=0.97).contains(&coverage), "coverage {coverage}");
    }

    fn normal_series(rng: &mut Pcg64Mcg, len: usize, mean: f64) -> Vec<f64> {
        (0..len)
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                mean + z
            })
            .collect()
    }

    /// 20 values around 8 followed by 200 around 0, all with unit noise.
    fn transient_series(seed: u64) -> Vec<f64> {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let mut series = normal_series(&mut rng, 20, 8.0);
        series.extend(normal_series(&mut rng, 200, 0.0));
        series
    }

    fn median(mut xs: Vec<usize>) -> usize {
        xs.sort_unstable();
        xs[xs.len() / 2]
    }

    #[test]
    fn mser_finds_initial_transient() {
        let ones = vec![1.0; 220];
        let series = transient_series(7);
        let d = mser_truncation(&series, &ones, false);
        assert!((15..=30).contains(&d), "MSER truncation {d}");
        let d5 = mser_truncation(&series, &ones, true);
        assert!((15..=30).contains(&d5), "MSER-5 truncation {d5}");
        assert_eq!(d5 % 5, 0);
        // Over many series: MSER is nearly always right; MSER-5, with only 44 groups left to
        // judge by, now and then cuts too much, but usually lands on the transient as well.
        let (mut all, mut all5) = (Vec::new(), Vec::new());
        for seed in 0..100 {
            let series = transient_series(1000 + seed);
            all.push(mser_truncation(&series, &ones, false));
            all5.push(mser_truncation(&series, &ones, true));
        }
        let hits = |v: &[usize]| v.iter().filter(|d| (15..=30).contains(*d)).count();
        assert!(hits(&all) >= 95, "MSER in range for {} of 100", hits(&all));
        assert!(
            hits(&all5) >= 75,
            "MSER-5 in range for {} of 100",
            hits(&all5)
        );
        assert_eq!(median(all), 20);
        assert_eq!(median(all5), 20);
    }

    #[test]
    fn mser_keeps_stationary_series() {
        let ones = vec![1.0; 500];
        let (mut all, mut all5) = (Vec::new(), Vec::new());
        for seed in 0..100 {
            let mut rng = Pcg64Mcg::seed_from_u64(100 + seed);
            let series = normal_series(&mut rng, 500, 3.0);
            all.push(mser_truncation(&series, &ones, false));
            all5.push(mser_truncation(&series, &ones, true));
        }
        assert!(all.iter().all(|&d| d <= 50), "MSER {all:?}");
        let small5 = all5.iter().filter(|&&d| d <= 50).count();
        assert!(small5 >= 90, "MSER-5 {all5:?}");
        assert!(median(all) <= 5);
        assert!(median(all5) <= 10);
    }

    #[test]
    fn mser_uses_weights_and_skips_empty_batches() {
        // A heavy first batch far from the rest is cut; an empty batch in between is ignored.
        let means = [50.0, 0.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
        let weights = [10.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0];
        assert_eq!(mser_truncation(&means, &weights, false), 1);
        // With zero weight the outlier does not count at all.
        let weights = [0.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0];
        assert_eq!(mser_truncation(&means, &weights, false), 0);
        assert_eq!(mser_truncation(&[1.0], &[1.0], false), 0);
        assert_eq!(mser_truncation(&[], &[], true), 0);
    }
}
