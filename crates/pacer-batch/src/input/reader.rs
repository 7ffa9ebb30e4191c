//! [`PromptReader`]: the prompts of one input file, pulled one at a time.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::csv_rows::CsvRows;
use super::error::{InputError, Problem};
use super::format::{Format, skip_bom};
use super::item;
use super::json_array::JsonElements;
use super::jsonl::JsonLines;
use super::prompt::{Origin, Prompt};
use super::step::Step;

/// The prompts of an input file, in file order, read as they are needed.
///
/// Each item yields `Ok(prompt)` or, when it is unusable, an `Err` naming its line; the items
/// after it follow. A problem with the file itself (unreadable, broken JSON, no prompts at
/// all) is yielded once and ends the iteration. Duplicate ids are not checked here: that is
/// [`scan`](super::scan)'s job, before a run.
///
/// [`with_limit`](PromptReader::with_limit) stops after the first N prompts, errors not
/// counted; `Iterator::take` would count the errors too.
///
/// ```no_run
/// use std::path::Path;
///
/// use pacer_batch::input::PromptReader;
///
/// for prompt in PromptReader::open(Path::new("prompts.jsonl"))?.with_limit(Some(10)) {
///     let prompt = prompt?;
///     println!("{}: {} messages", prompt.id, prompt.messages.len());
/// }
/// # Ok::<(), pacer_batch::input::InputError>(())
/// ```
pub struct PromptReader {
    path: PathBuf,
    format: Format,
    source: Source,
    /// Items seen so far, valid or not.
    items: u64,
    /// Prompts yielded so far.
    prompts: u64,
    limit: Option<u64>,
    done: bool,
}

/// Where the raw items come from.
enum Source {
    Json(JsonElements),
    Jsonl(JsonLines<BufReader<File>>),
    Csv(CsvRows<BufReader<File>>),
}

impl PromptReader {
    /// Opens `path`, in the format its extension names or, failing that, the one its first
    /// bytes suggest (see [`Format::sniff`]).
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let input = open_file(path)?;
        let format = match Format::from_path(path) {
            Some(format) => format,
            None => Format::sniff(path)?,
        };
        Self::start(path, input, format)
    }

    /// Opens `path` as `format`, whatever its extension.
    pub fn open_as(path: &Path, format: Format) -> Result<Self, InputError> {
        Self::start(path, open_file(path)?, format)
    }

    fn start(path: &Path, input: BufReader<File>, format: Format) -> Result<Self, InputError> {
        let source = match format {
            Format::Json => Source::Json(
                JsonElements::start(input)
                    .map_err(|source| InputError::new(path, Problem::Read { source }))?,
            ),
            Format::Jsonl => Source::Jsonl(JsonLines::new(input)),
            Format::Csv => Source::Csv(CsvRows::new(input)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            format,
            source,
            items: 0,
            prompts: 0,
            limit: None,
            done: false,
        })
    }

    /// Stops after `limit` prompts (`None`: no limit). Invalid items do not count.
    pub fn with_limit(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format it is read as.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl fmt::Debug for PromptReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("items", &self.items)
            .field("prompts", &self.prompts)
            .field("limit", &self.limit)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Iterator for PromptReader {
    type Item = Result<Prompt, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.limit.is_some_and(|limit| self.prompts >= limit) {
            return None;
        }
        let step = match &mut self.source {
            Source::Json(elements) => elements.step(),
            Source::Jsonl(lines) => lines.step(),
            Source::Csv(rows) => rows.step(),
        };
        match step {
            Step::Item { line, item } => {
                self.items += 1;
                let origin = Origin {
                    line,
                    index: self.items,
                };
                let prompt = item
                    .and_then(|value| item::to_prompt(value, origin))
                    .map_err(|error| InputError::at(&self.path, origin, error));
                self.prompts += u64::from(prompt.is_ok());
                Some(prompt)
            }
            Step::Fatal { line, problem } => {
                self.done = true;
                let mut error = InputError::new(&self.path, problem);
                error.line = line;
                Some(Err(error))
            }
            Step::End => {
                self.done = true;
                (self.items == 0).then(|| Err(InputError::new(&self.path, Problem::Empty)))
            }
        }
    }
}

/// Opens `path` for reading, past any byte order mark; a folder is refused here, where the
/// message can say so.
fn open_file(path: &Path) -> Result<BufReader<File>, InputError> {
    let open_error = |source| InputError::new(path, Problem::Open { source });
    let file = File::open(path).map_err(open_error)?;
    if file.metadata().map_err(open_error)?.is_dir() {
        return Err(open_error(io::ErrorKind::IsADirectory.into()));
    }
    let mut input = BufReader::new(file);
    skip_bom(&mut input).map_err(|source| InputError::new(path, Problem::Read { source }))?;
    Ok(input)
}
