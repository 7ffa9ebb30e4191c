//! The providers against loopback servers, one test binary (each test file a module):
//! OpenAI's (chat, Responses, legacy completions, embeddings), Anthropic's and Gemini's
//! requests, replies, streams and every way a call fails, the gateway's pass-through,
//! structured output, and (feature `local`) SmolLM2 through candle.

mod support;

mod anthropic;
mod anthropic_errors;
mod anthropic_shapes;
mod anthropic_stream;
mod forward;
mod gemini;
mod gemini_embeddings;
mod gemini_errors;
mod gemini_shapes;
mod gemini_stream;
mod openai;
mod openai_embeddings;
mod openai_errors;
mod openai_models;
mod openai_replies;
mod openai_responses;
mod openai_shapes;
mod openai_stream;
mod structured;
