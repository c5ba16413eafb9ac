//! The experiment compiled for simulation: samplers instead of specs, indices instead of
//! names. Built once per run and shared read-only by every replication.

use crate::config::{
    Compaction, DatastoreOpKind, Experiment, LlmStep, OnError, PendingDeadline, RetrySpec, Routing,
    Slo, StopPoint, TaskKind, WorkloadKind,
};
use crate::dist::Sampler;

use super::autoscaler::Autoscaler;
use super::build_error::BuildError;
use super::cost::PlatformRates;
use super::llm::LlmRuntime;
use super::pipeline::Program;
use super::workload::{DEFAULT_BURST_STARTS, RateProfile, TaskMix, TaskPlan, UserSchedule};

/// Datastore operation compiled.
#[derive(Clone, Debug)]
pub struct DatastoreRuntime {
    /// Latency per op kind (read, write, delete).
    pub latency: [Sampler; 3],
    /// $ per op kind.
    pub price: [f64; 3],
    /// Commit every k writes.
    pub batch_writes: Option<u32>,
}

impl DatastoreRuntime {
    /// Index of an op kind.
    pub fn index(op: DatastoreOpKind) -> usize {
        match op {
            DatastoreOpKind::Read => 0,
            DatastoreOpKind::Write => 1,
            DatastoreOpKind::Delete => 2,
        }
    }
}

/// Traffic, compiled.
#[derive(Clone, Debug)]
pub enum Traffic {
    /// Virtual users starting at these times, looping over the task mix.
    Closed {
        /// When users start and when they are asked to stop.
        schedule: UserSchedule,
        /// When a user asked to stop leaves.
        stop: StopPoint,
        /// Task mix.
        mix: TaskMix,
        /// Think time between tasks.
        think: Sampler,
        /// Tasks per user before it stops.
        iterations: Option<u32>,
    },
    /// Sessions arriving by the profile.
    Open {
        /// Arrival rate.
        profile: RateProfile,
        /// What each arrival does.
        session: TaskPlan,
        /// Identities drawn uniformly from this many users (None: every session a new user).
        population: Option<u32>,
    },
}

/// After a failed request: what the user does next, and how long it waits to resend.
#[derive(Clone, Debug)]
pub struct ErrorHandling {
    /// The workload's choice.
    pub on_error: OnError,
    /// Wait before a retried request (`turn_think_time`, else `think_time`).
    pub retry_wait: Option<Sampler>,
}

/// Everything a replication needs, validated and compiled.
#[derive(Clone, Debug)]
pub struct Model {
    /// Experiment name.
    pub name: String,
    /// vCPUs per instance.
    pub vcpu: f64,
    /// Memory limit, MiB.
    pub memory_mib: f64,
    /// Memory of an idle instance, MiB.
    pub base_memory_mib: f64,
    /// Memory per in-flight request, MiB.
    pub memory_per_request_mib: f64,
    /// Billing memory, GiB.
    pub memory_gib: f64,
    /// Slots per instance.
    pub max_concurrency: u32,
    /// Min instances.
    pub min_instances: u32,
    /// Max instances.
    pub max_instances: u32,
    /// Cold-start time.
    pub cold_start: Sampler,
    /// Pending deadline, seconds.
    pub pending_deadline: f64,
    /// Routing rule.
    pub routing: Routing,
    /// Platform prices per second for the chosen billing mode.
    pub rates: PlatformRates,
    /// The checked autoscaler (a policy is built per replication) and its chart lines.
    pub autoscaler: Autoscaler,
    /// The LLMs (`llm.models`), indexed by `LlmLeaf::llm`.
    pub llms: Vec<LlmRuntime>,
    /// Retry policy.
    pub retry: RetrySpec,
    /// LLM latency multiplier.
    pub latency_scale: f64,
    /// Datastore.
    pub datastore: DatastoreRuntime,
    /// Request pipelines.
    pub program: Program,
    /// Turns per session.
    pub turns: u32,
    /// Welcome calls per full session.
    pub welcome_calls: u32,
    /// User tokens per turn.
    pub user_tokens: Sampler,
    /// History compaction.
    pub compaction: Option<Compaction>,
    /// Sessions per user per day.
    pub sessions_per_day: Option<u32>,
    /// Open sessions per user.
    pub concurrent_sessions: Option<u32>,
    /// Agent cache TTL.
    pub cache_ttl: Option<f64>,
    /// Traffic.
    pub traffic: Traffic,
    /// Wait between requests of a session.
    pub turn_think: Option<Sampler>,
    /// What users do after a failed request.
    pub on_error: ErrorHandling,
    /// Horizon, seconds.
    pub horizon: f64,
    /// Time-series bucket, seconds.
    pub sample_interval: f64,
    /// Master seed.
    pub seed: u64,
    /// The bounds the summary is judged against.
    pub slo: Slo,
}

impl Model {
    /// Compiles a validated experiment.
    pub fn build(e: &Experiment) -> Result<Model, BuildError> {
        let p = &e.platform;
        let cold_start = p.cold_start.sampler()?;
        let pending_deadline = match &p.pending_deadline {
            PendingDeadline::Fixed(s) => s.0,
            PendingDeadline::StartupMultiple { multiplier, floor } => {
                (multiplier * cold_start.mean()).max(floor.0)
            }
        };
        let names: Vec<&String> = e.llm.models.keys().collect();
        let llms = e
            .llm
            .models
            .values()
            .map(LlmRuntime::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let llm_index = |step: &LlmStep| {
            let name = e.llm.model_of(step)?;
            names.iter().position(|n| n.as_str() == name)
        };
        let program = Program::compile(&e.app.requests, &llm_index)?;
        let d = &e.datastore;
        let datastore = DatastoreRuntime {
            latency: [
                d.read.latency.sampler()?,
                d.write.latency.sampler()?,
                d.delete.latency.sampler()?,
            ],
            price: [d.read.price.0, d.write.price.0, d.delete.price.0],
            batch_writes: d.batch_writes,
        };
        let w = &e.workload;
        let traffic = match w.kind {
            WorkloadKind::Closed => Traffic::Closed {
                schedule: UserSchedule::of(w),
                stop: w.stop.unwrap_or_default(),
                mix: TaskMix::new(w.tasks.as_deref().unwrap_or_default(), e.app.turns),
                iterations: w.iterations,
                think: w
                    .think_time
                    .as_ref()
                    .ok_or(BuildError::MissingWorkload {
                        kind: "closed",
                        field: "think_time",
                    })?
                    .sampler()?,
            },
            WorkloadKind::Open => Traffic::Open {
                profile: RateProfile::from_spec(w.arrivals.as_ref().ok_or(
                    BuildError::MissingWorkload {
                        kind: "open",
                        field: "arrivals",
                    },
                )?),
                session: TaskPlan {
                    kind: w.session.unwrap_or(TaskKind::FullSession),
                    turns: e.app.turns,
                    starts: DEFAULT_BURST_STARTS,
                },
                population: w.population,
            },
        };
        let limits = e.app.rate_limits.as_ref();
        Ok(Model {
            name: e.name.clone(),
            vcpu: p.vcpu,
            memory_mib: p.memory.mib(),
            base_memory_mib: p.base_memory.mib(),
            memory_per_request_mib: p.memory_per_request.mib(),
            memory_gib: p.memory.gib(),
            max_concurrency: p.max_concurrency,
            min_instances: p.min_instances,
            max_instances: p.max_instances,
            cold_start,
            pending_deadline,
            routing: p.routing,
            rates: PlatformRates::from_prices(p.billing, &p.prices),
            autoscaler: Autoscaler::compile(&p.autoscaler, p.max_instances)?,
            llms,
            retry: e.llm.retry.clone(),
            latency_scale: e.llm.latency_scale,
            datastore,
            program,
            turns: e.app.turns,
            welcome_calls: e.app.welcome_calls,
            user_tokens: e.app.context.user_tokens.sampler()?,
            compaction: e.app.context.compaction.clone(),
            sessions_per_day: limits.and_then(|l| l.sessions_per_day),
            concurrent_sessions: limits.and_then(|l| l.concurrent_sessions),
            cache_ttl: e.app.agent_cache.as_ref().map(|c| c.ttl.0),
            traffic,
            turn_think: w
                .turn_think_time
                .as_ref()
                .map(|t| t.sampler())
                .transpose()?,
            on_error: ErrorHandling {
                on_error: w.on_error.unwrap_or_default(),
                retry_wait: w
                    .turn_think_time
                    .as_ref()
                    .or(w.think_time.as_ref())
                    .map(|t| t.sampler())
                    .transpose()?,
            },
            horizon: e.horizon.0,
            sample_interval: e.sample_interval.0,
            seed: e.seed,
            slo: e.slo.clone(),
        })
    }

    /// Distinct user identities subject to rate limits.
    pub fn identities(&self) -> usize {
        match &self.traffic {
            Traffic::Closed { schedule, .. } => schedule.starts.len(),
            Traffic::Open { population, .. } => population.unwrap_or(0) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Billing, load_with};

    #[test]
    fn the_billing_modes_prices_are_compiled_in() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/phase2.yaml");
        let mut e = load_with(&path, &[]).expect("loads").experiment;
        let prices = e.platform.prices.clone();

        e.platform.billing = Billing::Request;
        let rates = Model::build(&e).expect("compiles").rates;
        assert_eq!(rates.billing, Billing::Request);
        assert_eq!(rates.vcpu_second, prices.request_based.vcpu_second.0);
        assert_eq!(
            rates.idle_gib_second,
            prices.request_based.idle_gib_second.0
        );
        assert_eq!(rates.request, prices.request_based.request.0);
        assert_eq!(rates.granularity, prices.granularity.0);
        assert!(
            rates.request > 0.0,
            "request fees apply under request billing"
        );

        e.platform.billing = Billing::Instance;
        let rates = Model::build(&e).expect("compiles").rates;
        assert_eq!(rates.billing, Billing::Instance);
        assert_eq!(rates.vcpu_second, prices.instance_based.vcpu_second.0);
        assert_eq!(rates.gib_second, prices.instance_based.gib_second.0);
        assert_eq!((rates.request, rates.idle_vcpu_second), (0.0, 0.0));
    }
}
