//! Runs many experiments (a sweep's points, a file's variants) as one pool of (point,
//! replication) tasks, so every worker stays busy even when each point has few replications.
//!
//! Tasks are numbered point by point and handed to rayon as one range; each worker takes
//! contiguous stretches of it, so points finish one after another and a point's replications
//! are aggregated, and dropped, as soon as its last one is in: memory holds a few points'
//! replications, not the whole sweep's. Each replication depends only on its point's model,
//! its index and the seed, and each point aggregates its replications in index order, so the
//! results are the same for any thread count. Points share the file's seed: replication `r`
//! of every point draws from the same streams (common random numbers), so differences between
//! points are not the noise of different draws.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::checkpoint::Checkpoint;
use crate::config::Experiment;
use crate::metrics::WindowLatencies;
use crate::results::Summary;
use crate::runner::{self, Prepared};
use crate::system::ReplicationResult;

/// A point's replications as they arrive, their latency histograms pooled (from the first
/// arrival on, so points not yet started hold none).
struct Slot {
    reps: Vec<Option<ReplicationResult>>,
    pooled: Option<WindowLatencies>,
    missing: u32,
    summary: Option<Summary>,
}

/// Runs every experiment and returns their summaries in the given order. Shows a progress bar
/// (points and replications done, ETA) when `progress` is set and stderr is a terminal.
pub fn run_all(experiments: &[Experiment], progress: bool) -> anyhow::Result<Vec<Summary>> {
    run_all_with(experiments, progress, None, false)
}

/// [`run_all`], storing each finished point in `checkpoint` as it completes; with `resume`,
/// points already stored there (same version and settings) are read instead of run.
pub fn run_all_with(
    experiments: &[Experiment],
    progress: bool,
    checkpoint: Option<&Checkpoint>,
    resume: bool,
) -> anyhow::Result<Vec<Summary>> {
    let mut summaries: Vec<Option<Summary>> = experiments
        .iter()
        .map(|e| checkpoint.filter(|_| resume).and_then(|c| c.load(e)))
        .collect();
    let pending: Vec<usize> = (0..experiments.len())
        .filter(|&i| summaries[i].is_none())
        .collect();
    // Each point is compiled when its first task starts and dropped when it finishes, so
    // memory holds the models of the points in progress only.
    let prepared: Vec<RwLock<Option<Prepared>>> =
        pending.iter().map(|_| RwLock::new(None)).collect();
    let model_of = |k: usize| -> anyhow::Result<()> {
        if prepared[k]
            .read()
            .expect("no worker panics holding a model")
            .is_some()
        {
            return Ok(());
        }
        let mut slot = prepared[k]
            .write()
            .expect("no worker panics holding a model");
        if slot.is_none() {
            *slot = Some(runner::prepare(&experiments[pending[k]])?);
        }
        Ok(())
    };
    // Task t belongs to the pending point whose range [first[k], first[k + 1]) holds it.
    let mut first = Vec::with_capacity(pending.len() + 1);
    let mut total = 0usize;
    for &i in &pending {
        first.push(total);
        total += experiments[i].replications as usize;
    }
    first.push(total);
    let slots: Vec<Mutex<Slot>> = pending
        .iter()
        .map(|&i| {
            let n = experiments[i].replications;
            Mutex::new(Slot {
                reps: (0..n).map(|_| None).collect(),
                pooled: None,
                missing: n,
                summary: None,
            })
        })
        .collect();
    let resumed = experiments.len() - pending.len();
    let bar = (progress && std::io::stderr().is_terminal())
        .then(|| progress_bar(total, experiments.len(), resumed));
    let points_done = AtomicUsize::new(resumed);
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let more = |_: u32| {};
    (0..total).into_par_iter().try_for_each(|task| {
        let k = first.partition_point(|&f| f <= task) - 1;
        let r = (task - first[k]) as u32;
        model_of(k)?;
        let (result, latencies) = prepared[k]
            .read()
            .expect("no worker panics holding a model")
            .as_ref()
            .expect("compiled above")
            .replicate(r)?;
        tick();
        let finished = {
            let mut slot = slots[k].lock().expect("no worker panics holding a slot");
            slot.reps[r as usize] = Some(result);
            slot.pooled
                .get_or_insert_with(WindowLatencies::new)
                .add(&latencies);
            slot.missing -= 1;
            (slot.missing == 0).then(|| (std::mem::take(&mut slot.reps), slot.pooled.take()))
        };
        if let Some((reps, pooled)) = finished {
            let reps = reps.into_iter().flatten().collect();
            let point = prepared[k]
                .write()
                .expect("no worker panics holding a model")
                .take()
                .expect("compiled by its first task");
            let pooled = pooled.expect("every replication added its latencies");
            let output = point.finish(reps, pooled, &more, &tick)?;
            if let Some(c) = checkpoint {
                c.save(point.experiment(), &output.summary)?;
            }
            slots[k]
                .lock()
                .expect("no worker panics holding a slot")
                .summary = Some(output.summary);
            let done = points_done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(b) = &bar {
                b.set_message(format!("{done}/{} points", experiments.len()));
            }
        }
        anyhow::Ok(())
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for (slot, &i) in slots.into_iter().zip(&pending) {
        summaries[i] = slot.into_inner().expect("no worker panicked").summary;
    }
    summaries
        .into_iter()
        .zip(experiments)
        .map(|(s, e)| s.with_context(|| format!("experiment `{}` has no replications", e.name)))
        .collect()
}

fn progress_bar(tasks: usize, points: usize, resumed: usize) -> ProgressBar {
    let bar = ProgressBar::new(tasks as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} replications, {elapsed}, about {eta} left",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("{resumed}/{points} points"));
    bar
}
