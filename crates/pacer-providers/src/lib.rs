//! Pacer's providers, one folder each, all behind [`pacer_core::Provider`].
//!
//! - [`mock`]: deterministic replies with injected latency, failures and rate limits, for
//!   demos, tests and benchmarks without a network or a key.

pub mod mock;

pub use mock::{MockConfig, MockProvider};
