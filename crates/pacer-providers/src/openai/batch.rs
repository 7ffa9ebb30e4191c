//! OpenAI's Batch API: a JSONL file uploaded with `purpose = batch`, `POST /batches` over
//! it, polled, and its output and error files streamed back line by line.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::http::{Method, Uri};
use pacer_core::{
    BatchApi, BatchEnd, BatchInput, BatchLimits, BatchLine, BatchPhase, BatchResults, BatchStatus,
    ErrorKind, ProviderError, Request,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, OpenAiProvider, classify, convert};
use crate::transfer::parse;
use crate::{http, transfer};

/// The metadata key that carries Pacer's tag on a batch.
const TAG_KEY: &str = "pacer_tag";

/// How far back the listing is read when a batch is looked for, before the time its
/// creation was intended: clocks differ between here and the provider.
const CLOCK_SLACK: Duration = Duration::from_secs(600);

/// A batch object, as far as Pacer reads it.
#[derive(Debug, Deserialize)]
struct WireBatch {
    id: String,
    status: String,
    #[serde(default)]
    created_at: u64,
    #[serde(default)]
    output_file_id: Option<String>,
    #[serde(default)]
    error_file_id: Option<String>,
    #[serde(default)]
    errors: Option<WireErrors>,
    #[serde(default)]
    request_counts: Option<WireCounts>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireErrors {
    #[serde(default)]
    data: Vec<WireError>,
}

#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireCounts {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    completed: u64,
    #[serde(default)]
    failed: u64,
}

#[derive(Debug, Deserialize)]
struct WireList {
    data: Vec<WireBatch>,
    #[serde(default)]
    has_more: bool,
}

/// One line of an output or error file.
#[derive(Debug, Deserialize)]
struct WireResultLine {
    custom_id: String,
    #[serde(default)]
    response: Option<WireLineResponse>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Debug, Deserialize)]
struct WireLineResponse {
    status_code: u16,
    #[serde(default)]
    body: Value,
}

impl WireBatch {
    fn status(self) -> BatchStatus {
        let counts = self.request_counts.unwrap_or_default();
        let phase = match self.status.as_str() {
            "validating" => BatchPhase::Queued,
            "in_progress" | "finalizing" => BatchPhase::Running,
            "cancelling" => BatchPhase::Cancelling,
            "completed" => BatchPhase::Ended(BatchEnd::Completed),
            "expired" => BatchPhase::Ended(BatchEnd::Expired),
            "cancelled" => BatchPhase::Ended(BatchEnd::Cancelled),
            _ => BatchPhase::Ended(failure(self.errors.as_ref())),
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

    fn tag(&self) -> Option<&str> {
        self.metadata.as_ref()?.get(TAG_KEY)?.as_str()
    }
}

/// How a `failed` batch ended: refused for the enqueued-token limit, or failed.
fn failure(errors: Option<&WireErrors>) -> BatchEnd {
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

impl OpenAiProvider {
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
        body: Option<Value>,
    ) -> Result<Bytes, ProviderError> {
        let uri = self.batch_uri(path)?;
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
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
        body: Option<Value>,
    ) -> Result<WireBatch, ProviderError> {
        let bytes = self.batch_call(method, path, body).await?;
        parse(&bytes, "batch")
    }

    /// The lines of the file `id`, as they download.
    async fn file_lines(&self, id: &str) -> Result<transfer::Lines, ProviderError> {
        let uri = self.batch_uri(&format!("/files/{id}/content"))?;
        transfer::Lines::open(&self.client, &uri, &self.headers, &self.classify()).await
    }
}

/// A batch's output file, then its error file, read line by line.
struct Results<'a> {
    provider: &'a OpenAiProvider,
    files: Vec<String>,
    current: Option<transfer::Lines>,
}

#[async_trait]
impl BatchResults for Results<'_> {
    async fn next(&mut self) -> Option<Result<BatchLine, ProviderError>> {
        loop {
            let lines = match &mut self.current {
                Some(lines) => lines,
                None => {
                    let file = self.files.pop()?;
                    match self.provider.file_lines(&file).await {
                        Ok(lines) => self.current.insert(lines),
                        Err(error) => return Some(Err(error)),
                    }
                }
            };
            match lines.next().await {
                Ok(Some(line)) => {
                    let config = &self.provider.config;
                    return Some(Ok(result_line(
                        &line,
                        config.api,
                        config.api_key.as_deref(),
                    )));
                }
                Ok(None) => self.current = None,
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// One output- or error-file line as a result.
fn result_line(line: &[u8], api: Api, key: Option<&str>) -> BatchLine {
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
            let body = response.body.to_string();
            match api {
                Api::Chat => convert::chat_response(body.as_bytes()),
                Api::Completions => convert::completion_response(body.as_bytes()),
            }
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
fn line_error(error: &WireError) -> ProviderError {
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

#[async_trait]
impl BatchApi for OpenAiProvider {
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_requests: 50_000,
            max_bytes: 200 * 1_000_000,
        }
    }

    fn line(&self, custom_id: &str, request: &Request) -> Result<Vec<u8>, ProviderError> {
        let body: Value = serde_json::from_slice(&self.body(request)?).map_err(|e| {
            ProviderError::new(ErrorKind::BadRequest, format!("cannot encode: {e}"))
        })?;
        let url = match self.config.api {
            Api::Chat => "/v1/chat/completions",
            Api::Completions => "/v1/completions",
        };
        let line = json!({"custom_id": custom_id, "method": "POST", "url": url, "body": body});
        Ok(line.to_string().into_bytes())
    }

    async fn upload(&self, lines: &Path, name: &str) -> Result<Option<String>, ProviderError> {
        let file = tokio::fs::read(lines).await.map_err(|e| {
            ProviderError::new(
                ErrorKind::Config,
                format!("cannot read the batch file {}: {e}", lines.display()),
            )
        })?;
        let (body, content_type) =
            transfer::multipart(&[("purpose", "batch")], "file", name, &file);
        drop(file);
        let headers = transfer::with_content_type(&self.headers, content_type);
        let uri = self.batch_uri("/files")?;
        let reply = transfer::call(
            &self.client,
            Method::POST,
            &uri,
            &headers,
            body,
            &self.classify(),
        )
        .await?;
        #[derive(Deserialize)]
        struct Uploaded {
            id: String,
        }
        let uploaded: Uploaded = parse(&reply, "file")?;
        Ok(Some(uploaded.id))
    }

    async fn create(&self, input: BatchInput<'_>) -> Result<BatchStatus, ProviderError> {
        let Some(file) = input.uploaded else {
            return Err(ProviderError::new(
                ErrorKind::Config,
                "an OpenAI batch needs its file uploaded first",
            ));
        };
        let endpoint = match self.config.api {
            Api::Chat => "/v1/chat/completions",
            Api::Completions => "/v1/completions",
        };
        let body = json!({
            "input_file_id": file,
            "endpoint": endpoint,
            "completion_window": "24h",
            "metadata": {TAG_KEY: input.tag, "pacer_model": input.model},
        });
        Ok(self
            .batch_object(Method::POST, "/batches", Some(body))
            .await?
            .status())
    }

    async fn status(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self
            .batch_object(Method::GET, &format!("/batches/{id}"), None)
            .await?
            .status())
    }

    async fn results<'a>(&'a self, id: &str) -> Result<Box<dyn BatchResults + 'a>, ProviderError> {
        let batch = self
            .batch_object(Method::GET, &format!("/batches/{id}"), None)
            .await?;
        // Popped from the end: the output file first, then the error file.
        let files = [batch.error_file_id, batch.output_file_id]
            .into_iter()
            .flatten()
            .collect();
        Ok(Box::new(Results {
            provider: self,
            files,
            current: None,
        }))
    }

    async fn find(
        &self,
        tag: &str,
        since: SystemTime,
        _count: usize,
    ) -> Result<Vec<BatchStatus>, ProviderError> {
        let since = since
            .checked_sub(CLOCK_SLACK)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut after: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let path = match &after {
                Some(id) => format!("/batches?limit=100&after={id}"),
                None => "/batches?limit=100".to_owned(),
            };
            let bytes = self.batch_call(Method::GET, &path, None).await?;
            let list: WireList = parse(&bytes, "batch list")?;
            let older = list.data.iter().any(|b| b.created_at < since);
            after = list.data.last().map(|b| b.id.clone());
            found.extend(
                list.data
                    .into_iter()
                    .filter(|b| b.tag() == Some(tag))
                    .map(WireBatch::status),
            );
            // Newest first: once the page reaches before `since`, nothing later matches.
            if !list.has_more || older || after.is_none() {
                return Ok(found);
            }
        }
    }

    async fn cancel(&self, id: &str) -> Result<BatchStatus, ProviderError> {
        Ok(self
            .batch_object(Method::POST, &format!("/batches/{id}/cancel"), None)
            .await?
            .status())
    }
}
