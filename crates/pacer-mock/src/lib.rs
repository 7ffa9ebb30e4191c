//! `pacer mock`: an HTTP server that stands in for OpenAI's API, so that Pacer (or any
//! OpenAI client) can be tested and benchmarked without a network, a key or a bill.
//!
//! It serves `POST /v1/chat/completions`, `POST /v1/completions` and `GET /v1/models` with
//! the deterministic replies of [`pacer_providers::mock::reply`], and enforces what real
//! providers do:
//!
//! - rate limits per minute on requests and tokens, as token buckets, with OpenAI's
//!   `x-ratelimit-*` headers on every reply and `retry-after(-ms)` on 429s;
//! - a total token quota (`insufficient_quota`);
//! - an API key, a model allow-list, and the parameters reasoning models refuse;
//! - latency, and injected faults: 500s, 503s, dropped connections, truncated bodies and
//!   replies slower than any client timeout.
//!
//! `GET /stats` returns the counters ([`Stats`]); `POST /stats/reset` zeroes them.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use pacer_mock::{MockServer, MockServerConfig};
//!
//! let server = MockServer::start(MockServerConfig {
//!     rpm: Some(600),
//!     ..MockServerConfig::default()
//! })
//! .await?;
//! println!("base url: {}", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod anthropic;
mod cli;
mod complete;
mod config;
mod endpoints;
mod gemini;
mod handler;
mod limiter;
mod replies;
mod respond;
mod server;
mod stats;
mod timefmt;

pub use cli::{MockArgs, run};
pub use config::MockServerConfig;
pub use server::MockServer;
pub use stats::Stats;
