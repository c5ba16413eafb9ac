//! Cost accounting: platform compute from instance records, LLM tokens and datastore
//! operations from running counters. Totals are cumulative from time 0; the cost of the
//! measured window is the difference of two snapshots.

use crate::config::Billing;

use super::instance::Instance;
use super::model::Model;

/// Cumulative dollars by component.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CostTotals {
    /// Platform vCPU (active time, or lifetime under instance billing).
    pub cloud_run_cpu: f64,
    /// Platform memory.
    pub cloud_run_memory: f64,
    /// Idle min instances (request-based billing).
    pub cloud_run_idle: f64,
    /// Request fees.
    pub cloud_run_requests: f64,
    /// LLM input tokens.
    pub llm_input: f64,
    /// LLM output and thinking tokens.
    pub llm_output: f64,
    /// Datastore reads.
    pub datastore_reads: f64,
    /// Datastore writes.
    pub datastore_writes: f64,
    /// Datastore deletes.
    pub datastore_deletes: f64,
}

/// Component names, in [`CostTotals::components`] order.
pub const COST_NAMES: [&str; 9] = [
    "cloud_run_cpu",
    "cloud_run_memory",
    "cloud_run_idle",
    "cloud_run_requests",
    "llm_input",
    "llm_output",
    "firestore_reads",
    "firestore_writes",
    "firestore_deletes",
];

impl CostTotals {
    /// Values in [`COST_NAMES`] order.
    pub fn components(&self) -> [f64; 9] {
        [
            self.cloud_run_cpu,
            self.cloud_run_memory,
            self.cloud_run_idle,
            self.cloud_run_requests,
            self.llm_input,
            self.llm_output,
            self.datastore_reads,
            self.datastore_writes,
            self.datastore_deletes,
        ]
    }

    /// Sum of all components.
    pub fn total(&self) -> f64 {
        self.components().iter().sum()
    }

    /// Component-wise difference.
    pub fn since(&self, earlier: &CostTotals) -> CostTotals {
        CostTotals {
            cloud_run_cpu: self.cloud_run_cpu - earlier.cloud_run_cpu,
            cloud_run_memory: self.cloud_run_memory - earlier.cloud_run_memory,
            cloud_run_idle: self.cloud_run_idle - earlier.cloud_run_idle,
            cloud_run_requests: self.cloud_run_requests - earlier.cloud_run_requests,
            llm_input: self.llm_input - earlier.llm_input,
            llm_output: self.llm_output - earlier.llm_output,
            datastore_reads: self.datastore_reads - earlier.datastore_reads,
            datastore_writes: self.datastore_writes - earlier.datastore_writes,
            datastore_deletes: self.datastore_deletes - earlier.datastore_deletes,
        }
    }
}

/// Prices of the platform for the chosen billing mode, per second.
#[derive(Clone, Copy, Debug)]
pub struct PlatformRates {
    /// Billing mode.
    pub billing: Billing,
    /// $ per vCPU-second (active, or lifetime).
    pub vcpu_second: f64,
    /// $ per GiB-second.
    pub gib_second: f64,
    /// $ per idle min-instance vCPU-second.
    pub idle_vcpu_second: f64,
    /// $ per idle min-instance GiB-second.
    pub idle_gib_second: f64,
    /// $ per request.
    pub request: f64,
    /// Billing granularity, seconds.
    pub granularity: f64,
}

impl PlatformRates {
    /// Rates from the experiment's price list.
    pub fn from_prices(billing: Billing, p: &crate::config::PlatformPrices) -> Self {
        match billing {
            Billing::Request => Self {
                billing,
                vcpu_second: p.request_based.vcpu_second.0,
                gib_second: p.request_based.gib_second.0,
                idle_vcpu_second: p.request_based.idle_vcpu_second.0,
                idle_gib_second: p.request_based.idle_gib_second.0,
                request: p.request_based.request.0,
                granularity: p.granularity.0,
            },
            Billing::Instance => Self {
                billing,
                vcpu_second: p.instance_based.vcpu_second.0,
                gib_second: p.instance_based.gib_second.0,
                idle_vcpu_second: 0.0,
                idle_gib_second: 0.0,
                request: 0.0,
                granularity: p.granularity.0,
            },
        }
    }
}

/// Platform compute cost of all `instances` of `model` from time 0 to `now`, added into
/// `totals`.
pub fn add_compute(model: &Model, instances: &[Instance], now: f64, totals: &mut CostTotals) {
    let rates = &model.rates;
    for inst in instances {
        let (active, idle) = match rates.billing {
            Billing::Instance => (inst.lifetime_until(now), 0.0),
            Billing::Request => {
                let startup = inst.startup_until(now);
                let busy = inst.billed_busy_until(now);
                let idle = if inst.is_min {
                    (inst.lifetime_until(now) - startup - busy).max(0.0)
                } else {
                    0.0
                };
                (startup + busy, idle)
            }
        };
        totals.cloud_run_cpu += active * model.vcpu * rates.vcpu_second;
        totals.cloud_run_memory += active * model.memory_gib * rates.gib_second;
        totals.cloud_run_idle +=
            idle * (model.vcpu * rates.idle_vcpu_second + model.memory_gib * rates.idle_gib_second);
    }
}
