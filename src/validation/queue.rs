//! The queue a validation experiment describes, read from its own model: the Poisson arrival
//! rate, the slots (servers), the vCPUs and what one request does; and the checks that the
//! model meets the assumptions of the closed form its `theory:` block names.
//!
//! A queueing case sends bare turns (no sessions) at a constant rate to a fixed fleet, and its
//! turn pipeline is one step: an LLM call whose latency does not depend on tokens (a delay),
//! a CPU burst, or a parallel fan-out of identical LLM calls.

use anyhow::{Context, bail};

use crate::config::{
    Arrivals, AutoscalerSpec, Experiment, LlmLatency, LlmStep, PendingDeadline, Step, TaskKind,
    WorkloadKind,
};
use crate::dist::Sampler;

/// What one turn request does on its instance.
pub(super) enum Service {
    /// One LLM call with a token-independent latency: its duration, seconds.
    Delay(Sampler),
    /// One CPU burst: its demand, vCPU-seconds.
    Cpu(Sampler),
    /// `branches` concurrent calls to one LLM model, each lasting a draw of `each`.
    ForkJoin {
        /// Concurrent calls.
        branches: u32,
        /// Duration of one call, seconds.
        each: Sampler,
    },
}

/// A stationary queue read from an experiment.
pub(super) struct Queue {
    /// Poisson arrival rate, requests per second.
    pub arrival_rate: f64,
    /// Request slots of the whole fleet: the servers of the queue.
    pub slots: u32,
    /// vCPUs per instance.
    pub vcpu: f64,
    /// Instances in the fleet.
    pub instances: u32,
    /// What one request does.
    pub service: Service,
    /// Fixed pending deadline, seconds (`None` for a rule on the startup time).
    deadline: Option<f64>,
    /// Simulated time per replication, seconds.
    horizon: f64,
}

impl Queue {
    /// Reads the queue of `e`, or says which setting keeps it from being one.
    pub(super) fn of(e: &Experiment) -> anyhow::Result<Queue> {
        let w = &e.workload;
        if !matches!(w.kind, WorkloadKind::Open) || !matches!(w.session, Some(TaskKind::BareTurn)) {
            bail!(
                "needs `workload: {{kind: open, session: bare_turn}}` (requests without sessions)"
            );
        }
        let Some(Arrivals::PerSecond(arrival_rate)) = w.arrivals else {
            bail!(
                "needs Poisson arrivals at a constant rate: `workload.arrivals: {{per_second: R}}`"
            );
        };
        if !matches!(e.platform.autoscaler, AutoscalerSpec::Fixed) {
            bail!("needs a fixed fleet: `platform.autoscaler: fixed`");
        }
        let deadline = match e.platform.pending_deadline {
            PendingDeadline::Fixed(d) => Some(d.0),
            PendingDeadline::StartupMultiple { .. } => None,
        };
        Ok(Queue {
            arrival_rate,
            slots: e
                .platform
                .max_concurrency
                .saturating_mul(e.platform.min_instances),
            vcpu: e.platform.vcpu,
            instances: e.platform.min_instances,
            service: service(e).context("app.requests.turn.steps")?,
            deadline,
            horizon: e.horizon.0,
        })
    }

    /// The duration of one request when it is a single delay step.
    pub(super) fn delay(&self) -> anyhow::Result<&Sampler> {
        match &self.service {
            Service::Delay(s) => Ok(s),
            _ => bail!("needs a turn of one LLM call (`app.requests.turn.steps: [llm: ...]`)"),
        }
    }

    /// Fails unless no request can reach the pending deadline within the run.
    pub(super) fn require_no_deadline(&self) -> anyhow::Result<()> {
        match self.deadline {
            Some(d) if d >= self.horizon => Ok(()),
            _ => bail!(
                "needs a queue without deadline: `platform.pending_deadline: {{fixed: D}}` with D \
at least the horizon ({} s)",
                self.horizon
            ),
        }
    }

    /// Fails unless a request that finds every slot busy is turned away at once.
    pub(super) fn require_loss(&self) -> anyhow::Result<()> {
        if self.deadline != Some(0.0) {
            bail!("needs a loss system: `platform.pending_deadline: {{fixed: 0s}}`");
        }
        Ok(())
    }
}

/// The service of the turn pipeline, which must be a single unconditional step.
fn service(e: &Experiment) -> anyhow::Result<Service> {
    let [step] = e.app.requests.turn.steps.as_slice() else {
        bail!("theory needs a turn of exactly one step");
    };
    if step.when.is_some() {
        bail!("theory needs an unconditional step (no `when`)");
    }
    if let Some(cpu) = &step.cpu {
        return Ok(Service::Cpu(cpu.sampler().map_err(anyhow::Error::msg)?));
    }
    if let Some(llm) = &step.llm {
        return Ok(Service::Delay(llm_call(e, llm)?));
    }
    if let Some(branches) = &step.parallel {
        return fork_join(e, branches);
    }
    bail!("theory needs a `cpu`, `llm` or `parallel` step")
}

/// The duration of one agent run of exactly one call to a token-independent, quota-free model.
fn llm_call(e: &Experiment, step: &LlmStep) -> anyhow::Result<Sampler> {
    let calls = step.calls.sampler().map_err(anyhow::Error::msg)?;
    if !matches!(calls, Sampler::Constant(n) if n == 1.0) {
        bail!("theory needs `calls: 1` in agent `{}`", step.agent);
    }
    let name = e
        .llm
        .model_of(step)
        .with_context(|| format!("agent `{}` names no LLM model", step.agent))?;
    let model = e
        .llm
        .models
        .get(name)
        .with_context(|| format!("no LLM model `{name}`"))?;
    let LlmLatency::EndToEnd(latency) = &model.latency else {
        bail!(
            "theory needs `llm.models.{name}.latency: {{end_to_end: ...}}` (independent of tokens)"
        );
    };
    if model.rpm.is_some() || model.tpm.is_some() {
        bail!("theory needs no quota on `llm.models.{name}`");
    }
    if e.llm.latency_scale != 1.0 {
        bail!("theory needs `llm.latency_scale: 1`");
    }
    latency.sampler().map_err(anyhow::Error::msg)
}

/// A parallel step of one-call LLM runs, all on the same model so the branches are iid.
fn fork_join(e: &Experiment, branches: &[Step]) -> anyhow::Result<Service> {
    let calls: Vec<&LlmStep> = branches.iter().filter_map(|b| b.llm.as_ref()).collect();
    let Some(first) = calls.first() else {
        bail!("theory needs `parallel` branches that are `llm` steps");
    };
    if calls.len() != branches.len()
        || branches.iter().any(|b| b.when.is_some())
        || calls
            .iter()
            .any(|c| e.llm.model_of(c) != e.llm.model_of(first))
    {
        bail!(
            "theory needs every `parallel` branch to be an unconditional `llm` step on one model"
        );
    }
    Ok(Service::ForkJoin {
        branches: u32::try_from(calls.len())?,
        each: llm_call(e, first)?,
    })
}

/// E\[S²\] = ∫₀¹ Q(p)² dp, integrated over normal scores p = Φ(z), |z| ≤ 8, by Simpson's
/// rule, so the tail, where the quantile function Q grows fastest, gets the finest steps.
/// Exact for constants; relative error below 1e-8 for exponential and log-normal service
/// (the mass beyond Φ(8), 6e-16, is left out, so very heavy tails come out low).
pub(super) fn second_moment(s: &Sampler) -> f64 {
    use statrs::distribution::{Continuous, ContinuousCDF, Normal};
    let normal = Normal::standard();
    const HALF_STEPS: usize = 1600;
    let (lo, hi) = (-8.0, 8.0);
    let h = (hi - lo) / (2 * HALF_STEPS) as f64;
    let f = |z: f64| {
        let q = s.quantile(normal.cdf(z)).unwrap_or(f64::NAN);
        q * q * normal.pdf(z)
    };
    let inner: f64 = (1..2 * HALF_STEPS)
        .map(|i| {
            let weight = if i % 2 == 1 { 4.0 } else { 2.0 };
            weight * f(lo + i as f64 * h)
        })
        .sum();
    (f(lo) + inner + f(hi)) * h / 3.0
}
