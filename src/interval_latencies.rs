//! Latency distributions per time-series bucket, for the over-time view.
//!
//! Each bucket of the time series keeps the latencies of the turns completed in it. A
//! replication records a bucket into one live HDR histogram of two significant digits (1 %
//! resolution), and when the bucket closes keeps only its recorded HDR buckets, `(value,
//! count)` ascending: at most one pair per turn, and at most about 2,000 however many turns
//! the bucket saw (16 bytes each). A day in one-minute buckets stays a few MB; the run's
//! budget (`budget.rs`) counts them. Buckets of different replications are pooled by adding
//! their counts bucket by bucket (exact: they share the HDR buckets), so a per-interval
//! percentile is one of the pooled distribution, not an average of percentiles.

use hdrhistogram::Histogram;

/// Significant digits of the per-interval histograms.
const DIGITS: u8 = 2;

/// Largest latency the live histogram covers before it first grows: ten seconds, in µs.
const INITIAL_MICROS: u64 = 10_000_000;

/// The live histogram of the bucket being filled.
pub fn live_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, INITIAL_MICROS, DIGITS)
        .expect("static histogram bounds are valid");
    h.auto(true);
    h
}

/// The recorded HDR buckets of one distribution: `(highest equivalent value in µs, count)`,
/// ascending in value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseLatencies(Vec<(u64, u64)>);

impl SparseLatencies {
    /// The recorded buckets of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        Self(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(_, c)| c).sum()
    }

    /// Adds `other`'s samples (a merge of two ascending lists).
    pub fn add(&mut self, other: &SparseLatencies) {
        if other.0.is_empty() {
            return;
        }
        let mut merged = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let v = (x.0, x.1 + y.1);
                    a.next();
                    b.next();
                    v
                }
                (Some(x), Some(y)) if x.0 < y.0 => *a.next().expect("peeked"),
                (Some(_), Some(_)) | (None, Some(_)) => *b.next().expect("peeked"),
                (Some(_), None) => *a.next().expect("peeked"),
                (None, None) => break,
            };
            merged.push(next);
        }
        self.0 = merged;
    }

    /// Quantile `q` in seconds, as HDR histograms define it for `q > 0` (the highest value
    /// equivalent to the sample of rank ⌈q n⌉, at least the first); NaN without samples.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (value, count) in &self.0 {
            seen += count;
            if seen >= rank {
                return *value as f64 / 1e6;
            }
        }
        self.0.last().map_or(f64::NAN, |(v, _)| *v as f64 / 1e6)
    }
}

/// Adds the buckets of `other` to those of `pooled`, bucket by bucket.
pub fn pool(pooled: &mut Vec<SparseLatencies>, other: &[SparseLatencies]) {
    if pooled.len() < other.len() {
        pooled.resize_with(other.len(), SparseLatencies::default);
    }
    for (p, o) in pooled.iter_mut().zip(other) {
        p.add(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::record_seconds;

    fn sparse(values: &[f64]) -> SparseLatencies {
        let mut h = live_histogram();
        for v in values {
            record_seconds(&mut h, *v);
        }
        SparseLatencies::of(&h)
    }

    #[test]
    fn quantiles_are_those_of_the_hdr_histogram() {
        let values: Vec<f64> = (1..=1000).map(|i| f64::from(i) * 0.0137).collect();
        let mut h = live_histogram();
        for v in &values {
            record_seconds(&mut h, *v);
        }
        let s = SparseLatencies::of(&h);
        assert_eq!(s.count(), 1000);
        for q in [0.001, 0.01, 0.5, 0.95, 0.99, 1.0] {
            assert_eq!(
                s.quantile(q),
                h.value_at_quantile(q) as f64 / 1e6,
                "q = {q}"
            );
        }
        // Two significant digits: within 1 % of the exact order statistic.
        let exact = values[949];
        assert!((s.quantile(0.95) - exact).abs() <= 0.01 * exact);
    }

    #[test]
    fn pooling_equals_recording_everything_into_one_histogram() {
        let a: Vec<f64> = (0..300).map(|i| 0.5 + f64::from(i) * 0.01).collect();
        let b: Vec<f64> = (0..500).map(|i| 2.0 + f64::from(i) * 0.003).collect();
        let mut pooled = sparse(&a);
        pooled.add(&sparse(&b));
        let mut all = a.clone();
        all.extend(&b);
        assert_eq!(pooled, sparse(&all));
        let mut other_order = sparse(&b);
        other_order.add(&sparse(&a));
        assert_eq!(pooled, other_order);
    }

    #[test]
    fn an_empty_bucket_has_no_quantile() {
        assert!(SparseLatencies::default().quantile(0.95).is_nan());
        let mut buckets = vec![SparseLatencies::default()];
        pool(
            &mut buckets,
            &[SparseLatencies::default(), sparse(&[1.0, 2.0])],
        );
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[1].count(), 2);
        let median = buckets[1].quantile(0.5);
        assert!((1.0..1.01).contains(&median), "{median}");
    }
}
