//! The `pacer serve` gateway, one test binary (each test file a module): in front of
//! `pacer mock` over loopback (routing, keys, retries, usage and metrics) and driven in
//! process on tokio's paused clock.

mod common;

mod deployments;
mod embeddings;
mod gateway;
mod gateway_in_process;
mod gateway_retries;
mod gateway_usage;
mod messages;
mod responses;
mod tools;
