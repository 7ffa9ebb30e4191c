//! The Batch API's wire shapes as Pacer reads them: the batch object, its errors and
//! counts, the listing, and one line of an output or error file turned into a result.

use pacer_core::{BatchEnd, BatchLine, BatchPhase, BatchStatus, ErrorKind, ProviderError};
use serde::Deserialize;
use serde_json::Value;

use super::route::Route;
use super::{Api, classify};
use crate::transfer::parse;

/// The metadata key that carries Pacer's tag on a batch.
pub(super) const TAG_KEY: &str = "pacer_tag";

/// A batch object, as far as Pacer reads it.
#[derive(Debug, Deserialize)]
pub(super) struct WireBatch {
    pub(super) id: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) created_at: u64,
    #[serde(default)]
    pub(super) output_file_id: Option<String>,
    #[serde(default)]
    pub(super) error_file_id: Option<String>,
    #[serde(default)]
    pub(super) errors: Option<WireErrors>,
    #[serde(default)]
    pub(super) request_counts: Option<WireCounts>,
    #[serde(default)]
    pub(super) metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireErrors {
    #[serde(default)]
    pub(super) data: Vec<WireError>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireError {
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct WireCounts {
    #[serde(default)]
    pub(super) total: u64,
    #[serde(default)]
    pub(super) completed: u64,
    #[serde(default)]
    pub(super) failed: u64,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireList {
    pub(super) data: Vec<WireBatch>,
    #[serde(default)]
    pub(super) has_more: bool,
}

/// One line of an output or error file.
#[derive(Debug, Deserialize)]
pub(super) struct WireResultLine {
    pub(super) custom_id: String,
    #[serde(default)]
    pub(super) response: Option<WireLineResponse>,
    #[serde(default)]
    pub(super) error: Option<WireError>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireLineResponse {
    pub(super) status_code: u16,
    #[serde(default)]
    pub(super) body: Value,
}

impl WireBatch {
    pub(super) fn status(self) -> BatchStatus {
        let counts = self.request_counts.unwrap_or_default();
        let phase = match self.status.as_str() {
            "validating" => BatchPhase::Queued,
            "in_progress" | "finalizing" => BatchPhase::Running,
            "cancelling" => BatchPhase::Cancelling,
            "completed" => BatchPhase::Ended(BatchEnd::Completed),
            "expired" => BatchPhase::Ended(BatchEnd::Expired),
            "cancelled" => BatchPhase::Ended(BatchEnd::Cancelled),
            "failed" => BatchPhase::Ended(failure(self.errors.as_ref())),
            // A state this client does not know yet: still running, polled again.
            _ => BatchPhase::Running,
        };
        BatchStatus {
            id: self.id,
            state: self.status,
            phase,
            total: counts.total,
            succeeded: counts.completed,
            failed: counts.failed,
        }
    }

    pub(super) fn tag(&self) -> Option<&str> {
        self.metadata.as_ref()?.get(TAG_KEY)?.as_str()
    }
}

/// How a `failed` batch ended: refused for the enqueued-token limit, or failed.
pub(super) fn failure(errors: Option<&WireErrors>) -> BatchEnd {
    let errors = errors.map(|e| e.data.as_slice()).unwrap_or_default();
    let message = errors
        .iter()
        .filter_map(|e| e.message.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let message = if message.is_empty() {
        "the batch failed".to_owned()
    } else {
        message
    };
    if errors
        .iter()
        .any(|e| e.code.as_deref() == Some("token_limit_exceeded"))
    {
        BatchEnd::Refused(message)
    } else {
        BatchEnd::Failed(message)
    }
}

/// One output- or error-file line as a result.
pub(super) fn result_line(line: &[u8], api: Api, key: Option<&str>) -> BatchLine {
    let wire: WireResultLine = match parse(line, "result line") {
        Ok(wire) => wire,
        Err(error) => {
            return BatchLine {
                custom_id: None,
                position: None,
                result: Err(error),
            };
        }
    };
    let result = match (wire.response, wire.error) {
        (Some(response), _) if (200..300).contains(&response.status_code) => {
            // The body names its endpoint: an embeddings lane's lines are no completions.
            let route = Route::of_reply(&response.body, Route::of_api(api));
            route.read(response.body.to_string().as_bytes(), None)
        }
        (Some(response), _) => Err(classify::status(
            response.status_code,
            response.body.to_string().as_bytes(),
            key,
        )),
        (None, Some(error)) => Err(line_error(&error)),
        (None, None) => Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "a result line held neither a response nor an error",
        )),
    };
    BatchLine {
        custom_id: Some(wire.custom_id),
        position: None,
        result,
    }
}

/// An error-file line's error: expired and cancelled lines never ran.
pub(super) fn line_error(error: &WireError) -> ProviderError {
    let kind = match error.code.as_deref() {
        Some("batch_expired") => ErrorKind::Expired,
        Some("batch_cancelled") => ErrorKind::Cancelled,
        _ => ErrorKind::BadRequest,
    };
    let message = error.message.clone().unwrap_or_else(|| {
        format!(
            "the batch API refused the line ({})",
            error.code.as_deref().unwrap_or("no code")
        )
    });
    ProviderError::new(kind, message)
}
