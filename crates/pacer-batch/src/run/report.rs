//! How a batch ended ([`Report`]), or why it could not run ([`BatchError`]), and the list of
//! the prompts it skipped.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use std::sync::atomic::Ordering;

use pacer_core::ErrorKind;
use pacer_engine::StopReason;

use super::spawn;
use crate::{InputError, JournalError, LaneReport, Manifest, RESULTS_FILE, Summary, Tally};

/// How a run ended.
#[derive(Debug)]
pub struct Report {
    /// The summary written to `summary.json`.
    pub summary: Summary,
    /// Items that ended in this session (calls: samples sent together as `n` are one).
    pub finished: u64,
    /// Jobs not done yet (a lane stopped, or the run was stopped): a resume finishes them.
    pub pending: u64,
    /// The lanes that stopped before their input ran out, and why.
    pub stopped: Vec<(String, StopReason)>,
    /// Whether a [`Stopper`] stopped the run.
    pub interrupted: bool,
    /// Whether the budget stopped a lane.
    pub budget_exhausted: bool,
    /// The results file.
    pub results: PathBuf,
    /// Batches still running at the provider (batch mode, stopped before their results were
    /// in): a resume collects them.
    pub batches_in_flight: Vec<String>,
}

/// Why a batch could not run (what it finished before is kept in its folder).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The prompts file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The prompts file holds no prompt.
    #[error("{}: no prompts to run", .0.display())]
    NoPrompts(PathBuf),
    /// Every prompt is invalid.
    #[error("{}: no valid prompts to run: all {count} are invalid, the first: {first}", path.display())]
    NoValidPrompts {
        /// The prompts file.
        path: PathBuf,
        /// How many are invalid.
        count: usize,
        /// The first.
        first: Box<InputError>,
    },
    /// The output folder's files.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Two models share a label.
    #[error("two models are labelled `{0}`: give each a distinct label")]
    DuplicateLabel(String),
    /// A dollar budget needs every model's price.
    #[error("no price is known for `{0}`, and a budget in dollars needs one")]
    NoPrice(String),
    /// A new run in a folder whose batches (of an earlier run) may still be running.
    #[error("{} holds {count} batches of an earlier run (batches.jsonl): run with --resume to collect them, or --fresh to set them aside (they keep running at the provider: `pacer batches {} --cancel` cancels them)", dir.display(), dir.display())]
    HasBatches {
        /// The output folder.
        dir: PathBuf,
        /// Its batches.
        count: usize,
    },
    /// Batch mode on a provider without a batch API.
    #[error(
        "`{label}` is set to batch mode, but its provider ({provider}) has no batch API: batch mode works with openai, anthropic and gemini"
    )]
    NoBatchApi {
        /// The model's label.
        label: String,
        /// The provider.
        provider: &'static str,
    },
    /// An embedding model on a provider without an embeddings API.
    #[error(
        "`{label}` is an embedding model, but its provider ({provider}) has no embeddings API: embeddings work with openai (and compatible servers), gemini and mock"
    )]
    NoEmbeddings {
        /// The model's label.
        label: String,
        /// The provider.
        provider: &'static str,
    },
    /// Batch mode for an embedding model, which Pacer sends live only.
    #[error(
        "`{0}` is an embedding model set to batch mode: embedding models run live (packed many texts a request); set `mode = \"live\"` on it"
    )]
    EmbeddingBatch(String),
    /// A model with several deployments, in a mode that sends through one.
    #[error("`{label}` lists deployments, which spread live jobs over their lanes; {why}")]
    Deployments {
        /// The model.
        label: String,
        /// What does not go with them.
        why: &'static str,
    },
    /// A part of the run panicked.
    #[error("{0} panicked")]
    Panicked(&'static str),
}

/// Lists the invalid prompts skipped with `skip_invalid`; each run's scan finds them all
/// again, so the list is rewritten, not appended to.
pub(super) fn write_invalid(dir: &Path, invalid: &[InputError]) -> Result<PathBuf, JournalError> {
    let path = dir.join("invalid_inputs.jsonl");
    let io = |source| JournalError::Io {
        doing: "write",
        path: path.clone(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    for error in invalid {
        let line = serde_json::json!({
            "file": error.path.display().to_string(),
            "line": error.line,
            "index": error.index,
            "field": error.field,
            "error": error.to_string(),
        });
        writeln!(file, "{line}").map_err(io)?;
    }
    file.flush().map_err(io)?;
    Ok(path)
}

impl super::Batch {
    /// The run's report, and its summary written.
    pub(super) fn report(
        &self,
        manifest: &Manifest,
        resumed: bool,
        tally: Tally,
        ended: &[spawn::LaneRun],
    ) -> Result<Report, BatchError> {
        let mut pending_total = 0;
        let mut stopped = Vec::new();
        let mut lanes = Vec::new();
        let mut finished_items = 0;
        let mut in_flight = Vec::new();
        for (run, (model, counters)) in ended.iter().zip(self.models.iter().zip(&self.counters)) {
            let completed = counters.done.load(Ordering::Relaxed);
            let finished = completed + counters.skipped.load(Ordering::Relaxed);
            let pending = counters
                .total
                .load(Ordering::Relaxed)
                .saturating_sub(finished);
            pending_total += pending;
            finished_items += match model.batch {
                Some(_) => completed,
                None => run.finished,
            };
            in_flight.extend(run.in_flight.iter().cloned());
            let reason = run.stopped.clone();
            lanes.push(LaneReport {
                label: model.label.clone(),
                elapsed_seconds: run.elapsed.as_secs_f64(),
                // Jobs (records), not calls: samples sent as `n` share one call.
                completed,
                pending,
                stopped: reason.as_ref().map(|r| r.message.clone()),
            });
            if let Some(reason) = reason {
                stopped.push((model.label.clone(), reason));
            }
        }
        let mut summary = Summary::new(manifest, tally.finish(), &lanes);
        summary.resumed = resumed;
        let budget_exhausted = stopped
            .iter()
            .any(|(_, r)| r.kind == Some(ErrorKind::BudgetExhausted));
        summary.budget_exhausted = budget_exhausted;
        summary.write(&self.output)?;
        Ok(Report {
            summary,
            finished: finished_items,
            pending: pending_total,
            stopped,
            interrupted: self.stop.borrow().is_some(),
            budget_exhausted,
            results: self.output.join(RESULTS_FILE),
            batches_in_flight: in_flight,
        })
    }
}
