//! `pacer report`: one self-contained HTML file of one or more run folders.
//!
//! Each folder's `results.jsonl` is streamed once: counts, sums, latency histograms and
//! per-second counts per model label are kept (see [`aggregate`](mod@aggregate)), and a
//! sample of prompts for the browser, the same prompt ids in every run (see
//! [`sample`](mod@sample)). `run.json`, `summary.json` and `events.jsonl` add the configured
//! limits, what was pending and the lane events. [`render`] puts the numbers, as JSON, into
//! a page whose script draws it with Chart.js: both are embedded in the binary and in the
//! file, so the report opens offline in any browser.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//!
//! let folders = [PathBuf::from("pacer-results/example")];
//! let written = pacer_report::write(&folders, Path::new("report.html"), &Default::default())?;
//! println!("{} records in {} bytes", written.records, written.bytes);
//! # Ok::<(), pacer_report::ReportError>(())
//! ```

mod aggregate;
mod data;
mod events;
mod folder;
mod html;
mod line;
mod sample;

use std::path::{Path, PathBuf};

pub use data::{
    Answer, Category, EventView, Histogram, Limits, Model, PromptView, ReportData, Run, Stats,
    Timeline, Tokens,
};
pub use html::render;

/// The prompts the browser keeps unless told otherwise.
pub const DEFAULT_PROMPTS: usize = 500;
/// The most JSON the prompt browser's prompts take: with the aggregates and the page, a
/// report stays under about 20 MB whatever `--prompts` asks.
const MAX_PROMPT_BYTES: usize = 16_000_000;

/// How to make a report.
#[derive(Clone, Debug)]
pub struct Options {
    /// The most prompts in the browser.
    pub prompts: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            prompts: DEFAULT_PROMPTS,
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The folder has no results.
    #[error(
        "{} holds no results.jsonl: name the output folder of a `pacer run` (the one with results.jsonl and run.json)",
        .0.display()
    )]
    NoResults(PathBuf),
    /// A file could not be read or written.
    #[error("could not {doing} {}: {source}", path.display())]
    Io {
        /// What was being done.
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of the results, not the last, is not a record.
    #[error("{} line {line}: not a result record ({message}); repair or delete that line, then make the report again", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: u64,
        /// What serde said (the field and what was expected).
        message: String,
    },
    /// `run.json`, `summary.json` or `events.jsonl` could not be read.
    #[error(transparent)]
    Journal(#[from] pacer_batch::JournalError),
}

/// What [`write`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Records read over every folder.
    pub records: u64,
    /// Prompts in the browser.
    pub prompts: usize,
    /// Prompts left out of the browser to keep the file small.
    pub prompts_left_out: usize,
    /// The file's size.
    pub bytes: u64,
}

/// Reads every folder of `folders` once and computes the report's data.
pub fn build(folders: &[PathBuf], options: &Options) -> Result<ReportData, ReportError> {
    let mut sampler = sample::Sampler::new(options.prompts, MAX_PROMPT_BYTES);
    let mut runs = Vec::with_capacity(folders.len());
    let mut prompts_files = Vec::new();
    let mut prompts_seen = 0;
    for (index, dir) in folders.iter().enumerate() {
        let read = folder::read(index, dir, &mut sampler)?;
        prompts_seen = prompts_seen.max(read.prompts_seen);
        prompts_files.push(read.prompts_file);
        runs.push(read.run);
    }
    folder::unique_names(&mut runs);
    let (mut prompts, shrunk) = sampler.finish();
    for file in prompts_files.iter().flatten() {
        if prompts.iter().all(|p| p.prompt.is_some()) {
            break;
        }
        folder::fill_prompt_texts(file, &mut prompts);
    }
    let (prompts, cut) = sample::fit(prompts, MAX_PROMPT_BYTES);
    // Without the cut, the sample would have held the prompts asked for, or every one.
    let prompts_left_out = match shrunk || cut {
        true => options
            .prompts
            .min(prompts_seen as usize)
            .saturating_sub(prompts.len()),
        false => 0,
    };
    Ok(ReportData {
        pacer_version: env!("CARGO_PKG_VERSION").to_owned(),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        prompts_limit: options.prompts,
        prompts_seen,
        prompts_left_out,
        runs,
        prompts,
    })
}

/// Makes the report of `folders` and writes it to `out` whole (a partial file never stays).
pub fn write(folders: &[PathBuf], out: &Path, options: &Options) -> Result<Written, ReportError> {
    let data = build(folders, options)?;
    let page = render(&data);
    let io = |doing| {
        let path = out.to_path_buf();
        move |source| ReportError::Io {
            doing,
            path,
            source,
        }
    };
    let tmp = out.with_extension("html.tmp");
    std::fs::write(&tmp, page.as_bytes()).map_err(io("write"))?;
    std::fs::rename(&tmp, out).map_err(io("write"))?;
    Ok(Written {
        records: data.runs.iter().map(|r| r.records).sum(),
        prompts: data.prompts.len(),
        prompts_left_out: data.prompts_left_out,
        bytes: page.len() as u64,
    })
}

#[cfg(test)]
mod tests;
