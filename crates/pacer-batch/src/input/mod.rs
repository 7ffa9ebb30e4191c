//! Prompt inputs: reading the prompts of a run, one at a time, from a JSON, JSONL or CSV file
//! (OpenAI Batch API input lines included), and checking a whole file before a run starts.
//!
//! The input is streamed, never loaded whole: memory holds a few items at a time (and, in
//! [`scan`], a hash-table entry of two `u64`s per prompt id, about 35 MB for a million), so a
//! file of millions of prompts reads as easily as one of ten.

mod batch;
mod csv_rows;
mod error;
mod format;
mod ids;
mod item;
mod json_array;
mod jsonl;
mod progress;
mod prompt;
mod reader;
mod scan;
mod step;

pub use error::{InputError, Problem};
pub use format::Format;
pub use prompt::{Endpoint, Origin, Prompt};
pub use reader::PromptReader;
pub use scan::{Scan, scan};
