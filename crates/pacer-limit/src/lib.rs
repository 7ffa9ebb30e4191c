//! Pacer's rate limiter: one [`Limiter`] per lane, holding a reserving bucket for each limit
//! the provider enforces (requests, tokens, input and output tokens per minute), a coordinated
//! cool-down after rate-limit errors, and a slow start after it. It learns limits it was not
//! given from the server's `x-ratelimit-*` replies, and follows the server's `remaining`
//! down when others share the key. With a [`remote::SharedKey`] its buckets live in Redis, so
//! that processes on any number of hosts share one budget ([`Limiter::shared`]).
//!
//! Written by hand rather than taken from a crate because it is the heart of the product: it
//! needs weighted reservations across several buckets at once, settling to the actual usage
//! afterwards, cool-down epochs that count one event per burst of 429s, and a slow-start
//! ramp. `governor` has the weighted wait but none of the rest.

mod bucket;
mod config;
mod cost;
mod limiter;
pub mod remote;

pub use config::{LimiterConfig, Limits};
pub use cost::{Cost, Dimension};
pub use limiter::{LimitError, Limiter, Permit, Reading, Verdict};
