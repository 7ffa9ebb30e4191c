//! `pacer mock` over loopback, one test binary (each test file a module): OpenAI's replies
//! and refusals, Anthropic's and Gemini's APIs with their limits, quotas, streams and token
//! counts, rate limits and injected faults, Pacer's own providers against the mock, and the
//! batch APIs on a paused clock.

mod common;

mod anthropic;
mod anthropic_limits;
mod anthropic_stream;
mod batches;
mod embeddings;
mod gemini;
mod gemini_stream;
mod limits_faults;
mod provider_shapes;
mod providers;
mod refusals;
mod replies;
mod responses;
mod tools;
