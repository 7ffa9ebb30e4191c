//! The providers' batch APIs (OpenAI's Batch API, Anthropic's Message Batches, Gemini's batch
//! mode): the same requests at half the price, answered within a day instead of a minute.
//!
//! A [`BatchApi`] turns requests into the lines of a batch input, submits a file of such
//! lines as one batch, reports its status, streams its results back and finds a batch again
//! by the tag it was created with. Pacer's batch runner does the rest: splitting, the
//! journal that never submits a job twice, retries and records.

use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::{ProviderError, Request, Response};

/// How large one batch may be at a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Requests in one batch.
    pub max_requests: usize,
    /// Bytes of one batch's input (the lines as [`BatchApi::line`] writes them, newlines
    /// included).
    pub max_bytes: u64,
}

/// Where a batch is in its life at the provider.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchPhase {
    /// Accepted, not started (OpenAI's `validating`, Gemini's `PENDING`).
    Queued,
    /// Running (`in_progress`, `finalizing`, `RUNNING`).
    Running,
    /// Being cancelled (`cancelling`, `canceling`).
    Cancelling,
    /// Over: its results can be read (what did not run is reported per line).
    Ended(BatchEnd),
}

/// How a batch ended.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchEnd {
    /// Every line ran (each may still have failed on its own).
    Completed,
    /// The completion window passed: lines not run come back expired.
    Expired,
    /// Cancelled: lines not run come back cancelled.
    Cancelled,
    /// Refused for the provider's queue limit (OpenAI's enqueued-token limit): nothing ran,
    /// nothing is billed; the same lines may be submitted again once earlier batches end.
    Refused(String),
    /// Failed as a whole (an invalid input file, say): nothing ran.
    Failed(String),
}

/// What the provider says of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStatus {
    /// The provider's id of the batch (`batch_…`, `msgbatch_…`, `batches/…`).
    pub id: String,
    /// The provider's own word for its state (`in_progress`, `BATCH_STATE_RUNNING`, …), for
    /// display.
    pub state: String,
    /// Where it is.
    pub phase: BatchPhase,
    /// Requests in it.
    pub total: u64,
    /// Requests answered so far.
    pub succeeded: u64,
    /// Requests failed so far (expired and cancelled ones included where counted).
    pub failed: u64,
}

impl BatchStatus {
    /// Whether the batch is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, BatchPhase::Ended(_))
    }
}

/// One line of a batch's results.
#[derive(Debug)]
pub struct BatchLine {
    /// The `custom_id` the line was submitted with; `None` where the provider returns
    /// results in input order without it (Gemini's inline responses).
    pub custom_id: Option<String>,
    /// The line's position in the input, where the provider keeps the order.
    pub position: Option<usize>,
    /// The answer, or why the line failed ([`ErrorKind::Expired`](crate::ErrorKind::Expired)
    /// when it never ran, [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) when it was
    /// cancelled).
    pub result: Result<Response, ProviderError>,
}

/// An ended batch's results, pulled one line at a time.
#[async_trait]
pub trait BatchResults: Send {
    /// The next line; `None` after the last. An error ends the reading (a download cut
    /// short): the lines not read yet are read again by a later call to
    /// [`BatchApi::results`].
    async fn next(&mut self) -> Option<Result<BatchLine, ProviderError>>;
}

/// What a batch is created from.
#[derive(Clone, Copy, Debug)]
pub struct BatchInput<'a> {
    /// The model every line asks.
    pub model: &'a str,
    /// The tag the batch carries at the provider (in its metadata or display name), by which
    /// [`BatchApi::find`] finds it again.
    pub tag: &'a str,
    /// The lines, one per request, as [`BatchApi::line`] wrote them.
    pub lines: &'a Path,
    /// How many lines.
    pub count: usize,
    /// What [`BatchApi::upload`] returned for these lines, if anything.
    pub uploaded: Option<&'a str>,
}

/// A provider's batch API.
#[async_trait]
pub trait BatchApi: Send + Sync {
    /// How large one batch may be.
    fn limits(&self) -> BatchLimits;

    /// The batch-input line (without its newline) that asks `request` under `custom_id`.
    fn line(&self, custom_id: &str, request: &Request) -> Result<Vec<u8>, ProviderError>;

    /// Uploads the lines as a file where the provider takes one (OpenAI: its file id);
    /// `None` where the lines go with the creation itself.
    async fn upload(&self, lines: &Path, name: &str) -> Result<Option<String>, ProviderError>;

    /// Creates the batch. A refusal for the provider's queue limit is an `Ok` status
    /// ended as [`BatchEnd::Refused`] (or a [`RateLimited`](crate::ErrorKind::RateLimited)
    /// error, where the provider says so with a 429).
    async fn create(&self, input: BatchInput<'_>) -> Result<BatchStatus, ProviderError>;

    /// The batch's status now.
    async fn status(&self, id: &str) -> Result<BatchStatus, ProviderError>;

    /// An ended batch's results, read line by line as they are pulled, in the provider's
    /// order: a result file is never held whole in memory.
    async fn results<'a>(&'a self, id: &str) -> Result<Box<dyn BatchResults + 'a>, ProviderError>;

    /// The batches that may be the one created with `tag` (at or after `since`, with
    /// `count` lines), newest first: how a batch whose creation's reply was lost is found
    /// again. A provider that keeps the tag returns the batches carrying it; one that keeps
    /// none, those of the same size created since (the caller leaves out those it knows).
    async fn find(
        &self,
        tag: &str,
        since: SystemTime,
        count: usize,
    ) -> Result<Vec<BatchStatus>, ProviderError>;

    /// Asks the provider to cancel the batch; returns its status after the request.
    async fn cancel(&self, id: &str) -> Result<BatchStatus, ProviderError>;
}
