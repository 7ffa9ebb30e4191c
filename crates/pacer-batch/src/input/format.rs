//! The three input formats, told apart by the file's extension or, failing that, its first
//! bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::Deserializer as _;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use super::error::{InputError, Problem};
use super::progress::{LineCounter, Progress};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How an input file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A JSON array of prompt objects, or a JSON object holding one under `prompts`.
    Json,
    /// One JSON object per line (OpenAI Batch API input lines included); blank lines skipped.
    Jsonl,
    /// A header row naming the fields, then one prompt per row.
    Csv,
}

impl Format {
    /// The format an extension names: `.json`, `.jsonl` or `.ndjson`, `.csv` (any case).
    /// `None` for any other extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The format of a file whose extension says nothing, from its first bytes: `[` is JSON;
    /// `{` is JSONL, unless the first object spans several lines or holds `prompts` (then
    /// JSON); anything else is CSV. A file holding nothing is taken as JSONL (it is empty in
    /// every format).
    pub fn sniff(path: &Path) -> Result<Format, InputError> {
        let file =
            File::open(path).map_err(|source| InputError::new(path, Problem::Open { source }))?;
        let read_error = |source| InputError::new(path, Problem::Read { source });
        let mut input = BufReader::new(file);
        match first_byte(&mut input).map_err(read_error)? {
            None => Ok(Format::Jsonl),
            Some(b'[') => Ok(Format::Json),
            Some(b'{') => first_object(input).map_err(read_error),
            Some(_) => Ok(Format::Csv),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Jsonl => "JSONL",
            Format::Csv => "CSV",
        })
    }
}

/// Skips a UTF-8 byte order mark at the start of `input`, which some editors write.
pub(crate) fn skip_bom(input: &mut impl BufRead) -> io::Result<()> {
    if input.fill_buf()?.starts_with(BOM) {
        input.consume(BOM.len());
    }
    Ok(())
}

/// The first byte that is not whitespace, consuming what comes before it.
fn first_byte(input: &mut impl BufRead) -> io::Result<Option<u8>> {
    skip_bom(input)?;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        if let Some(at) = buffer.iter().position(|byte| !byte.is_ascii_whitespace()) {
            let byte = buffer[at];
            input.consume(at);
            return Ok(Some(byte));
        }
        let len = buffer.len();
        input.consume(len);
    }
}

/// Tells JSONL from a JSON object by reading the first object (values skipped, not kept).
fn first_object(input: impl io::Read) -> io::Result<Format> {
    let progress = Progress::new();
    let mut json = serde_json::Deserializer::from_reader(LineCounter::new(input, progress.clone()));
    match json.deserialize_map(HasPrompts) {
        Ok(has_prompts) if has_prompts || progress.line() > 1 => Ok(Format::Json),
        Ok(_) => Ok(Format::Jsonl),
        Err(error) if error.is_io() => Err(error.into()),
        Err(error) if error.line() <= 1 => Ok(Format::Jsonl),
        Err(_) => Ok(Format::Json),
    }
}

/// Whether a JSON object has a `prompts` key.
struct HasPrompts;

impl<'de> Visitor<'de> for HasPrompts {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            found |= key == "prompts";
            map.next_value::<IgnoredAny>()?;
        }
        Ok(found)
    }
}
