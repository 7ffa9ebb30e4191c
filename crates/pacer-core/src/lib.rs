//! Pacer's vocabulary, shared by every other crate: what a request to a language model is,
//! what comes back, how tokens are counted, how failures are classified, and the [`Provider`]
//! trait that each API implements. No I/O happens here.

mod batch;
mod content;
mod error;
mod estimate;
mod events;
mod message;
mod params;
pub mod parse;
mod price;
mod provider;
mod ratelimit;
mod response;
mod response_events;
mod stream;
mod timestamp;
mod tools;

pub use batch::{
    BatchApi, BatchEnd, BatchInput, BatchLimits, BatchLine, BatchPhase, BatchResults, BatchStatus,
};
pub use content::{Content, Image, ImageBilling, Part};
pub use error::{ErrorKind, ProviderError};
pub use estimate::{Overheads, estimate_request, estimate_tokens, estimate_with};
pub use events::chat_completion_events;
pub use message::{Message, Request, Role};
pub use params::Params;
pub use price::Price;
pub use provider::{Accounting, DEFAULT_MAX_TOKENS, EmbeddingLimits, Provider};
pub use ratelimit::{LimitDimension, LimitReading, RateLimitInfo, parse_duration, retry_after};
pub use response::{Choice, FinishReason, Response, TokenLogprob, Usage};
pub use response_events::response_events;
pub use stream::{Delta, Deltas, Gather, Streaming, deltas_of};
pub use timestamp::{civil_from_days, days_from_civil, parse_rfc3339};
pub use tools::{Tool, ToolCall, ToolChoice};
