//! `pacer mock`: an HTTP server that stands in for OpenAI's, Anthropic's and Gemini's APIs,
//! so that Pacer (or any of their clients) can be tested and benchmarked without a network,
//! a key or a bill.
//!
//! It serves OpenAI's `POST /v1/chat/completions`, `POST /v1/completions`,
//! `POST /v1/embeddings`, `POST /v1/responses` and `GET /v1/models`, Anthropic's
//! `POST /v1/messages` and `POST /v1/messages/count_tokens`, and Gemini's
//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`, `:embedContent`
//! and `:batchEmbedContents` (or `/v1/...`), all with the deterministic replies of
//! [`pacer_providers::mock::reply`], and enforces what the real services do, each in its own
//! words:
//!
//! - rate limits per minute on requests and tokens (and Anthropic's input and output
//!   tokens), as token buckets, with OpenAI's `x-ratelimit-*` or Anthropic's
//!   `anthropic-ratelimit-*` headers on every reply and `retry-after` on 429s (Gemini: none,
//!   the wait is in the 429's `RetryInfo`);
//! - a total token quota (OpenAI's `insufficient_quota`, Anthropic's credit balance,
//!   Gemini's daily quota);
//! - an API key, a model allow-list, and the parameters reasoning models refuse;
//! - latency, and injected faults: 500s, 503s, dropped connections, truncated bodies and
//!   replies slower than any client timeout (an overload is Anthropic's 529).
//!
//! A streamed reply (OpenAI's and Anthropic's `"stream": true`, Gemini's
//! `:streamGenerateContent`) is the whole reply re-sent as each API's events, one chunk each,
//! after the same limits, latency and faults; a refused request gets its usual JSON error.
//!
//! Every request shape is answered in each API's own form: content parts with images
//! (billed by each provider's rule, answered by their text), tools and tool choices (a
//! reply calls a tool when the choice forces one or the last user message names one; a
//! tool result gets a text answer quoting it), embeddings (the in-process mock's vectors),
//! and refusals (a last user message holding `[refuse]`); see [`pacer_providers::mock`].
//!
//! It also serves the three providers' batch APIs, each in its own wire format: OpenAI's
//! `/v1/files` and `/v1/batches`, Anthropic's `/v1/messages/batches` and Gemini's
//! `models/{model}:batchGenerateContent` and `batches`. A batch is a pool apart from the
//! live endpoints, with none of their limits or faults: it ends after a set time, its lines
//! answered by the same code, some failed or expired as [`MockBatchConfig`] draws them, its
//! results shuffled where the API matches them by `custom_id`, and an enqueued-token limit.
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
mod batch;
mod body;
mod complete;
mod config;
mod content;
mod embeddings;
mod endpoints;
mod gemini;
mod handler;
mod limiter;
mod pieces;
mod replies;
mod requests;
mod respond;
mod responses;
mod server;
mod stats;
mod timefmt;
mod tokens;
mod tools;

pub use batch::MockBatchConfig;
pub use config::{InvalidConfig, MockServerConfig};
pub use server::MockServer;
pub use stats::Stats;
