//! capsim: a discrete-event capacity simulator for LLM multi-agent apps on serverless
//! platforms. Flow: experiment file → [`config`] → [`system::model`] → [`system`] event loop
//! (one world per replication, on [`engine`]) → [`metrics`] → [`aggregate`] → [`report`].

#![warn(missing_docs, unreachable_pub)]

pub mod aggregate;
pub mod budget;
pub mod calibrate;
pub mod cli;
pub mod config;
pub mod dist;
pub mod engine;
pub mod interval_latencies;
pub mod metrics;
pub mod report;
pub mod results;
pub mod rng;
pub mod runner;
pub mod stats;
pub mod study;
pub mod system;
pub mod theory;
pub mod traps;
pub mod units;
pub mod validation;
pub mod verdict;
