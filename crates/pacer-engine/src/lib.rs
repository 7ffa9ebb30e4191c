//! Pacer's engine: a [`Lane`] takes work items for one model and, with bounded concurrency,
//! paces them under the model's limits, sends them, classifies what comes back, retries what
//! may succeed, pauses the whole lane on rate limits, and hands every item back as exactly
//! one [`Outcome`] (or leaves it pending when the lane stops).
//!
//! ```text
//! limiter.acquire(estimate) -> middleware.before -> provider.send -> middleware.after
//!        ^                                                              |
//!        |                                               validator (structured output)
//!        |                                                              |
//!        +---- cool-down (429) / backoff (retryable) <--- classify <----+---> Outcome
//! ```

mod budget;
mod estimate;
mod event;
mod lane;
mod learn;
mod middleware;
mod outcome;
mod retry;
mod schedule;
mod stats;
pub mod validate;
mod work;

pub use budget::{Budget, Exhausted, Reservation, Spending};
pub use estimate::estimate;
pub use event::{Event, Observer};
pub use lane::{
    Lane, LaneBuilder, LaneConfig, NotDone, StopHandle, StopReason, UNPACED_IN_FLIGHT, Unfinished,
};
pub use learn::{judge_refusal, learn_from};
pub use middleware::Middleware;
pub use outcome::Outcome;
pub use retry::RetryPolicy;
pub use schedule::AttemptSchedule;
pub use stats::Stats;
pub use validate::{InvalidSchema, Rejected, SchemaValidator, Validator, strip_fence};
pub use work::{Attempt, DirectCall, Work, WorkItem};
