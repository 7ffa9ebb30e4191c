//! Pacer's batch runner: prompt inputs, job expansion, the results journal and resume, the
//! budget, progress counters, the run summary and exports. [`Batch`] runs a whole batch
//! from Rust (see [`run`](crate::Batch::run) and the example in the [`run` module](mod@run)).

mod events;
mod export;
mod export_openai;
pub mod input;
mod journal;
mod manifest;
pub mod queue;
mod record;
pub mod run;
mod summary;
mod tally;

pub use events::{EVENTS_FILE, EventLine, EventLog, What, read_events};
pub use export::{ExportStats, export};
pub use export_openai::export_openai_batch;
pub use input::{Endpoint, Format, InputError, Origin, Problem, Prompt, PromptReader, Scan, scan};
pub use journal::{
    Done, Journal, JournalError, OpenMode, RESULTS_FILE, RETRIED_FAILURES_FILE, Repaired,
};
pub use manifest::{MANIFEST_FILE, Manifest, new_run_id};
pub use record::{
    Embedding, EmbeddingIndex, JobKey, Record, RecordError, RecordStatus, SendMode, TokenCounts,
    UsageTotals, sampling_params,
};
pub use run::batched::{BATCH_LINES_DIR, BATCHES_FILE, LedgerBatch, read_ledger};
pub use run::{
    Batch, BatchDeployment, BatchError, BatchModel, BatchProgress, BatchSettings, EMBEDDINGS_FILE,
    EmbedSettings, LaneCounters, Notice, Pack, PackLimits, Packer, Report, Stopper, job_request,
    text_tokens,
};
pub use summary::{LaneReport, ModelSummary, ModelTotals, SUMMARY_FILE, Summary, Totals, table};
pub use tally::{Tally, summarize};
