//! Pacer's providers, one folder each, all behind [`pacer_core::Provider`].
//!
//! - [`mock`]: deterministic replies with injected latency, failures and rate limits, for
//!   demos, tests and benchmarks without a network or a key.
//! - [`openai`]: OpenAI and every OpenAI-compatible server.
//! - [`anthropic`]: Anthropic's Messages API.
//! - [`gemini`]: Google's Gemini API (`generateContent`).
//!
//! `http` (private) holds what the HTTP providers share, the one client first; `sse` the
//! reading of a streamed reply's server-sent events, each provider's `stream` module saying
//! what its events mean; `forward` the gateway's pass-through ([`Forwarded`]). Each
//! provider's wire types stay inside its folder.

pub mod anthropic;
mod forward;
pub mod gemini;
mod http;
#[cfg(feature = "local")]
pub use pacer_local as local;
pub mod mock;
pub mod openai;
pub mod prices;
mod sse;
mod transfer;

pub use forward::Forwarded;
pub use mock::{MockConfig, MockProvider};
