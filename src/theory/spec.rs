//! The `theory:` block of an experiment file: which closed form `sim validate` holds the run
//! against, and which of its metrics it compares.
//!
//! The block names a queueing model by its `kind` and lists the checks to make; it carries no
//! parameters of its own. Arrival rate, slots, vCPUs and the service distribution are read
//! from the experiment's own model, so a file cannot disagree with its theory (and
//! `sim validate` rejects a model that breaks the kind's assumptions). Only the autoscaler
//! trajectory, which no closed form gives, is written out by hand. `sim run` ignores the block.

use serde::{Deserialize, Serialize};

use crate::units::Seconds;

/// A closed form and the metrics to compare with it, chosen by `kind`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TheorySpec {
    /// M/M/c FIFO: Poisson arrivals, exponential service, the slots as servers, no deadline.
    ErlangC {
        /// Metrics to compare.
        checks: Vec<ErlangCCheck>,
    },
    /// M/G/c/c loss system (Erlang B): a pending deadline of 0 s turns a full house away.
    ErlangB {
        /// Metrics to compare.
        checks: Vec<ErlangBCheck>,
    },
    /// M/G/1 FIFO (Pollaczek–Khinchine): one slot, any service distribution.
    PollaczekKhinchine {
        /// Metrics to compare.
        checks: Vec<PollaczekKhinchineCheck>,
    },
    /// M/G/1 processor sharing: one CPU burst per request on one shared vCPU.
    ProcessorSharing {
        /// Metrics to compare.
        checks: Vec<ProcessorSharingCheck>,
    },
    /// M/G/∞: slots never run out, so response times are service times.
    MgInfinity {
        /// Metrics to compare.
        checks: Vec<MgInfinityCheck>,
    },
    /// Fork–join: a turn fans out to k identical LLM calls and ends when the last returns.
    ForkJoin {
        /// Metrics to compare.
        checks: Vec<ForkJoinCheck>,
    },
    /// An autoscaler's hand-worked instance count in windows where it is flat.
    AutoscalerTrajectory {
        /// Windows of the expected trajectory.
        windows: Vec<TrajectoryWindow>,
    },
}

/// Erlang C checks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErlangCCheck {
    /// P(wait > 0), the Erlang C formula.
    PWait,
    /// Mean wait in the pending queue.
    MeanWait,
    /// Mean response time.
    MeanResponse,
    /// Median response time.
    ResponseP50,
    /// 95th percentile of the response time.
    ResponseP95,
    /// 99th percentile of the response time.
    ResponseP99,
}

/// Erlang B checks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErlangBCheck {
    /// Share of requests turned away: the error rate.
    Blocking,
}

/// Pollaczek–Khinchine checks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PollaczekKhinchineCheck {
    /// Mean wait in the pending queue.
    MeanWait,
}

/// Processor-sharing checks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProcessorSharingCheck {
    /// Mean response time, E\[S\]/(1 − ρ).
    MeanResponse,
    /// Mean slowdown T/x, 1/(1 − ρ) for every size x.
    MeanSlowdown,
}

/// M/G/∞ checks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MgInfinityCheck {
    /// Median response time: the service median.
    ResponseP50,
    /// 95th percentile: the service p95.
    ResponseP95,
    /// 99th percentile: the service p99.
    ResponseP99,
    /// Mean response time: the service mean.
    MeanResponse,
}

/// Fork–join checks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ForkJoinCheck {
    /// Mean turn time, H_k/μ (exponential branches only).
    MeanTurn,
    /// Median turn time: the branch quantile at 0.5^(1/k).
    TurnP50,
    /// 95th percentile of the turn time.
    TurnP95,
    /// 99th percentile of the turn time.
    TurnP99,
}

/// One flat stretch of an autoscaler's expected trajectory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrajectoryWindow {
    /// What the row reports, e.g. `instances at 3/s, 5-10 min`.
    pub label: String,
    /// Expected time-averaged ready instances in the window.
    pub instances: f64,
    /// Window start (simulated time).
    pub from: Seconds,
    /// Window end (exclusive).
    pub to: Seconds,
}
