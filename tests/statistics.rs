//! Statistical procedures end to end: sequential stopping on a precision target.

use std::path::Path;

use capsim::config::Overlay;
use capsim::config::{self, Precision, PrecisionMetric};
use capsim::runner;
use capsim::units::{Fraction, Seconds};

fn mm1() -> capsim::config::Experiment {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/validation/mmc-1-0.5.yaml");
    let overlays = [
        Overlay::seed(3),
        Overlay::replications(3),
        Overlay::horizon(2_000.0),
    ];
    let mut e = config::load_with(&path, &overlays)
        .expect("loads")
        .experiment;
    e.warmup = config::Warmup::Fixed(Seconds(100.0));
    e
}

#[test]
fn precision_adds_replications_until_the_interval_is_narrow_enough() {
    let mut e = mm1();
    e.precision = Some(Precision::Rule {
        target: Fraction(0.03),
        metric: PrecisionMetric::TurnMean,
        max_replications: 60,
    });
    let out = runner::run(&e, false).expect("runs");
    let s = &out.summary;
    let p = s.precision.as_ref().expect("outcome reported");
    assert!(s.replications > 3, "needed more than the initial 3");
    assert!(p.met && p.achieved <= 0.03, "{p:?}");
    let rel = s.turn_latency_s.mean.half_width() / s.turn_latency_s.mean.value;
    assert!((rel - p.achieved).abs() < 1e-12);
    // Stopping is as early as the batches allow: one batch fewer would not have been enough.
    let mut fewer = e.clone();
    fewer.precision = None;
    fewer.replications = s.replications - 3;
    let before = runner::run(&fewer, false).expect("runs").summary;
    let rel_before = before.turn_latency_s.mean.half_width() / before.turn_latency_s.mean.value;
    assert!(rel_before > 0.03, "{rel_before}");
}

#[test]
fn precision_stops_at_the_cap_and_says_so() {
    let mut e = mm1();
    e.precision = Some(Precision::Rule {
        target: Fraction(0.0001),
        metric: PrecisionMetric::TurnP99,
        max_replications: 7,
    });
    let s = runner::run(&e, false).expect("runs").summary;
    let p = s.precision.expect("outcome reported");
    assert_eq!(s.replications, 7);
    assert!(!p.met && p.achieved > 0.0001);
    assert_eq!(p.metric.label(), "turn_p99");
}

#[test]
fn the_short_form_targets_turn_p95() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        format!(
            "name: p\nextends: {}\nprecision: 5%\n",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("experiments/validation/mmc-1-0.5.yaml")
                .display()
        ),
    )
    .expect("write");
    let e = config::load(&file).expect("loads").experiment;
    let (target, metric, cap) = e.precision.expect("set").rule();
    assert_eq!((target, metric, cap), (0.05, PrecisionMetric::TurnP95, 100));
}
