//! The validation suite (`sim validate`) at a fifth of its size. With shorter runs the
//! intervals widen, so instead of requiring 95 % coverage of every one of ~40 checks (which
//! would fail about two by chance) each check must lie within 1 % or 1.5 confidence
//! half-widths of theory — a band that a correct simulator misses with probability well
//! under 1 % per check, while a real bias of a few percent still fails.

use std::path::Path;

use capsim::validation::{SUITE, case_files, run_all};

#[test]
fn every_case_agrees_with_theory_at_small_size() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join(SUITE);
    let checks = run_all(&suite, 0.2).expect("suite runs");
    let cases: std::collections::BTreeSet<&str> = checks.iter().map(|c| c.case.as_str()).collect();
    let files = case_files(&suite).expect("suite folder lists");
    assert_eq!(cases.len(), files.len(), "every case reports checks");
    assert_eq!(checks.len(), 43, "the shipped suite's checks");
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| {
            let half = c.simulated.half_width();
            let band = if half.is_finite() { 1.5 * half } else { 0.0 };
            let off = (c.simulated.value - c.theory).abs();
            !(c.relative_error < 0.01 || off <= band)
        })
        .map(|c| {
            format!(
                "{} {}: theory {:.4}, simulated {:.4} [{:.4}, {:.4}]",
                c.case,
                c.metric,
                c.theory,
                c.simulated.value,
                c.simulated.ci95[0],
                c.simulated.ci95[1]
            )
        })
        .collect();
    assert!(bad.is_empty(), "off theory:\n{}", bad.join("\n"));
}

#[test]
fn a_wrong_theory_value_fails_the_check() {
    // Guard against a check that cannot fail: the M/M/1 mean response is 2 s, not 2.2 s.
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join(SUITE);
    let checks = run_all(&suite, 0.2).expect("suite runs");
    let c = checks
        .iter()
        .find(|c| c.case == "mmc-1-0.5" && c.metric == "mean response (s)")
        .expect("check present");
    assert!(c.pass);
    assert!(!c.simulated.contains(2.2) && (c.simulated.value - 2.2).abs() / 2.2 > 0.01);
}
