//! Each theory kind's expectations: the closed-form value of every check a `theory:` block
//! lists, computed from the experiment's own queue before anything runs, paired with the
//! simulated metric it is compared with. One exhaustive match over [`TheorySpec`] is the
//! only place a kind is dispatched.

use anyhow::bail;

use super::observed::{Observed, Percentile};
use super::queue::{Queue, Service, second_moment};
use crate::config::{AutoscalerSpec, Experiment};
use crate::dist::Sampler;
use crate::theory::{
    ErlangBCheck, ErlangCCheck, ForkJoinCheck, MgInfinityCheck, MmcQueue, PollaczekKhinchineCheck,
    ProcessorSharingCheck, TheorySpec, TrajectoryWindow, erlang_b, fork_join_exponential_mean,
    mm1_ps_conditional_response, mm1_ps_mean_response, pollaczek_khinchine_mean_wait,
};

/// Probability of a full house below which a queue counts as having slots to spare.
const SPARE: f64 = 1e-9;

/// One check before the run: what it is called, its closed form, what to compare it with.
pub(super) struct Expectation {
    /// Row label in the report.
    pub metric: String,
    /// Closed-form value.
    pub theory: f64,
    /// The simulated metric.
    pub observed: Observed,
}

fn expect(metric: impl Into<String>, theory: f64, observed: Observed) -> Expectation {
    Expectation {
        metric: metric.into(),
        theory,
        observed,
    }
}

/// The expectations of `spec` for experiment `e`, or why `e` does not fit the kind.
pub(super) fn expectations(spec: &TheorySpec, e: &Experiment) -> anyhow::Result<Vec<Expectation>> {
    match spec {
        TheorySpec::ErlangC { checks } => erlang_c(&Queue::of(e)?, checks),
        TheorySpec::ErlangB { checks } => loss(&Queue::of(e)?, checks),
        TheorySpec::PollaczekKhinchine { checks } => pollaczek_khinchine(&Queue::of(e)?, checks),
        TheorySpec::ProcessorSharing { checks } => processor_sharing(&Queue::of(e)?, checks),
        TheorySpec::MgInfinity { checks } => mg_infinity(&Queue::of(e)?, checks),
        TheorySpec::ForkJoin { checks } => fork_join(&Queue::of(e)?, checks),
        TheorySpec::AutoscalerTrajectory { windows } => trajectory(e, windows),
    }
}

/// Whether the kind describes a steady state, so that `sim validate --scale` may shorten the
/// run (a trajectory is pinned to simulated times).
pub(super) fn is_stationary(spec: &TheorySpec) -> bool {
    match spec {
        TheorySpec::ErlangC { .. }
        | TheorySpec::ErlangB { .. }
        | TheorySpec::PollaczekKhinchine { .. }
        | TheorySpec::ProcessorSharing { .. }
        | TheorySpec::MgInfinity { .. }
        | TheorySpec::ForkJoin { .. } => true,
        TheorySpec::AutoscalerTrajectory { .. } => false,
    }
}

/// Position of the kind in the report: the order of [`TheorySpec`]'s variants.
pub(super) fn report_rank(spec: &TheorySpec) -> u8 {
    match spec {
        TheorySpec::ErlangC { .. } => 0,
        TheorySpec::ErlangB { .. } => 1,
        TheorySpec::PollaczekKhinchine { .. } => 2,
        TheorySpec::ProcessorSharing { .. } => 3,
        TheorySpec::MgInfinity { .. } => 4,
        TheorySpec::ForkJoin { .. } => 5,
        TheorySpec::AutoscalerTrajectory { .. } => 6,
    }
}

/// The mean of an exponential distribution, or an error naming who needs one.
fn exponential_mean(s: &Sampler, what: &str) -> anyhow::Result<f64> {
    match s {
        Sampler::Exponential { mean, .. } => Ok(*mean),
        _ => bail!("{what} needs exponential service (`exponential: {{mean: ...}}`)"),
    }
}

/// Fails unless utilisation `rho` is below 1 (a stationary distribution exists).
fn require_stable(rho: f64) -> anyhow::Result<()> {
    if rho.is_nan() || rho >= 1.0 {
        bail!("needs utilisation below 1; the model's is {rho:.4}");
    }
    Ok(())
}

fn erlang_c(q: &Queue, checks: &[ErlangCCheck]) -> anyhow::Result<Vec<Expectation>> {
    q.require_no_deadline()?;
    let mmc = MmcQueue {
        lambda: q.arrival_rate,
        mu: 1.0 / exponential_mean(q.delay()?, "erlang_c")?,
        c: q.slots,
    };
    require_stable(mmc.utilization())?;
    Ok(checks
        .iter()
        .map(|check| match check {
            ErlangCCheck::PWait => {
                expect("P(wait > 0)", mmc.prob_wait(), Observed::WaitProbability)
            }
            ErlangCCheck::MeanWait => {
                expect("mean wait (s)", mmc.mean_wait(), Observed::MeanPendingWait)
            }
            ErlangCCheck::MeanResponse => {
                expect("mean response (s)", mmc.mean_response(), Observed::TurnMean)
            }
            ErlangCCheck::ResponseP50 => mmc_percentile(&mmc, Percentile::P50),
            ErlangCCheck::ResponseP95 => mmc_percentile(&mmc, Percentile::P95),
            ErlangCCheck::ResponseP99 => mmc_percentile(&mmc, Percentile::P99),
        })
        .collect())
}

fn mmc_percentile(mmc: &MmcQueue, p: Percentile) -> Expectation {
    let (label, level) = percentile_level(p);
    expect(
        format!("response {label} (s)"),
        mmc.response_quantile(level),
        Observed::Turn(p),
    )
}

/// The label and the probability of a percentile.
fn percentile_level(p: Percentile) -> (&'static str, f64) {
    match p {
        Percentile::P50 => ("p50", 0.5),
        Percentile::P95 => ("p95", 0.95),
        Percentile::P99 => ("p99", 0.99),
    }
}

/// Erlang B is insensitive: the blocking of M/G/c/c depends on the service mean only.
fn loss(q: &Queue, checks: &[ErlangBCheck]) -> anyhow::Result<Vec<Expectation>> {
    q.require_loss()?;
    let offered = q.arrival_rate * q.delay()?.mean();
    Ok(checks
        .iter()
        .map(|check| match check {
            ErlangBCheck::Blocking => expect(
                "blocking probability (Erlang B)",
                erlang_b(q.slots, offered),
                Observed::ErrorRate,
            ),
        })
        .collect())
}

fn pollaczek_khinchine(
    q: &Queue,
    checks: &[PollaczekKhinchineCheck],
) -> anyhow::Result<Vec<Expectation>> {
    q.require_no_deadline()?;
    if q.slots != 1 {
        bail!("pollaczek_khinchine needs one slot (max_concurrency × min_instances = 1)");
    }
    let service = q.delay()?;
    let mean = service.mean();
    require_stable(q.arrival_rate * mean)?;
    let wait = pollaczek_khinchine_mean_wait(q.arrival_rate, mean, second_moment(service));
    Ok(checks
        .iter()
        .map(|check| match check {
            PollaczekKhinchineCheck::MeanWait => {
                expect("mean wait (s), P-K", wait, Observed::MeanPendingWait)
            }
        })
        .collect())
}

/// M/G/1-PS: E\[T | x\] = x/(1 − ρ) whatever the size distribution.
fn processor_sharing(
    q: &Queue,
    checks: &[ProcessorSharingCheck],
) -> anyhow::Result<Vec<Expectation>> {
    let Service::Cpu(demand) = &q.service else {
        bail!(
            "processor_sharing needs a turn of one CPU burst (`app.requests.turn.steps: [cpu: ...]`)"
        );
    };
    if q.instances != 1 || q.vcpu != 1.0 {
        bail!("processor_sharing needs one instance (`platform.min_instances: 1`) of one vCPU");
    }
    let rho = q.arrival_rate * demand.mean();
    require_stable(rho)?;
    // The number in an M/G/1-PS system is geometric: P(N ≥ k) = ρ^k.
    if rho.powf(f64::from(q.slots)) > SPARE {
        bail!(
            "processor_sharing needs slots to spare: with {} slots P(all busy) = {:.2e}",
            q.slots,
            rho.powf(f64::from(q.slots))
        );
    }
    Ok(checks
        .iter()
        .map(|check| match check {
            ProcessorSharingCheck::MeanResponse => match demand {
                Sampler::Exponential { mean, .. } => expect(
                    "mean response (s), 1/(mu - lambda)",
                    mm1_ps_mean_response(q.arrival_rate, 1.0 / mean),
                    Observed::TurnMean,
                ),
                Sampler::Constant(x) => expect(
                    format!("mean response of size x = {x} (s), x/(1 - rho)"),
                    mm1_ps_conditional_response(*x, rho),
                    Observed::TurnMean,
                ),
                other => expect(
                    "mean response (s), E[S]/(1 - rho)",
                    mm1_ps_conditional_response(other.mean(), rho),
                    Observed::TurnMean,
                ),
            },
            // E[T | x] = x / (1 - rho) for every size x, so E[T / x] = 1 / (1 - rho).
            ProcessorSharingCheck::MeanSlowdown => expect(
                "mean slowdown T/x, from E[T|x] = x/(1 - rho)",
                mm1_ps_conditional_response(1.0, rho),
                Observed::Slowdown,
            ),
        })
        .collect())
}

/// Fails unless an M/G/c/c loss system with this offered load would almost never be full
/// (Erlang B is insensitive to the service distribution).
fn require_spare_slots(q: &Queue, offered: f64, kind: &str) -> anyhow::Result<()> {
    let full = erlang_b(q.slots, offered);
    if full.is_nan() || full >= SPARE {
        bail!(
            "{kind} needs slots to spare: with {} slots and {offered:.3} Erlangs offered, \
P(all busy) = {full:.2e}",
            q.slots
        );
    }
    Ok(())
}

/// M/G/∞: a response is a service, so its percentiles are the service's quantiles.
fn mg_infinity(q: &Queue, checks: &[MgInfinityCheck]) -> anyhow::Result<Vec<Expectation>> {
    let service = q.delay()?;
    require_spare_slots(q, q.arrival_rate * service.mean(), "mg_infinity")?;
    let percentile = |p: Percentile| {
        let (label, level) = percentile_level(p);
        expect(
            format!("response {label} (s)"),
            service.quantile(level).unwrap_or(f64::NAN),
            Observed::Turn(p),
        )
    };
    Ok(checks
        .iter()
        .map(|check| match check {
            MgInfinityCheck::ResponseP50 => percentile(Percentile::P50),
            MgInfinityCheck::ResponseP95 => percentile(Percentile::P95),
            MgInfinityCheck::ResponseP99 => percentile(Percentile::P99),
            MgInfinityCheck::MeanResponse => {
                expect("mean response (s)", service.mean(), Observed::TurnMean)
            }
        })
        .collect())
}

/// Fork–join over k iid branches: P(max ≤ t) = F(t)^k, so the turn's p-quantile is the
/// branch's quantile at p^(1/k); for Exp(μ) branches E\[max\] = H_k/μ.
fn fork_join(q: &Queue, checks: &[ForkJoinCheck]) -> anyhow::Result<Vec<Expectation>> {
    let Service::ForkJoin { branches, each } = &q.service else {
        bail!("fork_join needs a turn of one `parallel` step of `llm` calls");
    };
    let k = *branches;
    // The max of k branches lasts at most their sum, k·E[S] on average.
    require_spare_slots(q, q.arrival_rate * f64::from(k) * each.mean(), "fork_join")?;
    let percentile = |p: Percentile| {
        let (label, level) = percentile_level(p);
        expect(
            format!("turn {label} (s)"),
            each.quantile(level.powf(1.0 / f64::from(k)))
                .unwrap_or(f64::NAN),
            Observed::Turn(p),
        )
    };
    checks
        .iter()
        .map(|check| {
            Ok(match check {
                ForkJoinCheck::MeanTurn => expect(
                    format!("mean turn (s), H_{k} / mu"),
                    fork_join_exponential_mean(k, 1.0 / exponential_mean(each, "mean_turn")?),
                    Observed::TurnMean,
                ),
                ForkJoinCheck::TurnP50 => percentile(Percentile::P50),
                ForkJoinCheck::TurnP95 => percentile(Percentile::P95),
                ForkJoinCheck::TurnP99 => percentile(Percentile::P99),
            })
        })
        .collect()
}

/// A hand-worked trajectory: each window must lie inside the run, under a scaling policy.
fn trajectory(e: &Experiment, windows: &[TrajectoryWindow]) -> anyhow::Result<Vec<Expectation>> {
    if matches!(e.platform.autoscaler, AutoscalerSpec::Fixed) {
        bail!("autoscaler_trajectory needs a scaling policy, not `platform.autoscaler: fixed`");
    }
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if !(w.from.0 < w.to.0 && w.to.0 <= e.horizon.0) {
                bail!(
                    "windows[{i}] (`{}`): needs from < to <= horizon ({} s)",
                    w.label,
                    e.horizon.0
                );
            }
            Ok(expect(
                w.label.clone(),
                w.instances,
                Observed::InstancesBetween {
                    from: w.from.0,
                    to: w.to.0,
                },
            ))
        })
        .collect()
}
