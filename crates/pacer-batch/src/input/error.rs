//! What can be wrong with an input file, and where: [`InputError`] names the file, the line,
//! the field and what was expected, and says what to do about it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::item::ItemError;
use super::prompt::Origin;

/// A problem with an input file, placed as precisely as the file allows.
///
/// Displays as `prompts.jsonl line 12: field `prompt`: expected a string, found a number; fix
/// the line, or pass --skip-invalid to record it and go on`.
#[derive(Debug)]
pub struct InputError {
    /// The input file, as it was given.
    pub path: PathBuf,
    /// 1-based line on which the faulty item starts, when known.
    pub line: Option<u64>,
    /// 1-based position of the faulty item in the file, when the problem is one item's.
    pub index: Option<u64>,
    /// The faulty field, as a path into the item (`messages[1].role`), when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with an input file or one of its items.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file cannot be opened: missing, a folder, or not readable.
    #[error(
        "cannot open it ({}); check that the path is right and that the file exists and is readable",
        source.kind()
    )]
    Open {
        /// Why the operating system refused.
        #[source]
        source: io::Error,
    },
    /// Reading the file failed part way.
    #[error("cannot read it ({}); check the file and the disk", source.kind())]
    Read {
        /// Why the operating system failed.
        #[source]
        source: io::Error,
    },
    /// The file holds no items at all.
    #[error("holds no prompts; check that this is the right file and that it is not empty")]
    Empty,
    /// A JSON file whose top-level value is neither an array nor an object with `prompts`.
    #[error("expected an array of prompts, or an object holding a `prompts` array, found {found}")]
    TopLevel {
        /// What the file holds instead.
        found: String,
    },
    /// A JSON file stops being valid JSON; nothing after this point can be read.
    #[error(
        "invalid JSON at column {column}: {message}; nothing after it can be read, fix the file and try again"
    )]
    JsonSyntax {
        /// 1-based column of the fault.
        column: u64,
        /// What the JSON parser expected.
        message: String,
    },
    /// One JSONL line is not valid JSON.
    #[error("invalid JSON at column {column}: {message}")]
    Syntax {
        /// 1-based column of the fault.
        column: u64,
        /// What the JSON parser expected.
        message: String,
    },
    /// One CSV row holds bytes that are not UTF-8.
    #[error("expected UTF-8 text, found bytes that are not")]
    NotUtf8,
    /// One CSV row has more or fewer cells than the header row.
    #[error("expected {expected} cells as in the header row, found {found}")]
    CsvCells {
        /// Cells in the header row.
        expected: u64,
        /// Cells in this row.
        found: u64,
    },
    /// An item that is not a JSON object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// The kind of JSON value found.
        found: &'static str,
    },
    /// A field holds the wrong kind of value (`field` on the error says which).
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What the field must hold.
        expected: &'static str,
        /// What it holds.
        found: String,
    },
    /// An item with none of `prompt`, `messages` and `input`.
    #[error("expected a `prompt` string, a `messages` list or an `input`, found none")]
    NoPrompt,
    /// An item with more than one of `prompt`, `messages` and `input`.
    #[error("expected one of `prompt`, `messages` and `input`, found more than one")]
    PromptAndMessages,
    /// An id seen before in the same file.
    #[error("duplicate id `{id}`, first seen at line {first_line}; ids must be unique")]
    DuplicateId {
        /// The id.
        id: String,
        /// The line on which the first item with this id starts.
        first_line: u64,
    },
}

impl Problem {
    /// Whether the problem is confined to one item, so that a run with `--skip-invalid` may
    /// record it and go on to the next item. Duplicate ids are not: the user must pick one.
    pub fn is_skippable(&self) -> bool {
        match self {
            Problem::Syntax { .. }
            | Problem::NotUtf8
            | Problem::CsvCells { .. }
            | Problem::NotAnObject { .. }
            | Problem::Expected { .. }
            | Problem::NoPrompt
            | Problem::PromptAndMessages => true,
            Problem::Open { .. }
            | Problem::Read { .. }
            | Problem::Empty
            | Problem::TopLevel { .. }
            | Problem::JsonSyntax { .. }
            | Problem::DuplicateId { .. } => false,
        }
    }
}

impl InputError {
    /// A problem with the file as a whole.
    pub(crate) fn new(path: &Path, problem: Problem) -> Self {
        Self {
            path: path.to_path_buf(),
            line: None,
            index: None,
            field: None,
            problem,
        }
    }

    /// A problem with the item at `origin`.
    pub(crate) fn at(path: &Path, origin: Origin, error: ItemError) -> Self {
        Self {
            path: path.to_path_buf(),
            line: Some(origin.line),
            index: Some(origin.index),
            field: error.field,
            problem: error.problem,
        }
    }

    /// Whether a run with `--skip-invalid` may record this error and go on; see
    /// [`Problem::is_skippable`].
    pub fn is_skippable(&self) -> bool {
        self.problem.is_skippable()
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match (self.line, self.index) {
            (Some(line), _) => write!(f, " line {line}")?,
            (None, Some(index)) => write!(f, " item {index}")?,
            (None, None) => {}
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.problem)?;
        if self.is_skippable() {
            f.write_str("; fix the line, or pass --skip-invalid to record it and go on")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The problem's own text is already part of this error's; go straight to its cause.
        std::error::Error::source(&self.problem)
    }
}
