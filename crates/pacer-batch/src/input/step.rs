//! What a source of raw items (a JSON array, JSONL lines, CSV rows) hands the reader next.

use serde_json::Value;

use super::error::Problem;
use super::item::ItemError;

/// The next thing a source found in its file.
#[derive(Debug)]
pub(crate) enum Step {
    /// One item, starting on `line`: a JSON value to turn into a prompt, or what makes it
    /// unreadable. Either way the source can go on to the next item.
    Item {
        line: u64,
        item: Result<Value, ItemError>,
    },
    /// Nothing more can be read from the file.
    Fatal { line: Option<u64>, problem: Problem },
    /// The file ended.
    End,
}
