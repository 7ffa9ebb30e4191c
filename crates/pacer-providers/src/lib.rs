//! Pacer's providers, one folder each, all behind [`pacer_core::Provider`].
//!
//! - [`mock`]: deterministic replies with injected latency, failures and rate limits, for
//!   demos, tests and benchmarks without a network or a key.
//! - [`openai`]: OpenAI and every OpenAI-compatible server.
//! - [`anthropic`]: Anthropic's Messages API.
//! - [`gemini`]: Google's Gemini API (`generateContent`).
//!
//! `http` (private) holds what the HTTP providers share, the one client first; each
//! provider's wire types stay inside its folder.

pub mod anthropic;
pub mod gemini;
mod http;
#[cfg(feature = "local")]
pub use pacer_local as local;
pub mod mock;
pub mod openai;
pub mod prices;
mod transfer;

pub use mock::{MockConfig, MockProvider};
