//! Runs an experiment: compiles the model, picks the warm-up, runs the replications in
//! parallel (rayon) and aggregates them; with `precision`, keeps adding batches of
//! replications until the targeted estimate's interval is narrow enough or the cap is hit.
//! Replications are independent and collected in replication order, so results do not depend
//! on the thread count. Command-line overrides are not applied here: they are
//! [`config::Overlay`](crate::config::Overlay)s, merged before validation.

use std::io::IsTerminal;
use std::sync::Mutex;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::aggregate::summarize;
use crate::budget;
use crate::config::{Experiment, PrecisionMetric, Warmup};
use crate::metrics::WindowLatencies;
use crate::results::{Inputs, PrecisionOutcome, RunOutput, Summary};
use crate::stats::mser_truncation;
use crate::system::model::Model;
use crate::system::{ReplicationResult, run_replication};

/// Replication index of the pilot run that picks `warmup: auto` (distinct from real ones).
const PILOT_REPLICATION: u32 = u32::MAX;

/// An experiment ready to replicate: its compiled model and the warm-up chosen for it.
pub struct Prepared<'e> {
    experiment: &'e Experiment,
    model: Model,
    warmup: f64,
}

/// Compiles `e` and picks its warm-up (running the MSER-5 pilot for `warmup: auto`).
pub fn prepare(e: &Experiment) -> anyhow::Result<Prepared<'_>> {
    let model = Model::build(e)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("experiment `{}` could not be compiled", e.name))?;
    let warmup = match e.warmup {
        Warmup::Fixed(w) => w.0,
        Warmup::Auto => auto_warmup(e, &model)?,
    };
    Ok(Prepared {
        experiment: e,
        model,
        warmup,
    })
}

impl Prepared<'_> {
    /// The experiment being run.
    pub fn experiment(&self) -> &Experiment {
        self.experiment
    }

    /// Runs replication `r` (replications are independent: any order, any thread); returns
    /// what it measured and, apart, its latency histograms for the run's pool.
    pub fn replicate(&self, r: u32) -> anyhow::Result<(ReplicationResult, WindowLatencies)> {
        run_replication(&self.model, r, self.warmup)
            .with_context(|| format!("experiment `{}` stopped early", self.experiment.name))
    }

    /// Replications `from..to` in parallel, in replication order, their latency histograms
    /// added to `pooled` as each ends and then dropped; `done` is called after each.
    fn replicate_range(
        &self,
        from: u32,
        to: u32,
        pooled: &Mutex<WindowLatencies>,
        done: &(dyn Fn() + Sync),
    ) -> anyhow::Result<Vec<ReplicationResult>> {
        (from..to)
            .into_par_iter()
            .map(|r| {
                let result = self.replicate(r).map(|(result, latencies)| {
                    pooled
                        .lock()
                        .expect("no worker panics holding the pool")
                        .add(&latencies);
                    result
                });
                done();
                result
            })
            .collect()
    }

    /// Aggregates replications `0..n` (in order) and their latency histograms `pooled`; with
    /// `precision`, first adds batches of replications until the target or the cap is
    /// reached, calling `more` with the new total before each batch and `done` after each
    /// replication.
    pub fn finish(
        &self,
        mut reps: Vec<ReplicationResult>,
        pooled: WindowLatencies,
        more: &dyn Fn(u32),
        done: &(dyn Fn() + Sync),
    ) -> anyhow::Result<RunOutput> {
        let e = self.experiment;
        let pooled = Mutex::new(pooled);
        let summarize = |reps: &[ReplicationResult], pooled: &Mutex<WindowLatencies>| {
            let pooled = pooled.lock().expect("no worker panics holding the pool");
            summarize(&self.model, reps, &pooled, self.warmup, Inputs::of(e))
        };
        let mut output = summarize(&reps, &pooled);
        if let Some(rule) = &e.precision {
            let (target, metric, cap) = rule.rule();
            let step = e.replications.max(2);
            loop {
                let achieved = relative_half_width(&output.summary, metric);
                let met = achieved <= target;
                let n = reps.len() as u32;
                if met || n >= cap {
                    output.summary.precision = Some(PrecisionOutcome {
                        metric,
                        target,
                        achieved,
                        met,
                    });
                    break;
                }
                let next = (n + step).min(cap);
                more(next);
                reps.extend(self.replicate_range(n, next, &pooled, done)?);
                output = summarize(&reps, &pooled);
            }
        }
        Ok(output)
    }
}

/// Runs every replication and aggregates; shows a progress bar when `progress` is set and
/// stderr is a terminal.
pub fn run(e: &Experiment, progress: bool) -> anyhow::Result<RunOutput> {
    let prepared = prepare(e)?;
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(u64::from(e.replications));
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} replications, {elapsed}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(progress_message(e));
        bar
    });
    let done = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let more = |total: u32| {
        if let Some(b) = &bar {
            b.set_length(u64::from(total));
        }
    };
    let pooled = Mutex::new(WindowLatencies::new());
    let reps = prepared.replicate_range(0, e.replications, &pooled, &done)?;
    let pooled = pooled.into_inner().expect("no worker panicked");
    let output = prepared.finish(reps, pooled, &more, &done)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(output)
}

/// The progress line's label: the experiment's name, and for a long run its estimated need.
fn progress_message(e: &Experiment) -> String {
    let estimate = budget::estimate(e, rayon::current_num_threads());
    if estimate.events > budget::LONG_RUN_EVENTS {
        format!("{} ({estimate})", e.name)
    } else {
        e.name.clone()
    }
}

/// Relative 95 % half-width of the targeted estimate (infinite while unknown).
fn relative_half_width(s: &Summary, metric: PrecisionMetric) -> f64 {
    let e = match metric {
        PrecisionMetric::TurnMean => s.turn_latency_s.mean,
        PrecisionMetric::TurnP50 => s.turn_latency_s.p50,
        PrecisionMetric::TurnP95 => s.turn_latency_s.p95,
        PrecisionMetric::TurnP99 => s.turn_latency_s.p99,
        PrecisionMetric::SessionStartP95 => s.session_start_latency_s.p95,
        PrecisionMetric::CostPerDay => s.cost_usd.per_day,
    };
    let r = e.half_width() / e.value.abs();
    if r.is_finite() { r } else { f64::INFINITY }
}

/// MSER-5 on the turn-latency series of a pilot replication; the cut is a whole number of
/// time-series buckets, at most half the horizon.
fn auto_warmup(e: &Experiment, model: &Model) -> anyhow::Result<f64> {
    let (pilot, _) = run_replication(model, PILOT_REPLICATION, 0.0)
        .with_context(|| format!("the warm-up pilot of `{}` stopped early", e.name))?;
    let interval = model.sample_interval;
    let (means, weights): (Vec<f64>, Vec<f64>) = pilot
        .timeseries
        .iter()
        .map(|r| {
            let n = r.turns_per_s * interval;
            if n > 0.0 && r.turn_latency_mean_s.is_finite() {
                (r.turn_latency_mean_s, n)
            } else {
                (0.0, 0.0)
            }
        })
        .unzip();
    let cut = mser_truncation(&means, &weights, true);
    Ok((cut as f64 * interval).min(e.horizon.0 / 2.0))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Overlay, load_with};

    fn phase2(sets: &[&str]) -> Experiment {
        let overlays: Vec<Overlay> = sets
            .iter()
            .map(|s| Overlay::parse_set(s).unwrap())
            .collect();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/phase2.yaml");
        load_with(&path, &overlays).expect("loads").experiment
    }

    #[test]
    fn a_long_run_shows_its_estimate_in_the_progress_line() {
        assert_eq!(progress_message(&phase2(&[])), "phase2");
        let long = progress_message(&phase2(&["horizon=3650d", "sample_interval=1d"]));
        assert!(
            long.starts_with("phase2 (about ") && long.contains("events"),
            "{long}"
        );
    }
}
