//! JSONL input: one JSON object per line, read line by line; blank lines are skipped.

use std::io::BufRead;

use serde_json::Value;

use super::error::Problem;
use super::item::ItemError;
use super::step::Step;

/// The items of a JSONL file, one line at a time.
pub(crate) struct JsonLines<R> {
    input: R,
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            line: 0,
            buffer: Vec::new(),
        }
    }

    pub(crate) fn step(&mut self) -> Step {
        loop {
            self.buffer.clear();
            match self.input.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return Step::End,
                Ok(_) => self.line += 1,
                Err(source) => {
                    return Step::Fatal {
                        line: Some(self.line + 1),
                        problem: Problem::Read { source },
                    };
                }
            }
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let item =
                serde_json::from_slice::<Value>(self.buffer.trim_ascii_end()).map_err(|error| {
                    ItemError::whole(Problem::Syntax {
                        column: error.column() as u64,
                        message: syntax_message(&error),
                    })
                });
            return Step::Item {
                line: self.line,
                item,
            };
        }
    }
}

/// What serde_json says is wrong, without the " at line L column C" it appends: the line
/// and column are placed by the error's own fields.
pub(crate) fn syntax_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let place = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&place) {
        Some(message) => message.to_owned(),
        None => message,
    }
}
