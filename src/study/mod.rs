//! Studies of many runs: sweeps (every point of a file, on one pool of workers) and, built on
//! them, capacity searches.

pub mod capacity;
pub mod checkpoint;
pub mod shard;
pub mod sweep;
