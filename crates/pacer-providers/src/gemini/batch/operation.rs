//! The long-running operation a batch is, as Pacer reads it, and what it says of the batch:
//! its phase and counts, and where its answers are.
//!
//! The API's shapes are read leniently: a batch's fields are taken from the operation's
//! `metadata`, else from the object itself, and counts sent as strings (int64) or numbers.

use std::time::SystemTime;

use pacer_core::{BatchEnd, BatchPhase, BatchStatus, ErrorKind, ProviderError, parse_rfc3339};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::answer::WireLine;

/// A long-running operation over a batch (what creating, getting and listing batches return).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireOperation {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: Option<WireBatch>,
    #[serde(default)]
    done: bool,
    /// A `google.rpc.Status`, on a failed operation.
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    response: Option<WireOutput>,
    /// The batch's fields where they come bare rather than in `metadata`.
    #[serde(flatten)]
    bare: WireBatch,
}

/// A `GenerateContentBatch`, as far as Pacer reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    batch_stats: Option<WireStats>,
    #[serde(default)]
    create_time: Option<String>,
    #[serde(default)]
    output: Option<WireOutput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStats {
    #[serde(default, deserialize_with = "count")]
    request_count: u64,
    #[serde(default, deserialize_with = "count")]
    successful_request_count: u64,
    #[serde(default, deserialize_with = "count")]
    failed_request_count: u64,
}

/// Where a batch's answers are.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireOutput {
    #[serde(default)]
    pub(super) responses_file: Option<String>,
    #[serde(default)]
    pub(super) inlined_responses: Option<WireInlined>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireInlined {
    #[serde(default)]
    pub(super) inlined_responses: Vec<WireLine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireList {
    #[serde(default, alias = "batches")]
    pub(super) operations: Vec<WireOperation>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}

/// An int64 count, which proto3 JSON writes as a string; a number, or nothing, is taken too.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(u64),
        Text(String),
    }
    match Option::<Count>::deserialize(deserializer)? {
        None => Ok(0),
        Some(Count::Number(n)) => Ok(n),
        Some(Count::Text(text)) => text.trim().parse().map_err(serde::de::Error::custom),
    }
}

impl WireOperation {
    /// A field of the batch: from `metadata`, else from the object itself.
    fn field<T: ?Sized>(&self, get: impl Fn(&WireBatch) -> Option<&T>) -> Option<&T> {
        self.metadata
            .as_ref()
            .and_then(&get)
            .or_else(|| get(&self.bare))
    }

    pub(super) fn display_name(&self) -> Option<&str> {
        self.field(|b| b.display_name.as_deref())
    }

    pub(super) fn created(&self) -> Option<SystemTime> {
        parse_rfc3339(self.field(|b| b.create_time.as_deref())?)
    }

    fn phase(&self, state: &str) -> BatchPhase {
        let word = state
            .strip_prefix("BATCH_STATE_")
            .or_else(|| state.strip_prefix("JOB_STATE_"))
            .unwrap_or(state);
        let failed = || {
            let message = self.error.as_ref().and_then(|e| e["message"].as_str());
            BatchEnd::Failed(message.unwrap_or("the batch failed").to_owned())
        };
        match word {
            "PENDING" | "QUEUED" => BatchPhase::Queued,
            "RUNNING" => BatchPhase::Running,
            "CANCELLING" => BatchPhase::Cancelling,
            "SUCCEEDED" => BatchPhase::Ended(BatchEnd::Completed),
            "EXPIRED" => BatchPhase::Ended(BatchEnd::Expired),
            "CANCELLED" => BatchPhase::Ended(BatchEnd::Cancelled),
            "FAILED" => BatchPhase::Ended(failed()),
            // No state, UNSPECIFIED, or one newer than this table: the operation's own `done`
            // says whether it is over.
            _ if self.done && self.error.is_some() => BatchPhase::Ended(failed()),
            _ if self.done => BatchPhase::Ended(BatchEnd::Completed),
            _ => BatchPhase::Running,
        }
    }

    pub(super) fn status(&self) -> Result<BatchStatus, ProviderError> {
        let id = self
            .name
            .as_deref()
            .or_else(|| self.field(|b| b.name.as_deref()))
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::InvalidResponse,
                    "the batch the server sent has no name",
                )
            })?;
        let state = self
            .field(|b| b.state.as_deref())
            .unwrap_or("BATCH_STATE_UNSPECIFIED");
        let stats = self.field(|b| b.batch_stats.as_ref());
        Ok(BatchStatus {
            id: id.to_owned(),
            state: state.to_owned(),
            phase: self.phase(state),
            total: stats.map_or(0, |s| s.request_count),
            succeeded: stats.map_or(0, |s| s.successful_request_count),
            failed: stats.map_or(0, |s| s.failed_request_count),
        })
    }

    /// The first of the places answers are put that holds some.
    pub(super) fn into_output(self) -> Option<WireOutput> {
        let metadata = self.metadata.and_then(|b| b.output);
        [self.response, metadata, self.bare.output]
            .into_iter()
            .flatten()
            .find(|o| o.inlined_responses.is_some() || o.responses_file.is_some())
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{BatchEnd, BatchPhase, ErrorKind};
    use serde_json::{Value, json};

    use super::{WireList, WireOperation};

    fn operation(value: Value) -> WireOperation {
        serde_json::from_value(value).unwrap()
    }

    fn wire(state: &str, done: bool) -> Value {
        json!({
            "name": "batches/123",
            "metadata": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                "model": "models/gemini-x", "displayName": "pacer-tag", "state": state,
                "batchStats": {"requestCount": "4", "successfulRequestCount": "2",
                               "failedRequestCount": 1, "pendingRequestCount": "1"},
                "createTime": "2026-11-24T03:00:30.123456789Z"
            },
            "done": done
        })
    }

    #[test]
    fn states_map_to_phases_and_counts() {
        let cases = [
            ("BATCH_STATE_PENDING", false, BatchPhase::Queued),
            ("BATCH_STATE_RUNNING", false, BatchPhase::Running),
            (
                "BATCH_STATE_SUCCEEDED",
                true,
                BatchPhase::Ended(BatchEnd::Completed),
            ),
            (
                "BATCH_STATE_EXPIRED",
                true,
                BatchPhase::Ended(BatchEnd::Expired),
            ),
            (
                "BATCH_STATE_CANCELLED",
                true,
                BatchPhase::Ended(BatchEnd::Cancelled),
            ),
            (
                "BATCH_STATE_FAILED",
                true,
                BatchPhase::Ended(BatchEnd::Failed("the batch failed".into())),
            ),
            ("JOB_STATE_RUNNING", false, BatchPhase::Running),
            ("BATCH_STATE_UNSPECIFIED", false, BatchPhase::Running),
            (
                "BATCH_STATE_UNSPECIFIED",
                true,
                BatchPhase::Ended(BatchEnd::Completed),
            ),
        ];
        for (state, done, phase) in cases {
            let status = operation(wire(state, done)).status().unwrap();
            assert_eq!(status.phase, phase, "{state}");
            assert_eq!(status.state, state);
            assert_eq!(status.id, "batches/123");
            assert_eq!((status.total, status.succeeded, status.failed), (4, 2, 1));
        }
        let mut failed = wire("BATCH_STATE_FAILED", true);
        failed["error"] = json!({"code": 3, "message": "bad input"});
        assert_eq!(
            operation(failed).status().unwrap().phase,
            BatchPhase::Ended(BatchEnd::Failed("bad input".into()))
        );
    }

    #[test]
    fn a_bare_batch_is_read_too() {
        let bare = json!({"name": "batches/9", "displayName": "t", "state": "BATCH_STATE_RUNNING",
                          "batchStats": {"requestCount": 3}});
        let op = operation(bare);
        assert_eq!(op.display_name(), Some("t"));
        let status = op.status().unwrap();
        assert_eq!((status.id.as_str(), status.total), ("batches/9", 3));
        assert_eq!(status.phase, BatchPhase::Running);
        let nameless = operation(json!({"metadata": {"state": "BATCH_STATE_RUNNING"}}));
        assert_eq!(
            nameless.status().unwrap_err().kind,
            ErrorKind::InvalidResponse
        );
        let list: WireList =
            serde_json::from_value(json!({"operations": [wire("BATCH_STATE_RUNNING", false)],
                                          "nextPageToken": "abc"}))
            .unwrap();
        assert_eq!(list.operations[0].display_name(), Some("pacer-tag"));
        assert!(list.operations[0].created().is_some());
    }

    #[test]
    fn answers_are_found_where_the_operation_puts_them() {
        let mut done = wire("BATCH_STATE_SUCCEEDED", true);
        done["response"] = json!({
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
            "inlinedResponses": {"inlinedResponses": [{"error": {"code": 500}}, {"error": {"code": 400}}]}
        });
        let output = operation(done).into_output().unwrap();
        assert_eq!(output.inlined_responses.unwrap().inlined_responses.len(), 2);
        let mut file = wire("BATCH_STATE_SUCCEEDED", true);
        file["metadata"]["output"] = json!({"responsesFile": "files/batch-1"});
        file["response"] = json!({"@type": "x"});
        let output = operation(file).into_output().unwrap();
        assert_eq!(output.responses_file.as_deref(), Some("files/batch-1"));
        assert!(
            operation(wire("BATCH_STATE_EXPIRED", true))
                .into_output()
                .is_none()
        );
    }
}
