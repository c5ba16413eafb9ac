//! Parsing, validation, drawing and quantiles of every family.

use super::*;
use crate::units::Seconds;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::Deserialize;

const N: usize = 200_000;

fn secs(yaml: &str) -> DistSpec<Seconds> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn counts(yaml: &str) -> DistSpec<Count> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn secs_err(yaml: &str) -> String {
    serde_yaml::from_str::<DistSpec<Seconds>>(yaml)
        .expect_err(yaml)
        .to_string()
}

fn counts_err(yaml: &str) -> String {
    serde_yaml::from_str::<DistSpec<Count>>(yaml)
        .expect_err(yaml)
        .to_string()
}

fn sampler_err<V: DistValue>(spec: &DistSpec<V>) -> String {
    spec.sampler().expect_err(&format!("{spec:?}")).to_string()
}

fn draws(s: &Sampler, seed: u64) -> Vec<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    (0..N).map(|_| s.sample(&mut rng)).collect()
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs
}

/// Empirical quantile of sorted draws.
fn emp_q(sorted: &[f64], p: f64) -> f64 {
    sorted[((p * sorted.len() as f64) as usize).min(sorted.len() - 1)]
}

fn assert_mean(s: &Sampler, seed: u64) {
    let xs = draws(s, seed);
    assert!(xs.iter().all(|x| *x >= 0.0 && x.is_finite()), "{s:?}");
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / n).sqrt();
    let want = s.mean();
    let tol = (0.01 * want.abs()).max(3.0 * se);
    assert!(
        (m - want).abs() <= tol,
        "{s:?}: sample mean {m} vs mean() {want} (tol {tol})"
    );
}

fn assert_round_trip<V: DistValue + PartialEq>(yaml: &str) {
    let spec: DistSpec<V> = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
    let out = serde_yaml::to_string(&spec).unwrap();
    let back: DistSpec<V> = serde_yaml::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
    assert_eq!(spec, back, "{yaml} -> {out}");
    spec.sampler().unwrap_or_else(|e| panic!("{yaml}: {e}"));
}

#[test]
fn round_trips_seconds() {
    for yaml in [
        "250ms",
        "0",
        "constant: 250ms",
        "uniform: [1s, 3s]",
        "exponential: {mean: 1s}",
        "normal: {mean: 1s, sd: 200ms}",
        "lognormal: {median: 0.45s, p95: 0.8s}",
        "lognormal: {mu: -0.8, sigma: 0.3}",
        "lognormal: {mean: 1s, cv: 0.5}",
        "gamma: {shape: 2, scale: 500ms}",
        "weibull: {shape: 1.5, scale: 1s}",
        "pareto: {scale: 100ms, shape: 2.5}",
        "empirical: {samples: [1s, 2s, 500ms]}",
        "empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}",
        "discrete: [[1s, 0.6], [2s, 0.3], [3s, 0.1]]",
        "mixture: [{weight: 0.97, dist: {lognormal: {median: 0.45s, p95: 0.8s}}}, \
         {weight: 0.03, dist: {pareto: {scale: 2s, shape: 1.5}}}]",
        "mixture: [{weight: 1, dist: 100ms}, {weight: 1, dist: {mixture: \
         [{weight: 2, dist: {uniform: [1s, 2s]}}, {weight: 1, dist: 3s}]}}]",
        "shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}",
        "shifted: {shift: 1m, dist: {shifted: {shift: 2m 30s, dist: 1h}}}",
    ] {
        assert_round_trip::<Seconds>(yaml);
    }
}

#[test]
fn round_trips_counts() {
    for yaml in [
        "400",
        "2.5",
        "constant: 400",
        "uniform: [1, 5]",
        "exponential: {mean: 300}",
        "normal: {mean: 400, sd: 100}",
        "lognormal: {median: 400, p95: 1200}",
        "lognormal: {mu: 6, sigma: 0.7}",
        "lognormal: {mean: 500, cv: 1.2}",
        "gamma: {shape: 3, scale: 100}",
        "weibull: {shape: 0.8, scale: 50}",
        "pareto: {scale: 10, shape: 1.2}",
        "empirical: {samples: [1, 2, 3, 10]}",
        "empirical: {quantiles: [[0, 10], [0.5, 100], [1, 4000]]}",
        "discrete: [[1, 0.6], [2, 0.3], [3, 0.1]]",
        "mixture: [{weight: 3, dist: 1}, {weight: 1, dist: {exponential: {mean: 4}}}]",
        "shifted: {shift: 50, dist: {lognormal: {mean: 300, cv: 0.5}}}",
    ] {
        assert_round_trip::<Count>(yaml);
    }
}

#[test]
fn parses_to_expected_values() {
    assert_eq!(secs("250ms"), DistSpec::Constant(Seconds(0.25)));
    assert_eq!(secs("constant: 250ms"), DistSpec::Constant(Seconds(0.25)));
    assert_eq!(counts("400"), DistSpec::Constant(Count(400.0)));
    assert_eq!(
        secs("lognormal: {median: 0.45s, p95: 0.8s}"),
        DistSpec::Lognormal(LognormalSpec::MedianP95 {
            median: Seconds(0.45),
            p95: Seconds(0.8)
        })
    );
    assert_eq!(
        secs("shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}"),
        DistSpec::Shifted {
            shift: Seconds(0.1),
            dist: Box::new(DistSpec::Exponential { mean: Seconds(1.0) })
        }
    );
    assert_eq!(
        counts("discrete: [[1, 0.6], [2, 0.4]]"),
        DistSpec::Discrete(vec![(Count(1.0), 0.6), (Count(2.0), 0.4)])
    );
    // Serialized form is the readable one-key map, with units kept.
    let out = serde_yaml::to_string(&secs("exponential: {mean: 1s}")).unwrap();
    assert_eq!(out.trim(), "exponential:\n  mean: 1s");
    let out = serde_yaml::to_string(&secs("250ms")).unwrap();
    assert_eq!(out.trim(), "250ms");
    let out = serde_yaml::to_string(&counts("lognormal: {median: 400, p95: 1200}")).unwrap();
    assert_eq!(out.trim(), "lognormal:\n  median: 400\n  p95: 1200");
    // Works inside a struct field, the way model files use it.
    #[derive(Deserialize)]
    struct Step {
        latency: DistSpec<Seconds>,
        tokens: DistSpec<Count>,
    }
    let step: Step = serde_yaml::from_str("latency: 250ms\ntokens: 400\n").unwrap();
    assert_eq!(step.latency, DistSpec::Constant(Seconds(0.25)));
    assert_eq!(step.tokens, DistSpec::Constant(Count(400.0)));
    // And through serde's buffered (untagged) path.
    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(untagged)]
    enum Either {
        Dist(DistSpec<Seconds>),
        Other(Vec<u8>),
    }
    let e: Either = serde_yaml::from_str("lognormal: {mean: 1s, cv: 0.5}").unwrap();
    assert_eq!(
        e,
        Either::Dist(DistSpec::Lognormal(LognormalSpec::MeanCv {
            mean: Seconds(1.0),
            cv: 0.5
        }))
    );
}

#[test]
fn rejects_bad_yaml() {
    let e = secs_err("3");
    assert!(e.contains("a duration needs a unit"), "{e}");
    let e = secs_err("exponential: {mean: 3}");
    assert!(
        e.contains("a duration needs a unit") && e.contains("(got 3)"),
        "{e}"
    );
    let e = secs_err("uniform: [1s, 3]");
    assert!(e.contains("a duration needs a unit"), "{e}");
    let e = counts_err("\"3s\"");
    assert!(e.contains("plain number") && e.contains("\"3s\""), "{e}");
    let e = counts_err("exponential: {mean: 3s}");
    assert!(e.contains("plain number") && e.contains("\"3s\""), "{e}");
    let e = secs_err("expo: {mean: 1s}");
    assert!(e.contains("unknown distribution family `expo`"), "{e}");
    let e = secs_err("{exponential: {mean: 1s}, normal: {mean: 1s, sd: 1s}}");
    assert!(e.contains("names one family"), "{e}");
    let e = secs_err("{}");
    assert!(e.contains("empty distribution map"), "{e}");
    let e = secs_err("exponential: {meen: 1s}");
    assert!(e.contains("unknown field `meen`"), "{e}");
    let e = secs_err("normal: {mean: 1s}");
    assert!(e.contains("missing field `sd`"), "{e}");
    let e = secs_err("lognormal: {median: 1s, sigma: 0.3}");
    assert!(
        e.contains("exactly one pair") && e.contains("{median, sigma}"),
        "{e}"
    );
    let e = secs_err("empirical: {}");
    assert!(e.contains("exactly one of"), "{e}");
    let e = secs_err("uniform: [1s, 2s, 3s]");
    assert!(e.contains("invalid length"), "{e}");
    let e = secs_err("[1s]");
    assert!(e.contains("a distribution"), "{e}");
    let e = secs_err("mixture: [{weight: 1, dist: 1s, extra: 2}]");
    assert!(e.contains("unknown field `extra`"), "{e}");
}

#[test]
fn rejects_bad_parameters() {
    let e = sampler_err(&secs("lognormal: {median: 0.8s, p95: 0.45s}"));
    assert_eq!(
        e,
        "lognormal: p95 (450ms) must be greater than median (800ms)"
    );
    let e = sampler_err(&counts("exponential: {mean: -1}"));
    assert_eq!(e, "exponential: mean must be > 0 (got -1)");
    let e = sampler_err(&counts("normal: {mean: 1, sd: 0}"));
    assert_eq!(e, "normal: sd must be > 0 (got 0)");
    let e = sampler_err(&counts("lognormal: {mean: 10, cv: -1}"));
    assert_eq!(e, "lognormal: cv must be > 0 (got -1)");
    let e = sampler_err(&counts("lognormal: {mu: 1, sigma: 0}"));
    assert_eq!(e, "lognormal: sigma must be > 0 (got 0)");
    let e = sampler_err(&secs("gamma: {shape: 0, scale: 1s}"));
    assert_eq!(e, "gamma: shape must be > 0 (got 0)");
    let e = sampler_err(&secs("weibull: {shape: 1, scale: 0s}"));
    assert_eq!(e, "weibull: scale must be > 0 (got 0s)");
    let e = sampler_err(&secs("pareto: {scale: 1s, shape: -2}"));
    assert_eq!(e, "pareto: shape must be > 0 (got -2)");
    let e = sampler_err(&secs("uniform: [3s, 1s]"));
    assert_eq!(
        e,
        "uniform: upper bound (1s) must not be below lower bound (3s)"
    );
    let e = sampler_err(&counts("constant: -2"));
    assert_eq!(e, "constant: value must be >= 0 (got -2)");
    let e = sampler_err(&secs(
        "mixture: [{weight: 0, dist: 1s}, {weight: 0, dist: 2s}]",
    ));
    assert_eq!(e, "mixture: weights must sum to more than 0");
    let e = sampler_err(&secs("mixture: [{weight: -1, dist: 1s}]"));
    assert_eq!(e, "mixture: weight 1 must be >= 0 (got -1)");
    let e = sampler_err(&secs("mixture: []"));
    assert_eq!(e, "mixture: needs at least one entry");
    let e = sampler_err(&secs(
        "mixture: [{weight: 1, dist: {exponential: {mean: 0s}}}]",
    ));
    assert_eq!(
        e,
        "mixture component 1: exponential: mean must be > 0 (got 0s)"
    );
    let e = sampler_err(&counts("discrete: [[1, 0], [2, 0]]"));
    assert_eq!(e, "discrete: weights must sum to more than 0");
    let e = sampler_err(&counts("discrete: [[-1, 1]]"));
    assert_eq!(e, "discrete: value 1 must be >= 0 (got -1)");
    let e = sampler_err(&secs("empirical: {quantiles: [[0.1, 1s], [1, 2s]]}"));
    assert_eq!(
        e,
        "empirical: the quantile table must start at p = 0 (starts at 0.1)"
    );
    let e = sampler_err(&secs("empirical: {quantiles: [[0, 1s], [0.9, 2s]]}"));
    assert_eq!(
        e,
        "empirical: the quantile table must end at p = 1 (ends at 0.9)"
    );
    let e = sampler_err(&secs(
        "empirical: {quantiles: [[0, 1s], [0.5, 2s], [0.5, 3s], [1, 4s]]}",
    ));
    assert!(
        e.starts_with("empirical: quantile probabilities must increase (entry 3"),
        "{e}"
    );
    let e = sampler_err(&secs(
        "empirical: {quantiles: [[0, 1s], [0.5, 3s], [1, 2s]]}",
    ));
    assert!(
        e.starts_with("empirical: quantile values must not decrease (entry 3"),
        "{e}"
    );
    let e = sampler_err(&secs("empirical: {quantiles: [[0, 1s]]}"));
    assert!(e.contains("at least two"), "{e}");
    let e = sampler_err(&secs("empirical: {samples: []}"));
    assert_eq!(e, "empirical: samples must not be empty");
    let e = sampler_err(&counts("shifted: {shift: -1, dist: 3}"));
    assert_eq!(e, "shifted: shift must be >= 0 (got -1)");
    let e = sampler_err(&counts(
        "shifted: {shift: 1, dist: {exponential: {mean: 0}}}",
    ));
    assert_eq!(e, "shifted: exponential: mean must be > 0 (got 0)");
}

#[test]
fn sample_means_match_mean() {
    let specs_s = [
        "250ms",
        "uniform: [1s, 3s]",
        "exponential: {mean: 1s}",
        "normal: {mean: 1s, sd: 200ms}",
        "normal: {mean: 0.5s, sd: 1s}",
        "lognormal: {median: 0.45s, p95: 0.8s}",
        "lognormal: {mu: -0.8, sigma: 0.3}",
        "lognormal: {mean: 1s, cv: 0.5}",
        "gamma: {shape: 2, scale: 500ms}",
        "gamma: {shape: 0.4, scale: 2s}",
        "weibull: {shape: 1.5, scale: 1s}",
        "weibull: {shape: 0.7, scale: 1s}",
        "pareto: {scale: 100ms, shape: 3.5}",
        "empirical: {samples: [1s, 2s, 500ms, 7s]}",
        "empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}",
        "discrete: [[1s, 0.6], [2s, 0.3], [3s, 0.1]]",
        "mixture: [{weight: 0.97, dist: {lognormal: {median: 0.45s, p95: 0.8s}}}, \
         {weight: 0.03, dist: {exponential: {mean: 5s}}}]",
        "shifted: {shift: 100ms, dist: {exponential: {mean: 1s}}}",
    ];
    for (i, yaml) in specs_s.iter().enumerate() {
        assert_mean(&secs(yaml).sampler().unwrap(), 1000 + i as u64);
    }
    for (i, yaml) in ["lognormal: {median: 400, p95: 1200}", "uniform: [10, 20]"]
        .iter()
        .enumerate()
    {
        assert_mean(&counts(yaml).sampler().unwrap(), 2000 + i as u64);
    }
    let heavy = secs("pareto: {scale: 1s, shape: 1}").sampler().unwrap();
    assert_eq!(heavy.mean(), f64::INFINITY);
}

#[test]
fn analytic_means() {
    let m = |y: &str| secs(y).sampler().unwrap().mean();
    assert!((m("lognormal: {mean: 1s, cv: 0.5}") - 1.0).abs() < 1e-12);
    assert!((m("weibull: {shape: 1, scale: 2s}") - 2.0).abs() < 1e-9);
    assert!((m("pareto: {scale: 1s, shape: 2}") - 2.0).abs() < 1e-12);
    assert!((m("empirical: {quantiles: [[0, 0s], [1, 2s]]}") - 1.0).abs() < 1e-12);
    assert!((m("discrete: [[1s, 1], [3s, 1]]") - 2.0).abs() < 1e-12);
    assert!((m("normal: {mean: 0s, sd: 1s}") - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-9);
}

#[test]
fn lognormal_p95() {
    let s = secs("lognormal: {median: 0.45s, p95: 0.8s}")
        .sampler()
        .unwrap();
    assert!((s.quantile(0.95).unwrap() - 0.8).abs() < 1e-9);
    assert!((s.quantile(0.5).unwrap() - 0.45).abs() < 1e-9);
    let xs = sorted(draws(&s, 7));
    let p95 = emp_q(&xs, 0.95);
    assert!((p95 / 0.8 - 1.0).abs() < 0.02, "empirical p95 {p95}");
    let p50 = emp_q(&xs, 0.5);
    assert!((p50 / 0.45 - 1.0).abs() < 0.02, "empirical p50 {p50}");
}

#[test]
fn quantiles_match_draws() {
    for (i, yaml) in [
        "uniform: [1s, 3s]",
        "exponential: {mean: 1s}",
        "normal: {mean: 0.5s, sd: 1s}",
        "gamma: {shape: 2, scale: 500ms}",
        "weibull: {shape: 1.5, scale: 1s}",
        "pareto: {scale: 100ms, shape: 2.5}",
        "empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}",
        "mixture: [{weight: 0.9, dist: {exponential: {mean: 1s}}}, \
         {weight: 0.1, dist: {uniform: [5s, 10s]}}]",
        "shifted: {shift: 1s, dist: {lognormal: {mean: 1s, cv: 1}}}",
    ]
    .iter()
    .enumerate()
    {
        let s = secs(yaml).sampler().unwrap();
        let xs = sorted(draws(&s, 3000 + i as u64));
        for p in [0.1, 0.5, 0.9, 0.99] {
            let want = s.quantile(p).unwrap();
            let got = emp_q(&xs, p);
            // The empirical quantile's CDF level is within 4 standard errors of p.
            let level = s.cdf(got);
            let se = (p * (1.0 - p) / N as f64).sqrt();
            assert!(
                (level - p).abs() < 4.0 * se + 1.0 / N as f64,
                "{yaml} p{p}: analytic {want} vs empirical {got} (cdf {level})"
            );
            assert!(
                (s.cdf(want) - p).abs() < 1e-6,
                "{yaml}: cdf(q({p})) = {}",
                s.cdf(want)
            );
        }
    }
}

#[test]
fn quantile_edges() {
    let s = secs("uniform: [1s, 3s]").sampler().unwrap();
    assert_eq!(s.quantile(-0.1), None);
    assert_eq!(s.quantile(1.1), None);
    assert_eq!(s.quantile(0.0), Some(1.0));
    assert_eq!(s.quantile(1.0), Some(3.0));
    let d = counts("discrete: [[3, 0.1], [1, 0.6], [2, 0.3]]")
        .sampler()
        .unwrap();
    assert_eq!(d.quantile(0.0), Some(1.0));
    assert_eq!(d.quantile(0.5), Some(1.0));
    assert_eq!(d.quantile(0.8), Some(2.0));
    assert_eq!(d.quantile(0.95), Some(3.0));
    let e = counts("empirical: {samples: [4, 1, 3, 2]}")
        .sampler()
        .unwrap();
    assert_eq!(e.quantile(0.0), Some(1.0));
    assert_eq!(e.quantile(0.5), Some(2.0));
    assert_eq!(e.quantile(0.75), Some(3.0));
    assert_eq!(e.quantile(1.0), Some(4.0));
    let m = counts("mixture: [{weight: 1, dist: 1}, {weight: 3, dist: 5}]")
        .sampler()
        .unwrap();
    assert!((m.quantile(0.2).unwrap() - 1.0).abs() < 1e-9);
    assert!((m.quantile(0.3).unwrap() - 5.0).abs() < 1e-9);
    assert_eq!(m.quantile(1.0), Some(5.0));
    assert_eq!(Sampler::Constant(2.5).quantile(0.3), Some(2.5));
    assert_eq!(Sampler::Constant(2.5).mean(), 2.5);
}

#[test]
fn mixture_weight_fractions() {
    let s = counts(
        "mixture: [{weight: 0.97, dist: 1}, {weight: 0.02, dist: 10}, {weight: 0.01, dist: 100}]",
    )
    .sampler()
    .unwrap();
    let xs = draws(&s, 11);
    for (value, w) in [(1.0, 0.97), (10.0, 0.02), (100.0, 0.01)] {
        let frac = xs.iter().filter(|x| **x == value).count() as f64 / N as f64;
        let se = (w * (1.0 - w) / N as f64).sqrt();
        assert!((frac - w).abs() < 4.0 * se, "value {value}: {frac} vs {w}");
    }
}

#[test]
fn discrete_frequencies() {
    // Unnormalised weights, listed out of order, with a zero-weight value.
    let s = counts("discrete: [[3, 1], [1, 6], [7, 0], [2, 3]]")
        .sampler()
        .unwrap();
    let xs = draws(&s, 12);
    assert!(!xs.contains(&7.0));
    for (value, w) in [(1.0, 0.6), (2.0, 0.3), (3.0, 0.1)] {
        let frac = xs.iter().filter(|x| **x == value).count() as f64 / N as f64;
        let se = (w * (1.0 - w) / N as f64).sqrt();
        assert!((frac - w).abs() < 4.0 * se, "value {value}: {frac} vs {w}");
    }
}

#[test]
fn empirical_quantile_table_median() {
    let s = secs("empirical: {quantiles: [[0.0, 0.2s], [0.5, 1s], [0.95, 3s], [1.0, 6s]]}")
        .sampler()
        .unwrap();
    let xs = sorted(draws(&s, 13));
    let median = emp_q(&xs, 0.5);
    assert!((median - 1.0).abs() < 0.02, "median {median}");
    let p95 = emp_q(&xs, 0.95);
    assert!((p95 - 3.0).abs() < 0.06, "p95 {p95}");
    assert!(xs[0] >= 0.2 && xs[N - 1] <= 6.0);
}

#[test]
fn empirical_samples_resampled_uniformly() {
    let s = secs("empirical: {samples: [1s, 2s, 2s, 5s]}")
        .sampler()
        .unwrap();
    let xs = draws(&s, 14);
    let frac2 = xs.iter().filter(|x| **x == 2.0).count() as f64 / N as f64;
    let se = (0.25 / N as f64).sqrt();
    assert!((frac2 - 0.5).abs() < 4.0 * se, "{frac2}");
    assert!(xs.iter().all(|x| [1.0, 2.0, 5.0].contains(x)));
}

#[test]
fn samples_never_negative() {
    let s = counts("normal: {mean: 0, sd: 5}").sampler().unwrap();
    let xs = draws(&s, 15);
    assert!(xs.iter().all(|x| *x >= 0.0));
    // Resampling (not clamping): essentially no mass exactly at 0.
    assert!(xs.iter().filter(|x| **x == 0.0).count() < 5);
}

#[test]
fn errors_are_typed_and_nest() {
    assert_eq!(
        secs("normal: {mean: 1s, sd: 0s}").sampler().unwrap_err(),
        DistError::OutOfRange {
            family: "normal",
            param: "sd".into(),
            bound: Bound::Positive,
            got: "0s".into(),
        }
    );
    let nested = secs(
        "mixture: [{weight: 1, dist: {shifted: {shift: 1s, dist: {exponential: {mean: 0s}}}}}]",
    )
    .sampler()
    .unwrap_err();
    assert!(
        matches!(&nested, DistError::MixtureComponent { index: 1, source }
            if matches!(**source, DistError::Shifted { .. })),
        "{nested:?}"
    );
    assert_eq!(
        nested.to_string(),
        "mixture component 1: shifted: exponential: mean must be > 0 (got 0s)"
    );
}
