//! A real orchestration service shaped like the improv app (`shared/reference/ai4joy.md`): its
//! HTTP API, limits, agents, history, SQLite persistence, LLM backends and OTLP/JSON traces; and a
//! Locust-like load driver. It shares no simulation code with capsim: its traces and CSV files are
//! what capsim calibrates from and validates against.

pub mod agents;
pub mod api;
pub mod auth;
pub mod config;
pub mod cpu;
pub mod front;
pub mod history;
pub mod llm;
pub mod load;
pub mod service;
pub mod store;
pub mod time;
pub mod trace;
