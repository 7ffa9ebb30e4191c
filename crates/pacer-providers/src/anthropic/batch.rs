//! Anthropic's Message Batches: the requests go inline with the creation (`POST
//! /v1/messages/batches`), the batch is polled, and its results are streamed back as JSONL
//! from its `results_url`. There is no file API and no metadata on a batch.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::http::{Method, Uri};
use pacer_core::{
    BatchApi, BatchEnd, BatchInput, BatchLimits, BatchLine, BatchPhase, BatchResults, BatchStatus,
    ErrorKind, ProviderError, Request, parse_rfc3339,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AnthropicProvider, classify, convert};
use crate::http;
use crate::transfer::{self, parse};

/// Where batches live, under the host root.
const BATCHES: &str = "/v1/messages/batches";

/// How far back the listing is read when a batch is looked for, before the time its
/// creation was intended: clocks differ between here and the provider.
const CLOCK_SLACK: Duration = Duration::from_secs(600);

/// A Message Batch, as far as Pacer reads it.
#[derive(Debug, Deserialize)]
struct WireBatch {
    id: String,
    processing_status: String,
    #[serde(default)]
    request_counts: WireCounts,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    cancel_initiated_at: Option<String>,
    #[serde(default)]
    results_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireCounts {
    #[serde(default)]
    processing: u64,
    #[serde(default)]
    succeeded: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    canceled: u64,
    #[serde(default)]
    expired: u64,
}

#[derive(Debug, Deserialize)]
struct WireList {
    data: Vec<WireBatch>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

/// One line of a batch's results.
#[derive(Debug, Deserialize)]
struct WireResultLine {
    custom_id: String,
    result: WireResult,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum WireResult {
    /// `message` is a Messages reply, read as a live one is.
    Succeeded {
        message: Value,
    },
    /// `error` is an error reply, `{"type": "error", "error": {type, message}}`.
    Errored {
        error: Value,
    },
    Canceled,
    Expired,
    #[serde(other)]
    Unknown,
}

impl WireCounts {
    fn total(&self) -> u64 {
        self.processing + self.succeeded + self.errored + self.canceled + self.expired
    }
}

impl WireBatch {
    fn phase(&self) -> BatchPhase {
        let counts = &self.request_counts;
        match self.processing_status.as_str() {
            "in_progress" => BatchPhase::Running,
            "canceling" => BatchPhase::Cancelling,
            "ended" if self.cancel_initiated_at.is_some() && counts.canceled > 0 => {
                BatchPhase::Ended(BatchEnd::Cancelled)
            }
            "ended" if counts.expired > 0 && counts.processing == 0 => {
                BatchPhase::Ended(BatchEnd::Expired)
            }
            "ended" => BatchPhase::Ended(BatchEnd::Completed),
            // A state newer than this table is not taken for an end: an end read too early
            // would count the lines still running as lost, and submit them again.
            _ => BatchPhase::Running,
        }
    }

    fn created(&self) -> Option<SystemTime> {
        parse_rfc3339(self.created_at.as_deref()?)
    }

    fn status(self) -> BatchStatus {
        let phase = self.phase();
        let counts = &self.request_counts;
        BatchStatus {
            total: counts.total(),
            succeeded: counts.succeeded,
            failed: counts.errored + counts.canceled + counts.expired,
            phase,
            id: self.id,
            state: self.processing_status,
        }
    }
}

/// The HTTP status a live request answered with an error of `kind` gets, so that an errored
/// line is classified as the same failure live would be.
fn live_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        // `api_error`, and types newer than this table: the server's failure.
        _ => 500,
    }
}

/// An errored line's error, classified as live. The error reply is taken whole; a bare
/// `{type, message}` is wrapped as one.
fn line_error(error: Value, key: Option<&str>) -> ProviderError {
    let reply = if error.get("error").is_some_and(Value::is_object) {
        error
    } else {
        json!({"type": "error", "error": error})
    };
    let kind = reply["error"]["type"].as_str().unwrap_or_default();
    classify::status(live_status(kind), reply.to_string().as_bytes(), key)
}

/// One results line as a result.
fn result_line(line: &[u8], key: Option<&str>) -> BatchLine {
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
    let result = match wire.result {
        WireResult::Succeeded { message } => convert::response(message.to_string().as_bytes()),
        WireResult::Errored { error } => Err(line_error(error, key)),
        WireResult::Canceled => Err(ProviderError::new(
            ErrorKind::Cancelled,
            "the batch was cancelled before the request ran",
        )),
        WireResult::Expired => Err(ProviderError::new(
            ErrorKind::Expired,
            "the batch expired before the request ran",
        )),
        WireResult::Unknown => Err(ProviderError::new(
            ErrorKind::InvalidResponse,
            "a result line of a type Pacer does not know",
        )),
    };
    BatchLine {
        custom_id: Some(wire.custom_id),
        position: None,
        result,
    }
}

/// The `line` for `custom_id` around `body`, the Messages body as the live request sends it,
/// spliced in as it is.
fn batch_line(custom_id: &str, body: &[u8]) -> Vec<u8> {
    let id = Value::from(custom_id).to_string();
    let mut line = Vec::with_capacity(body.len() + id.len() + 26);
    line.extend_from_slice(b"{\"custom_id\":");
    line.extend_from_slice(id.as_bytes());
    line.extend_from_slice(b",\"params\":");
    line.extend_from_slice(body);
    line.push(b'}');
    line
}

/// A batch's results file, read line by line.
struct Results<'a> {
    lines: transfer::Lines,
    key: Option<&'a str>,
}

#[async_trait]
impl BatchResults for Results<'_> {
    async fn next(&mut self) -> Option<Result<BatchLine, ProviderError>> {
        match self.lines.next().await {
            Ok(Some(line)) => Some(Ok(result_line(&line, self.key))),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}

impl AnthropicProvider {
    fn batch_uri(&self, path: &str) -> Result<Uri, ProviderError> {
        http::endpoint(&self.config.base_url, path)
    }

    fn classify(&self) -> impl Fn(u16, &[u8]) -> ProviderError + Send + Sync + '_ {
        move |status, body| classify::status(status, body, self.config.api_key.as_deref())
    }

    async fn batch_call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, ProviderError> {
        let uri = self.batch_uri(path)?;
        transfer::call(
            &self.client,
            method,
            &uri,
            &self.headers,
            body,
            &self.classify(),
        )
        .await
    }

    async fn batch_object(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<WireBatch, ProviderError> {
        let bytes = self.batch_call(method, path, body).await?;
        parse(&bytes, "message batch")
    }

    /// Where `batch`'s results are: its `results_url` where that is on the configured host,
    /// else the same path under the base (through a proxy, the URL names Anthropic's host,
    /// which must not get the key meant for the proxy).
    fn results_uri(&self, batch: &WireBatch) -> Result<Uri, ProviderError> {
        match batch
            .results_url
            .as_deref()
            .and_then(|url| transfer::same_origin(url, &self.url))
        {
            Some(uri) => Ok(uri),
            None => self.batch_uri(&format!("{BATCHES}/{}/results", batch.id)),
        }
    }
}

#[async_trait]
impl BatchApi for AnthropicProvider {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_requests: 100_000,
            max_bytes: 256 * 1_000_000,
        }
    }

    fn line(&self, custom_id: &str, request: &Request) -> Result<Vec<u8>, ProviderError> {
        Ok(batch_line(custom_id, &self.body(request)?))
    }

    async fn upload(&self, _lines: &Path, _name: &str) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    async fn create(&self, input: BatchInput<'_>) -> Result<BatchStatus, ProviderError> {
        // A 429 here is the queue limit: classified RateLimited, the caller waits for it.
        let body = transfer::joined_lines(input.lines, b"{\"requests\":[", b"]}").await?;
        Ok(self
            .batch_object(Method::POST, BATCHES, body)
            .await?
            .status())
    }

    async fn status(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self
            .batch_object(Method::GET, &format!("{BATCHES}/{id}"), Bytes::new())
            .await?
            .status())
    }

    async fn results<'a>(&'a self, id: &str) -> Result<Box<dyn BatchResults + 'a>, ProviderError> {
        let batch = self
            .batch_object(Method::GET, &format!("{BATCHES}/{id}"), Bytes::new())
            .await?;
        let uri = self.results_uri(&batch)?;
        let lines =
            transfer::Lines::open(&self.client, &uri, &self.headers, &self.classify()).await?;
        Ok(Box::new(Results {
            lines,
            key: self.config.api_key.as_deref(),
        }))
    }

    /// Batches carry no metadata, so the batch is found by its shape: the newest created at
    /// or after `since` (less the clock slack) with `count` requests. Another batch of the
    /// same size made in that window would match too; the caller confirms the find by the
    /// custom ids, which carry the tag, when it reads the results.
    async fn find(
        &self,
        _tag: &str,
        since: SystemTime,
        count: usize,
    ) -> Result<Vec<BatchStatus>, ProviderError> {
        let cutoff = since.checked_sub(CLOCK_SLACK).unwrap_or(UNIX_EPOCH);
        let mut after: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let path = match &after {
                Some(id) => format!("{BATCHES}?limit=100&after_id={}", transfer::query_value(id)),
                None => format!("{BATCHES}?limit=100"),
            };
            let bytes = self.batch_call(Method::GET, &path, Bytes::new()).await?;
            let list: WireList = parse(&bytes, "message batch list")?;
            after = list
                .last_id
                .clone()
                .or_else(|| list.data.last().map(|b| b.id.clone()));
            // Newest first: once the page reaches before the cutoff, nothing later matches.
            for batch in list.data {
                let Some(created) = batch.created() else {
                    continue;
                };
                if created < cutoff {
                    return Ok(found);
                }
                if batch.request_counts.total() == count as u64 {
                    found.push(batch.status());
                }
            }
            if !list.has_more || after.is_none() {
                return Ok(found);
            }
        }
    }

    async fn cancel(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self
            .batch_object(
                Method::POST,
                &format!("{BATCHES}/{id}/cancel"),
                Bytes::new(),
            )
            .await?
            .status())
    }
}

#[cfg(test)]
mod tests {
    use pacer_core::{BatchApi, BatchEnd, BatchPhase, ErrorKind, FinishReason, Request};
    use serde_json::{Value, json};

    use super::{WireBatch, batch_line, result_line};
    use crate::anthropic::{AnthropicConfig, AnthropicProvider};

    fn batch(value: Value) -> WireBatch {
        serde_json::from_value(value).unwrap()
    }

    fn counts(processing: u64, succeeded: u64, errored: u64, canceled: u64, expired: u64) -> Value {
        json!({"processing": processing, "succeeded": succeeded, "errored": errored,
               "canceled": canceled, "expired": expired})
    }

    fn wire(status: &str, counts: Value, cancelled: bool) -> Value {
        json!({
            "id": "msgbatch_01", "type": "message_batch", "processing_status": status,
            "request_counts": counts, "ended_at": null,
            "created_at": "2026-11-24T03:00:30.100435Z", "expires_at": "2026-11-25T03:00:30Z",
            "cancel_initiated_at": if cancelled { json!("2026-11-24T04:00:00Z") } else { json!(null) },
            "results_url": null
        })
    }

    #[test]
    fn processing_status_maps_to_phases_and_counts() {
        let cases = [
            (
                wire("in_progress", counts(3, 1, 0, 0, 0), false),
                BatchPhase::Running,
            ),
            (
                wire("canceling", counts(2, 2, 0, 0, 0), true),
                BatchPhase::Cancelling,
            ),
            (
                wire("ended", counts(0, 3, 1, 0, 0), false),
                BatchPhase::Ended(BatchEnd::Completed),
            ),
            (
                wire("ended", counts(0, 1, 1, 0, 2), false),
                BatchPhase::Ended(BatchEnd::Expired),
            ),
            (
                wire("ended", counts(0, 1, 0, 3, 0), true),
                BatchPhase::Ended(BatchEnd::Cancelled),
            ),
            // Cancelled after every request had run: nothing was cancelled.
            (
                wire("ended", counts(0, 4, 0, 0, 0), true),
                BatchPhase::Ended(BatchEnd::Completed),
            ),
            (
                wire("paused", counts(4, 0, 0, 0, 0), false),
                BatchPhase::Running,
            ),
        ];
        for (value, phase) in cases {
            let status = batch(value).status();
            assert_eq!(status.phase, phase, "{}", status.state);
            assert_eq!(status.id, "msgbatch_01");
            assert_eq!(status.total, 4);
        }
        let status = batch(wire("ended", counts(0, 1, 1, 1, 1), true)).status();
        assert_eq!((status.succeeded, status.failed), (1, 3));
        assert_eq!(status.state, "ended");
    }

    #[test]
    fn a_line_holds_the_live_body_under_its_custom_id() {
        let provider = AnthropicProvider::new(AnthropicConfig::new(None)).unwrap();
        let request = Request::text("claude-x", Some("Be brief."), "Hi");
        let line = provider.line("job-1_a", &request).unwrap();
        let value: Value = serde_json::from_slice(&line).unwrap();
        let live: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
        assert_eq!(value, json!({"custom_id": "job-1_a", "params": live}));
        assert_eq!(live["max_tokens"], 4096);
        assert!(!line.contains(&b'\n'));
        assert_eq!(
            batch_line("a\"b", b"{}"),
            br#"{"custom_id":"a\"b","params":{}}"#
        );
    }

    fn line(result: Value) -> Vec<u8> {
        json!({"custom_id": "j1", "result": result})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_succeeded_line_is_read_as_a_live_reply() {
        let message = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hello"}],
            "stop_reason": "max_tokens", "stop_sequence": null,
            "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3}
        });
        let got = result_line(
            &line(json!({"type": "succeeded", "message": message})),
            None,
        );
        assert_eq!(got.custom_id.as_deref(), Some("j1"));
        assert_eq!(got.position, None);
        let response = got.result.unwrap();
        assert_eq!(response.choices[0].text, "Hello");
        assert_eq!(response.choices[0].finish_reason, FinishReason::Length);
        assert_eq!(response.usage.input_tokens, 8);
        assert_eq!(response.usage.cached_input_tokens, 3);
    }

    #[test]
    fn errored_lines_are_classified_as_live_and_redacted() {
        let key = "sk-ant-api03-SECRETsecret0123";
        let errored = |kind: &str, message: &str| {
            let error = json!({"type": "error", "error": {"type": kind, "message": message}});
            result_line(&line(json!({"type": "errored", "error": error})), Some(key))
                .result
                .unwrap_err()
        };
        let cases = [
            (
                "invalid_request_error",
                "messages: field required",
                ErrorKind::BadRequest,
                400,
            ),
            (
                "invalid_request_error",
                "prompt is too long: 1 > 0",
                ErrorKind::ContextLength,
                400,
            ),
            ("api_error", "Internal server error", ErrorKind::Server, 500),
            ("overloaded_error", "Overloaded", ErrorKind::Overloaded, 529),
            ("rate_limit_error", "slow down", ErrorKind::RateLimited, 429),
            ("authentication_error", "bad key", ErrorKind::Auth, 401),
            ("billing_error", "no credit", ErrorKind::QuotaExhausted, 402),
            ("not_found_error", "model: x", ErrorKind::NotFound, 404),
            ("brand_new_error", "?", ErrorKind::Server, 500),
        ];
        for (kind, message, expected, status) in cases {
            let error = errored(kind, message);
            assert_eq!(
                (error.kind, error.status),
                (expected, Some(status)),
                "{kind}"
            );
        }
        let error = errored("invalid_request_error", &format!("bad {key}"));
        assert_eq!(
            error.message,
            "HTTP 400 invalid_request_error: bad [redacted]"
        );
        // A bare error object, without the reply around it, is read the same.
        let bare = json!({"type": "errored", "error": {"type": "api_error", "message": "x"}});
        let error = result_line(&line(bare), None).result.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Server);
    }

    #[test]
    fn lines_that_never_ran_and_unreadable_lines() {
        let kind = |result: Value| result_line(&line(result), None).result.unwrap_err().kind;
        assert_eq!(kind(json!({"type": "expired"})), ErrorKind::Expired);
        assert_eq!(kind(json!({"type": "canceled"})), ErrorKind::Cancelled);
        assert_eq!(kind(json!({"type": "later"})), ErrorKind::InvalidResponse);
        let broken = result_line(b"{\"custom_id\": ", None);
        assert_eq!(broken.custom_id, None);
        assert_eq!(broken.result.unwrap_err().kind, ErrorKind::InvalidResponse);
    }

    #[test]
    fn results_are_read_from_the_configured_host_only() {
        let provider = AnthropicProvider::new(AnthropicConfig::new(None)).unwrap();
        let mut value = wire("ended", counts(0, 1, 0, 0, 0), false);
        value["results_url"] =
            json!("https://api.anthropic.com/v1/messages/batches/msgbatch_01/results");
        let uri = provider.results_uri(&batch(value.clone())).unwrap();
        assert_eq!(
            uri.to_string(),
            "https://api.anthropic.com/v1/messages/batches/msgbatch_01/results"
        );
        let mut config = AnthropicConfig::new(None);
        config.base_url = "http://127.0.0.1:9/proxy".into();
        let proxied = AnthropicProvider::new(config).unwrap();
        let uri = proxied.results_uri(&batch(value)).unwrap();
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:9/proxy/v1/messages/batches/msgbatch_01/results"
        );
    }
}
