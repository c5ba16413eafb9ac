//! The simulated world: users and sessions, instances, the router and its pending queue, the
//! autoscaler, the LLM provider, the datastore, rate limits and cost, driven by the event
//! queue. One [`World`] runs one replication; entities live in vectors indexed by integer ids
//! and events are small plain values, so the steady state allocates nothing per event.
//!
//! Request life: an actor (virtual user or arriving session) sends a request; the router puts
//! it on a ready instance with a free slot or in the FIFO pending queue (failing it with 429 at
//! the deadline); on its instance the request runs its pipeline (see [`pipeline`]) while
//! holding the slot; on success or failure it frees the slot, the next pending request takes
//! it, and the actor moves on.

pub mod autoscaler;
pub mod build_error;
pub mod cost;
pub mod ids;
pub mod instance;
pub mod llm;
pub mod model;
pub mod pipeline;
pub mod rate_limit;
pub mod session;
pub mod workload;

mod world;

pub use world::{
    Aborted, MAX_REQUESTS_IN_SYSTEM, MIN_STALL_EVENTS, ReplicationResult, STALL_EVENTS_PER_ACTOR,
    run_replication,
};
