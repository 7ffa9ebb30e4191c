//! Anthropic's Messages API, for clients that speak it (the `anthropic` SDKs): a Messages
//! body as Pacer's request, and Pacer's reply as a `message`, as the stream of events that
//! tells one, as a `count_tokens` reply, or as an error.
//!
//! - `request`: the body (`tools`, `tool_choice`, `max_tokens` and the sampling
//!   parameters), and `count_tokens`' body.
//! - `turns`: its conversation (`system`, and `messages` of text, image, `tool_use` and
//!   `tool_result` blocks).
//! - `reply`: the `message` object, the `count_tokens` reply and the error body.
//! - `events`: [`MessageEvents`], the stream written as the reply's deltas come.

mod events;
mod reply;
mod request;
mod turns;

pub(crate) use events::MessageEvents;
pub(crate) use reply::{count, error_body, message};
pub(crate) use request::{count_request, request};
