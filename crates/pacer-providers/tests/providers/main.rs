//! The providers against loopback servers, one test binary (each test file a module):
//! OpenAI's, Anthropic's and Gemini's requests, replies and every way a call fails,
//! structured output, and (feature `local`) SmolLM2 through candle.

mod support;

mod anthropic;
mod anthropic_errors;
mod gemini;
mod gemini_errors;
mod local_smollm2;
mod openai;
mod openai_errors;
mod openai_models;
mod openai_replies;
mod structured;
