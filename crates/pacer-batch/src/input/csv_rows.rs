//! CSV input: a header row naming the fields, then one item per row. Every cell is a string,
//! an empty cell is an absent field, and a `messages` cell holds the chat as JSON.

use std::io::{self, Read};

use csv::{ErrorKind, StringRecord};
use serde_json::{Map, Value};

use super::error::Problem;
use super::item::ItemError;
use super::step::Step;

/// The items of a CSV file, one row at a time.
pub(crate) struct CsvRows<R> {
    reader: csv::Reader<R>,
    header: Option<Vec<String>>,
    record: StringRecord,
}

impl<R: Read> CsvRows<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            reader: csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(input),
            header: None,
            record: StringRecord::new(),
        }
    }

    pub(crate) fn step(&mut self) -> Step {
        if self.header.is_none() {
            match self.reader.byte_headers() {
                // Names are only keys: a stray byte or space in one is no reason to refuse
                // the file.
                Ok(names) => {
                    let names = names
                        .iter()
                        .map(|name| String::from_utf8_lossy(name).trim().to_owned());
                    self.header = Some(names.collect());
                }
                Err(error) => return failure(error),
            }
        }
        match self.reader.read_record(&mut self.record) {
            Ok(false) => Step::End,
            Ok(true) => Step::Item {
                line: self.record.position().map_or(0, csv::Position::line),
                item: row(self.header.as_deref().unwrap_or_default(), &self.record),
            },
            Err(error) => failure(error),
        }
    }
}

/// One row as the JSON object it stands for.
fn row(header: &[String], record: &StringRecord) -> Result<Value, ItemError> {
    let mut fields = Map::new();
    for (name, cell) in header.iter().zip(record) {
        if cell.is_empty() {
            continue;
        }
        let value = if name == "messages" {
            serde_json::from_str(cell).map_err(|error| ItemError {
                field: Some(name.clone()),
                problem: Problem::Expected {
                    expected: "a JSON list of {role, content} messages",
                    found: format!("text that is not JSON ({error})"),
                },
            })?
        } else {
            Value::String(cell.to_owned())
        };
        fields.insert(name.clone(), value);
    }
    Ok(Value::Object(fields))
}

/// A row the CSV reader refused: one bad row can be skipped, a failing disk cannot.
fn failure(error: csv::Error) -> Step {
    let line = error.position().map(csv::Position::line);
    let problem = match error.kind() {
        ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Problem::CsvCells {
            expected: *expected_len,
            found: *len,
        },
        ErrorKind::Utf8 { .. } => Problem::NotUtf8,
        _ => {
            let source = match error.into_kind() {
                ErrorKind::Io(source) => source,
                other => io::Error::other(format!("{other:?}")),
            };
            return Step::Fatal {
                line,
                problem: Problem::Read { source },
            };
        }
    };
    Step::Item {
        line: line.unwrap_or(0),
        item: Err(ItemError::whole(problem)),
    }
}
