//! Capacity search: the largest steady load one configuration serves within its SLO.
//!
//! The load is the number of virtual users of a closed workload, or the session arrival rate
//! of an open one. Each **probe** is a steady-state run at one fixed load, not a ramp:
//!
//! - closed users start spread evenly over one full cycle (a think time plus a session), so
//!   they do not move in lockstep; an open workload arrives at a constant Poisson rate;
//! - the warm-up covers at least one session and, for closed users, the whole spread, so the
//!   measured window sees grown contexts and every user started; the measured window keeps the
//!   file's length (`horizon - warmup`). A session's length is estimated from a pilot probe at
//!   the file's own load: turns × (turn think time + mean turn latency), plus the welcome.
//!
//! A load **meets** the SLO when, for every bound of the file's `slo`, the far end of the
//! metric's 95 % interval is within the bound (the upper end for an upper bound; the lower end
//! for `rate_limited_at_least`). Where the point estimates meet but an interval straddles the
//! bound, the probe is run again with twice the replications, up to
//! [`Search::max_replications`], before it is judged.
//!
//! A probe whose latency bounds rest on fewer than [`MIN_SAMPLES`] samples is not judged: the
//! search moves up from it, and does not go below it.
//!
//! The search gallops from the file's load (doubling while the load meets, halving while it
//! misses) to bracket the capacity, then bisects until the bracket is narrower than the
//! resolution (2 % of the load, and at least one user). It reports the capacity under the
//! interval rule, the largest probed load whose point estimates meet (the point-estimate
//! capacity), and between them the loads where the verdict is uncertain.

use anyhow::{Context, bail};

use super::checkpoint::Checkpoint;
use crate::config::{Arrivals, Experiment, Users, Warmup, WorkloadKind};
use crate::report::about;
use crate::results::{Bottleneck, Summary};
use crate::units::Seconds;

/// What the load of a configuration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadKind {
    /// Virtual users of a closed workload.
    Users,
    /// Session arrivals per second of an open workload.
    SessionsPerS,
}

impl LoadKind {
    /// The unit as the charts write it.
    pub fn unit(self) -> &'static str {
        match self {
            LoadKind::Users => "concurrent users",
            LoadKind::SessionsPerS => "sessions per second",
        }
    }
}

/// How finely and how hard to search.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    /// Bracket width to stop at, as a share of the load (at least one user).
    pub resolution: f64,
    /// Most replications a probe may be given to settle an uncertain verdict, as a multiple
    /// of the file's replications.
    pub max_replications: u32,
    /// Most probes per configuration.
    pub max_probes: usize,
}

impl Default for Search {
    fn default() -> Search {
        Search {
            resolution: 0.02,
            max_replications: 4,
            max_probes: 40,
        }
    }
}

/// One steady-state run of the search.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The load it ran at.
    pub load: f64,
    /// Its summary (absent when the run stopped early).
    pub summary: Option<Summary>,
    /// Why it stopped early, if it did.
    pub stopped: Option<String>,
    /// Every SLO bound holds at the far end of its 95 % interval.
    pub meets: bool,
    /// Every SLO bound holds at the point estimate.
    pub meets_point: bool,
}

/// The answer for one configuration.
#[derive(Clone, Debug)]
pub struct Capacity {
    /// The configuration's experiment name.
    pub experiment: String,
    /// What the load counts.
    pub kind: LoadKind,
    /// The largest load found to meet the SLO under the interval rule (absent: none does).
    pub capacity: Option<f64>,
    /// The largest probed load whose point estimates meet the SLO.
    pub capacity_point: Option<f64>,
    /// Why no load meets the SLO, or that every load tried met it.
    pub note: Option<String>,
    /// The bottleneck at the smallest load found to miss.
    pub first_miss_bottleneck: Option<Bottleneck>,
    /// The smallest load found to miss.
    pub first_miss: Option<f64>,
    /// Warm-up of every probe, seconds.
    pub warmup_s: f64,
    /// Closed workloads: users start evenly over this many seconds.
    pub spread_s: Option<f64>,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
}

impl Capacity {
    /// The probe at the capacity (the interval rule's).
    pub fn at_capacity(&self) -> Option<&Summary> {
        let c = self.capacity?;
        self.probes
            .iter()
            .filter(|p| p.load == c && p.meets)
            .find_map(|p| p.summary.as_ref())
    }
}

/// The experiment's load kind and its own load.
fn own_load(e: &Experiment) -> anyhow::Result<(LoadKind, f64)> {
    let w = &e.workload;
    match w.kind {
        WorkloadKind::Closed => {
            let users = match &w.users {
                Some(Users::Fixed(n)) => *n,
                Some(Users::Ramp { to, .. }) => *to,
                None => bail!("`workload.users` is needed to search a closed workload's capacity"),
            };
            Ok((LoadKind::Users, f64::from(users.max(1))))
        }
        WorkloadKind::Open => {
            let rate = crate::results::Inputs::of(e)
                .sessions_per_s
                .filter(|r| *r > 0.0)
                .context("`workload.arrivals` needs a positive rate to search an open workload's capacity")?;
            Ok((LoadKind::SessionsPerS, rate))
        }
    }
}

/// The probe plan shared by every load of one configuration.
struct Plan<'e> {
    base: &'e Experiment,
    kind: LoadKind,
    warmup: Warmup,
    horizon_s: f64,
    spread_s: Option<f64>,
}

impl Plan<'_> {
    /// The experiment at `load` with `replications`.
    fn at(&self, load: f64, replications: u32) -> Experiment {
        let mut e = self.base.clone();
        match self.kind {
            LoadKind::Users => {
                let users = load.round().max(1.0) as u32;
                e.workload.users = Some(Users::Fixed(users));
                e.workload.spawn_rate = self.spread_s.map(|s| f64::from(users) / s);
            }
            LoadKind::SessionsPerS => {
                e.workload.arrivals = Some(Arrivals::PerSecond(load));
            }
        }
        e.warmup = self.warmup;
        e.horizon = Seconds(self.horizon_s);
        e.replications = replications;
        e.precision = None;
        e
    }
}

/// Fewest samples (summed over replications) a latency bound is judged on: fewer say nothing
/// about a p95, so a probe with fewer neither meets nor misses.
pub const MIN_SAMPLES: u64 = 200;

/// Whether a latency bound of the SLO rests on fewer than [`MIN_SAMPLES`] samples.
fn too_few_samples(s: &Summary) -> bool {
    s.slo.checks.iter().any(|c| {
        let n = if c.name.starts_with("turn_") {
            s.turn_latency_s.n
        } else if c.name.starts_with("session_start_") {
            s.session_start_latency_s.n
        } else {
            u64::MAX
        };
        n < MIN_SAMPLES
    })
}

/// Whether every SLO bound holds at the far end of its interval, and at the point estimate.
fn judge(s: &Summary) -> (bool, bool) {
    let mut meets = true;
    for check in &s.slo.checks {
        let lower_bound = check.name == "rate_limited_at_least";
        let [lo, hi] = check.value.ci95;
        let far = if lower_bound { lo } else { hi };
        // With one replication there is no interval: the point estimate is all there is.
        let far = if far.is_finite() {
            far
        } else {
            check.value.value
        };
        let ok = if lower_bound {
            far >= check.target
        } else {
            far <= check.target
        };
        meets &= ok;
    }
    (meets && s.slo.met, s.slo.met)
}

/// The mean of a duration setting (0 when absent).
fn mean_of(d: Option<&crate::dist::DistSpec<Seconds>>) -> anyhow::Result<f64> {
    match d {
        None => Ok(0.0),
        Some(spec) => Ok(spec.sampler().map_err(anyhow::Error::msg)?.mean()),
    }
}

/// Searches the capacity of every configuration, configurations in parallel (each probe's
/// replications in parallel too); results in the given order.
/// Every probe is stored in `checkpoint` as it finishes; with `resume`, probes stored by an
/// interrupted search of the same settings are read instead of run, which retraces the same
/// search (each step depends only on the summaries before it).
pub fn search_all(
    experiments: &[Experiment],
    how: Search,
    checkpoint: Option<&Checkpoint>,
    resume: bool,
) -> anyhow::Result<Vec<Capacity>> {
    use rayon::prelude::*;
    let run = |e: &Experiment| -> anyhow::Result<Summary> {
        let one = std::slice::from_ref(e);
        let mut one = super::sweep::run_all_with(one, false, checkpoint, resume)?;
        Ok(one.remove(0))
    };
    experiments
        .par_iter()
        .map(|e| search(e, how, &run))
        .collect()
}

/// Searches the capacity of `e` (see the module comment). `run` runs one experiment.
pub fn search(
    e: &Experiment,
    how: Search,
    run: &dyn Fn(&Experiment) -> anyhow::Result<Summary>,
) -> anyhow::Result<Capacity> {
    if !e.slo.bounds_service() {
        bail!(
            "experiment `{}` sets no `slo` bound on latency or errors; capacity is the largest load within such bounds",
            e.name
        );
    }
    let (kind, start) = own_load(e)?;
    let file_warmup = match e.warmup {
        Warmup::Fixed(w) => w.0,
        Warmup::Auto => 0.0,
    };
    let window = (e.horizon.0 - file_warmup).max(e.horizon.0 / 2.0);
    // Pilot at the file's own load with the file's warm-up, to size a session.
    let pilot_plan = Plan {
        base: e,
        kind,
        warmup: e.warmup,
        horizon_s: e.horizon.0,
        spread_s: None,
    };
    let pilot = run(&pilot_plan.at(start, e.replications))
        .with_context(|| format!("the pilot probe of `{}` at its own load", e.name))?;
    let turn_think = mean_of(e.workload.turn_think_time.as_ref())?;
    let think = mean_of(e.workload.think_time.as_ref())?;
    let turn_latency = if pilot.turn_latency_s.mean.value.is_finite() {
        pilot.turn_latency_s.mean.value
    } else {
        0.0
    };
    let session = f64::from(e.app.turns) * (turn_think + turn_latency)
        + f64::from(e.app.welcome_calls) * turn_latency;
    let spread_s = (kind == LoadKind::Users).then_some((think + session).max(1.0));
    let warmup_s = file_warmup.max(session).max(spread_s.unwrap_or(0.0));
    let plan = Plan {
        base: e,
        kind,
        warmup: match e.warmup {
            Warmup::Auto if warmup_s <= file_warmup => Warmup::Auto,
            _ => Warmup::Fixed(Seconds(warmup_s)),
        },
        horizon_s: warmup_s + window,
        spread_s,
    };
    let mut probes: Vec<Probe> = Vec::new();
    // Ok(Some(meets)), or Ok(None) when the probe has too few samples to judge.
    let mut probe = |load: f64| -> anyhow::Result<Option<bool>> {
        if probes.len() >= how.max_probes {
            bail!(
                "the capacity search of `{}` used its {} probes without converging",
                e.name,
                how.max_probes
            );
        }
        let mut replications = e.replications;
        let cap = e.replications.saturating_mul(how.max_replications).max(2);
        loop {
            match run(&plan.at(load, replications)) {
                Ok(summary) if too_few_samples(&summary) => {
                    probes.push(Probe {
                        load,
                        summary: Some(summary),
                        stopped: Some(format!(
                            "fewer than {MIN_SAMPLES} latency samples: too few to judge a bound"
                        )),
                        meets: false,
                        meets_point: false,
                    });
                    return Ok(None);
                }
                Ok(summary) => {
                    let (meets, meets_point) = judge(&summary);
                    let uncertain = meets_point && !meets;
                    if uncertain && replications < cap {
                        replications = replications.saturating_mul(2).clamp(2, cap);
                        continue;
                    }
                    probes.push(Probe {
                        load,
                        summary: Some(summary),
                        stopped: None,
                        meets,
                        meets_point,
                    });
                    return Ok(Some(meets));
                }
                Err(err) => {
                    // A run that stops early (overload, a stalled clock) misses at this load.
                    probes.push(Probe {
                        load,
                        summary: None,
                        stopped: Some(format!("{err:#}")),
                        meets: false,
                        meets_point: false,
                    });
                    return Ok(Some(false));
                }
            }
        }
    };
    let step = |lo: f64| match kind {
        LoadKind::Users => (lo * how.resolution).max(1.0),
        LoadKind::SessionsPerS => lo * how.resolution,
    };
    let snap = |x: f64| match kind {
        LoadKind::Users => x.round().max(1.0),
        LoadKind::SessionsPerS => x,
    };
    let minimum = match kind {
        LoadKind::Users => 1.0,
        LoadKind::SessionsPerS => start / 4096.0,
    };
    let maximum = start * 4096.0;
    let start = snap(start);
    let (mut lo, mut hi) = (None, None);
    let mut starting = probe(start)?;
    // Too few samples at the file's own load: more load gives more samples.
    let mut start = start;
    while starting.is_none() && start * 2.0 <= maximum {
        start = snap(start * 2.0);
        starting = probe(start)?;
    }
    if starting == Some(true) {
        lo = Some(start);
        let mut at = start;
        loop {
            let next = snap(at * 2.0);
            if next > maximum {
                break;
            }
            if probe(next)? == Some(true) {
                lo = Some(next);
                at = next;
            } else {
                hi = Some(next);
                break;
            }
        }
    } else {
        hi = Some(start);
        let mut at = start;
        loop {
            let next = snap(at / 2.0);
            if next >= at || next < minimum {
                break;
            }
            match probe(next)? {
                Some(true) => {
                    lo = Some(next);
                    break;
                }
                // Too few samples below here to judge: the search ends without a capacity.
                None => break,
                Some(false) => {}
            }
            hi = Some(next);
            at = next;
        }
    }
    if let (Some(mut l), Some(mut h)) = (lo, hi) {
        while h - l > step(l) {
            let mid = snap((l + h) / 2.0);
            if mid <= l || mid >= h {
                break;
            }
            if probe(mid)? == Some(true) {
                l = mid;
            } else {
                h = mid;
            }
        }
        (lo, hi) = (Some(l), Some(h));
    }
    let mut by_load: Vec<&Probe> = probes.iter().collect();
    by_load.sort_by(|a, b| a.load.total_cmp(&b.load));
    let capacity_point = by_load
        .iter()
        .take_while(|p| p.meets_point)
        .last()
        .map(|p| p.load);
    let at = |load: f64| probes.iter().rev().find(|p| p.load == load);
    let first_miss_bottleneck = hi
        .and_then(at)
        .and_then(|p| p.summary.as_ref())
        .map(|s| s.slo.bottleneck);
    let note = match (lo, hi) {
        (None, _) => Some(why_not(
            by_load
                .iter()
                .copied()
                .find(|p| p.summary.as_ref().is_some_and(|s| !too_few_samples(s))),
            kind,
        )),
        (Some(l), None) => Some(format!(
            "every load tried met the SLO, up to {} {}; the capacity is at least that",
            load_text(l, kind),
            kind.unit()
        )),
        _ => None,
    };
    Ok(Capacity {
        experiment: e.name.clone(),
        kind,
        capacity: lo,
        capacity_point,
        note,
        first_miss_bottleneck,
        first_miss: hi,
        warmup_s,
        spread_s,
        probes,
    })
}

/// A load as the reports write it: whole users, or a rate to about three significant digits.
pub fn load_text(load: f64, kind: LoadKind) -> String {
    match kind {
        LoadKind::Users => format!("{load:.0}"),
        LoadKind::SessionsPerS => crate::report::about(load),
    }
}

/// Why the smallest load tried misses: its failing bounds and its bottleneck.
fn why_not(smallest: Option<&Probe>, kind: LoadKind) -> String {
    let Some(p) = smallest else {
        return format!(
            "no load tried gave the {MIN_SAMPLES} latency samples a bound is judged on; lengthen the horizon"
        );
    };
    let at = format!("{} {}", load_text(p.load, kind), kind.unit());
    let Some(s) = &p.summary else {
        return format!(
            "even at {at} the run stopped early: {}",
            p.stopped.as_deref().unwrap_or("")
        );
    };
    let failing: Vec<String> = s
        .slo
        .checks
        .iter()
        .filter(|c| !c.met || c.uncertain)
        .map(|c| {
            format!(
                "{} = {} [{}, {}]{unit} against a bound of {}{unit}",
                c.name,
                about(c.value.value),
                about(c.value.ci95[0]),
                about(c.value.ci95[1]),
                about(c.target),
                unit = if c.name.starts_with("turn_") || c.name.starts_with("session_start_") {
                    " s"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        "no load meets the SLO: even at {at}, {} (bottleneck: {})",
        failing.join("; "),
        s.slo.bottleneck.label()
    )
}
